"""Input validation shared by the ranking metrics, run before any work starts."""


import numpy as np

from skreid.utils import check_labels, check_positive_int  # noqa: F401 (re-exported)

AP_MODES = ("non_interpolated", "trapezoid")


def check_ap_mode(ap_mode):
    if ap_mode not in AP_MODES:
        raise ValueError(f"ap_mode must be one of {AP_MODES}, got {ap_mode!r}.")
    return ap_mode


def check_comparable(a, b, name_a, name_b):
    """Labels on both sides must be both numbers or both strings to be matched."""
    if (a.dtype.kind in "US") != (b.dtype.kind in "US"):
        raise ValueError(
            f"{name_a} ({a.dtype}) and {name_b} ({b.dtype}) cannot be compared: use numbers on "
            "both sides or strings on both sides."
        )


def check_camera_pair(query_cameras, gallery_cameras, n_query, n_gallery):
    """Both camera arrays or neither: the Market-1501 rule needs the camera of both sides."""
    if (query_cameras is None) != (gallery_cameras is None):
        given, missing = (
            ("query_cameras", "gallery_cameras")
            if gallery_cameras is None
            else ("gallery_cameras", "query_cameras")
        )
        raise ValueError(
            f"{given} was given but {missing} is None: pass cameras for both the queries and "
            "the gallery, or for neither."
        )
    if query_cameras is None:
        return None, None
    query_cameras = check_labels(query_cameras, "query_cameras", n_query, "the query set")
    gallery_cameras = check_labels(gallery_cameras, "gallery_cameras", n_gallery, "the gallery")
    check_comparable(query_cameras, gallery_cameras, "query_cameras", "gallery_cameras")
    return query_cameras, gallery_cameras


def check_distances(distances, chunk_size, name="distances"):
    """Return a 2-D float distance matrix with finite entries (checked chunk by chunk so the
    check itself never allocates a second full-size matrix)."""
    if hasattr(distances, "toarray"):
        raise ValueError(f"{name} is a sparse matrix; pass a dense array.")
    try:
        distances = np.asarray(distances)
    except Exception as exc:
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if distances.dtype == object or not (
        np.issubdtype(distances.dtype, np.number) or distances.dtype == bool
    ):
        raise ValueError(f"{name} must hold numbers, got dtype {distances.dtype}.")
    if distances.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_queries, n_gallery), got an array of shape {distances.shape}."
        )
    if distances.shape[0] == 0:
        raise ValueError(f"{name} has no rows: the query set is empty.")
    if distances.shape[1] == 0:
        raise ValueError(f"{name} has no columns: the gallery is empty.")
    if not np.issubdtype(distances.dtype, np.floating):
        distances = distances.astype(np.float64)
    for start in range(0, distances.shape[0], chunk_size):
        if not np.isfinite(distances[start : start + chunk_size]).all():
            raise ValueError(
                f"{name} contains NaN or infinite values (first in rows "
                f"{start}..{min(start + chunk_size, distances.shape[0]) - 1})."
            )
    return distances
