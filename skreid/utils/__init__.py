"""Shared input validation for image estimators (private helpers, re-exported for skreid)."""

from skreid.utils._validation import check_image_size, check_images

__all__ = ["check_images", "check_image_size"]
