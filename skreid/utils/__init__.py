"""Shared helpers for skreid: input validation (images, labels, feature matrices, the luma
weights of grayscale conversion), estimator discovery (:func:`all_estimators`) and the safe
archive format."""

from skreid.utils._archive import (
    SafeArchive,
    UnsafeArchiveError,
    atomic_write,
    read_archive,
    write_archive,
)
from skreid.utils._discovery import all_estimators
from skreid.utils._validation import (
    LUMA_WEIGHTS,
    MAX_BATCH_BYTES,
    PixelScaleWarning,
    check_batch_memory,
    check_features,
    check_image_input,
    check_image_size,
    check_images,
    check_labels,
    check_positive_int,
    check_weights,
    match_pixel_range,
    nested_validation_skipped,
    pixel_range,
    skip_nested_validation,
)

__all__ = [
    "all_estimators",
    "check_features",
    "check_images",
    "check_image_input",
    "check_image_size",
    "check_labels",
    "check_positive_int",
    "check_weights",
    "check_batch_memory",
    "pixel_range",
    "skip_nested_validation",
    "nested_validation_skipped",
    "match_pixel_range",
    "PixelScaleWarning",
    "MAX_BATCH_BYTES",
    "LUMA_WEIGHTS",
    "SafeArchive",
    "UnsafeArchiveError",
    "atomic_write",
    "read_archive",
    "write_archive",
]
