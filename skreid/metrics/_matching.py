"""What :func:`skreid.metrics.evaluate_reid` ranks: images, or tracklets pooled from them,
camera-normalised or not. Run after the features and labels are checked, before query
expansion and re-ranking."""

import numpy as np

from skreid.metrics.pairwise import (
    CameraStatistics,
    check_camera_normalization,
    check_tracklet_pooling,
    check_tracklets,
    pool_tracklets,
    tracklet_values,
)


def check_matching_options(camera_normalization, query_tracklets, gallery_tracklets,
                           tracklet_pooling, metric):
    """Validate the options before any work; refuse them with a distance matrix."""
    camera_normalization = check_camera_normalization(camera_normalization, fitted=True)
    check_tracklet_pooling(tracklet_pooling)
    if metric == "precomputed":
        for name, value in (("camera_normalization", camera_normalization),
                            ("query_tracklets", query_tracklets),
                            ("gallery_tracklets", gallery_tracklets)):
            if value is not None:
                raise ValueError(f"{name} needs features, not metric='precomputed': pass the "
                                 "query and gallery features.")
    return camera_normalization


def _pool(features, ids, cameras, tracklets, pooling, side):
    name = f"{side}_tracklets"
    tracklets = check_tracklets(tracklets, features.shape[0], name, f"{side}_features")
    pooled, _, _ = pool_tracklets(features, tracklets, pooling=pooling, name=name)
    ids = tracklet_values(ids, tracklets, "identity", name)
    if cameras is not None:
        cameras = tracklet_values(cameras, tracklets, "camera", name)
    return pooled, ids, cameras


def matched_entries(queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras,
                    *, query_is_gallery, query_tracklets, gallery_tracklets, tracklet_pooling,
                    camera_normalization):
    """Pool tracklets and normalise cameras: the queries and gallery entries to rank.

    Returns ``(queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras)``;
    when the queries are the gallery, ``gallery is queries`` still holds.
    """
    if query_is_gallery and gallery_tracklets is not None and query_tracklets is not None \
            and not np.array_equal(np.asarray(query_tracklets), np.asarray(gallery_tracklets)):
        raise ValueError("query_is_gallery=True but query_tracklets and gallery_tracklets "
                         "differ: the queries are the gallery, so give the tracklets once.")
    if query_is_gallery:
        query_tracklets = gallery_tracklets if query_tracklets is None else query_tracklets
    if query_tracklets is not None:
        queries, query_ids, query_cameras = _pool(queries, query_ids, query_cameras,
                                                  query_tracklets, tracklet_pooling, "query")
    if query_is_gallery:
        gallery, gallery_ids, gallery_cameras = queries, query_ids, query_cameras
    elif gallery_tracklets is not None:
        gallery, gallery_ids, gallery_cameras = _pool(gallery, gallery_ids, gallery_cameras,
                                                      gallery_tracklets, tracklet_pooling,
                                                      "gallery")
    if camera_normalization is None:
        return queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras
    if query_cameras is None:
        raise ValueError("camera_normalization needs the cameras: pass query_cameras and "
                         "gallery_cameras.")
    stats = camera_normalization
    if not isinstance(stats, CameraStatistics):
        # the statistics of everything ranked, queries and gallery: no labels are used, and a
        # camera seen only by the queries (cross-camera evaluation) gets its own mean
        stats = CameraStatistics(stats)
        if query_is_gallery:
            stats.fit(queries, query_cameras)
        else:
            stats.fit(np.concatenate([queries, gallery]),
                      np.concatenate([query_cameras, gallery_cameras]))
    queries = stats.transform(queries, query_cameras)
    gallery = queries if query_is_gallery else stats.transform(gallery, gallery_cameras)
    return queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras
