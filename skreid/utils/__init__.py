"""Shared helpers for skreid: input validation and the safe archive format (private helpers,
re-exported for skreid)."""

from skreid.utils._archive import (
    SafeArchive,
    UnsafeArchiveError,
    atomic_write,
    read_archive,
    write_archive,
)
from skreid.utils._validation import (
    MAX_BATCH_BYTES,
    PixelScaleWarning,
    check_batch_memory,
    check_image_size,
    check_images,
    match_pixel_range,
    pixel_range,
)

__all__ = [
    "check_images",
    "check_image_size",
    "check_batch_memory",
    "pixel_range",
    "match_pixel_range",
    "PixelScaleWarning",
    "MAX_BATCH_BYTES",
    "SafeArchive",
    "UnsafeArchiveError",
    "atomic_write",
    "read_archive",
    "write_archive",
]
