"""Shared helpers for skreid: input validation, estimator discovery (:func:`all_estimators`)
and the safe archive format."""

from skreid.utils._archive import (
    SafeArchive,
    UnsafeArchiveError,
    atomic_write,
    read_archive,
    write_archive,
)
from skreid.utils._discovery import all_estimators
from skreid.utils._validation import (
    MAX_BATCH_BYTES,
    PixelScaleWarning,
    apply_pixel_rule,
    check_batch_memory,
    check_finite,
    check_image_input,
    check_image_size,
    check_images,
    check_labels,
    check_positive_int,
    check_positive_number,
    check_weights,
    match_pixel_range,
    pixel_range,
)

__all__ = [
    "all_estimators",
    "check_images",
    "check_image_input",
    "check_image_size",
    "check_labels",
    "check_positive_int",
    "check_finite",
    "check_positive_number",
    "check_weights",
    "check_batch_memory",
    "pixel_range",
    "apply_pixel_rule",
    "match_pixel_range",
    "PixelScaleWarning",
    "MAX_BATCH_BYTES",
    "SafeArchive",
    "UnsafeArchiveError",
    "atomic_write",
    "read_archive",
    "write_archive",
]
