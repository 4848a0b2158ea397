"""Shared helpers for skreid: input validation (images, labels, feature matrices, the luma
weights of grayscale conversion), estimator discovery (:func:`all_estimators`), the safe
archive format and safe file writing (atomic, one writer at a time, no debris), renamed
estimator parameters (:func:`renamed_param`)."""

from skreid.utils._archive import (
    SafeArchive,
    UnsafeArchiveError,
    archive_kind,
    check_replaceable,
    read_archive,
    write_archive,
)
from skreid.utils._deprecation import DEPRECATED, migrate_renamed_params, renamed_param
from skreid.utils._discovery import all_estimators
from skreid.utils._files import (
    DEFAULT_LOCK_TIMEOUT,
    FileLockedError,
    atomic_write,
    lock_path,
    open_regular,
    remove_stale_temporaries,
    writer_lock,
)
from skreid.utils._maps import resize_bilinear
from skreid.utils._npy import load_npy_bytes
from skreid.utils._pixels import (
    PixelScaleWarning,
    apply_pixel_rule,
    check_image_input,
    match_pixel_range,
    pixel_range,
)
from skreid.utils._validation import (
    LUMA_WEIGHTS,
    MAX_BATCH_BYTES,
    check_batch_memory,
    check_features,
    check_finite,
    check_image_size,
    check_images,
    check_labels,
    check_positive_int,
    check_positive_number,
    check_weights,
    nested_validation_skipped,
    skip_nested_validation,
)

__all__ = [
    "DEPRECATED",
    "all_estimators",
    "migrate_renamed_params",
    "renamed_param",
    "check_features",
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
    "skip_nested_validation",
    "nested_validation_skipped",
    "match_pixel_range",
    "PixelScaleWarning",
    "MAX_BATCH_BYTES",
    "LUMA_WEIGHTS",
    "SafeArchive",
    "UnsafeArchiveError",
    "archive_kind",
    "check_replaceable",
    "atomic_write",
    "read_archive",
    "write_archive",
    "DEFAULT_LOCK_TIMEOUT",
    "FileLockedError",
    "lock_path",
    "load_npy_bytes",
    "open_regular",
    "remove_stale_temporaries",
    "writer_lock",
    "resize_bilinear",
]
