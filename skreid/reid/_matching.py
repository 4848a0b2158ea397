"""The entries a re-ID estimator ranks: images or pooled tracklets, camera-normalised or not.

Helpers of :class:`skreid.reid.ReIDMixin` (they take arrays and return arrays; the mixin sets
its own fitted state): the gallery side at ``set_gallery``, the query side at every query
method, and the camera codes the exclusion masks compare.
"""

import numpy as np
from sklearn.utils.validation import column_or_1d

from skreid.metrics.pairwise import (
    CameraStatistics,
    check_camera_normalization,
    check_tracklets,
    pool_tracklets,
    tracklet_values,
)
from skreid.utils import check_labels

__all__ = ["gallery_entries", "query_entries", "camera_codes", "camera_rule", "check_query_labels"]


def check_query_labels(values, name, n):
    """``values`` (cameras or identities of the queries) as a 1-D array of length ``n``."""
    if values is None:
        return None
    return check_labels(column_or_1d(np.asarray(values)), name, n, "X")


def _pool(embeddings, tracklets, ids, cameras):
    tracklets = check_tracklets(tracklets, len(embeddings), "tracklets", "X")
    pooled, tracklet_ids, _ = pool_tracklets(embeddings, tracklets)
    if ids is not None:
        ids = tracklet_values(ids, tracklets, "identity")
    if cameras is not None:
        cameras = tracklet_values(cameras, tracklets, "camera")
    return pooled.astype(np.float32, copy=False), tracklet_ids, ids, cameras


def gallery_entries(embeddings, y, cameras, tracklets, camera_normalization):
    """Pool the gallery's tracklets and fit/apply the camera statistics.

    Returns ``(embeddings, y, cameras, tracklet_ids, statistics)``: ``tracklet_ids`` and
    ``statistics`` (a :meth:`CameraStatistics.to_dict`) are None when not asked for.
    """
    mode = check_camera_normalization(camera_normalization)
    tracklet_ids = None
    if tracklets is not None:
        embeddings, tracklet_ids, y, cameras = _pool(embeddings, tracklets, y, cameras)
    if mode is None:
        return embeddings, y, cameras, tracklet_ids, None
    # without cameras every image is "unknown": the global statistics only
    fit_cameras = np.full(len(embeddings), -1) if cameras is None else cameras
    stats = CameraStatistics(mode).fit(embeddings, fit_cameras)
    embeddings = stats.transform(embeddings, fit_cameras).astype(np.float32, copy=False)
    return embeddings, y, cameras, tracklet_ids, stats.to_dict()


def query_entries(queries, cameras, tracklets, y, statistics, camera_normalization):
    """The queries as the gallery was built: pooled per tracklet, camera-normalised.

    Returns ``(queries, cameras, y)``, one row per query image, or per tracklet (in sorted
    tracklet order) when ``tracklets`` is given. ``camera_normalization`` (the estimator's
    parameter) must still be the mode of the gallery's ``statistics``.
    """
    mode = check_camera_normalization(camera_normalization)
    if mode != (statistics and statistics["mode"]):
        raise ValueError(
            f"camera_normalization was changed to {mode!r} after the gallery was indexed with "
            f"{statistics and statistics['mode']!r}; call set_gallery (or fit) again.")
    n = len(queries)
    cameras = check_query_labels(cameras, "cameras", n)
    y = check_query_labels(y, "y", n)
    if tracklets is not None:
        queries, _, y, cameras = _pool(queries, tracklets, y, cameras)
    if statistics is not None:
        stats = CameraStatistics.from_dict(statistics)
        queries = stats._transform(queries, cameras, "cameras", stacklevel=6)
    return queries, cameras, y


def camera_codes(gallery_cameras, query_cameras):
    """Integer camera codes for :class:`skreid.search.GalleryIndex`'s exclusion (which takes
    int cameras, -1 unknown): equal codes mean the same camera; a query camera the gallery
    never saw gets a code no gallery item has; camera -1 stays unknown (never excluded)."""
    unique, gallery_codes = np.unique(gallery_cameras, return_inverse=True)
    pos = np.minimum(np.searchsorted(unique, query_cameras), len(unique) - 1)
    query_codes = np.where(unique[pos] == query_cameras, pos, len(unique))
    if gallery_cameras.dtype.kind in "iu":
        gallery_codes = np.where(gallery_cameras == -1, -1, gallery_codes)
    if query_cameras.dtype.kind in "iu":
        query_codes = np.where(query_cameras == -1, -1, query_codes)
    return gallery_codes.astype(np.int64), query_codes.astype(np.int64)


def camera_rule(gallery_cameras, gallery_ids, query_cameras, query_ids=None, *,
                exclude_same_camera=True):
    """``exclude(rows, cols)``: the (query, gallery entry) pairs of the same camera (and, with
    ``query_ids``, of the same identity: the Market-1501 rule), or None without query cameras
    or with ``exclude_same_camera=False``.

    ``exclude.codes`` holds the ``(gallery, query)`` integer camera codes (:func:`camera_codes`).
    """
    if exclude_same_camera and query_cameras is None and query_ids is None:
        raise ValueError("exclude_same_camera=True needs the queries' cameras= (which camera "
                         "each query image comes from).")
    if query_cameras is None or not exclude_same_camera:
        return None
    if gallery_cameras is None:
        raise ValueError("cameras were given for the queries but the gallery has none: call "
                         "set_gallery(X, y, cameras=...) first.")
    if (query_cameras.dtype.kind in "US") != (gallery_cameras.dtype.kind in "US"):
        raise ValueError(f"cameras ({query_cameras.dtype}) cannot be compared with the "
                         f"gallery's cameras ({gallery_cameras.dtype}): use numbers on both "
                         "sides or strings on both sides.")
    gallery, query = camera_codes(gallery_cameras, query_cameras)

    def exclude(rows, cols):
        mask = (query[rows, None] == gallery[None, cols]) & (gallery[None, cols] >= 0)
        if query_ids is not None:
            mask &= query_ids[rows, None] == gallery_ids[None, cols]
        return mask

    exclude.codes = gallery, query
    return exclude
