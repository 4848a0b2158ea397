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
    check_image_input,
    check_image_size,
    check_images,
    check_labels,
    check_positive_int,
    check_weights,
)

__all__ = [
    "all_estimators",
    "check_images",
    "check_image_input",
    "check_image_size",
    "check_labels",
    "check_positive_int",
    "check_weights",
    "SafeArchive",
    "UnsafeArchiveError",
    "atomic_write",
    "read_archive",
    "write_archive",
]
