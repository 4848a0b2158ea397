"""Shared helpers for skreid: input validation and the safe archive format (private helpers,
re-exported for skreid)."""

from skreid.utils._archive import (
    SafeArchive,
    UnsafeArchiveError,
    atomic_write,
    read_archive,
    write_archive,
)
from skreid.utils._validation import check_image_size, check_images

__all__ = [
    "check_images",
    "check_image_size",
    "SafeArchive",
    "UnsafeArchiveError",
    "atomic_write",
    "read_archive",
    "write_archive",
]
