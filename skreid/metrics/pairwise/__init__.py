"""Distances between feature vectors: the one blocked engine of skreid, re-ranking and query
expansion.

Like :mod:`sklearn.metrics.pairwise`, everything above builds on it: the evaluation
(:func:`skreid.metrics.evaluate_reid`), the gallery search (:class:`skreid.search.GalleryIndex`)
and so the re-ID estimators' ``kneighbors``/``predict``.

- :class:`BlockedDistances`: query x gallery distances a block of rows (and columns) at a
  time, so memory is bounded by :data:`BLOCK_ELEMENTS` whatever the sizes; ranking values
  (the distance's order without its last step) and distances that agree to the bit;
  :func:`pairwise_distances` and :func:`pairwise_distances_chunked` on top of it.
- :func:`rerank_k_reciprocal`: k-reciprocal re-ranking (Zhong et al., CVPR 2017) in bounded
  memory; :func:`check_rerank` validates the ``rerank=`` option of skreid's functions;
  :func:`jaccard_k_reciprocal`: its Jaccard distance within one set (pseudo-label clustering).
- :func:`average_query_expansion`: alpha-QE (Radenovic et al., TPAMI 2018);
  :func:`check_query_expansion` validates ``query_expansion=``.
- :data:`DISTANCE_METRICS` and :func:`check_metric`: the metric names, listed once.
- :class:`CameraStatistics` and :func:`camera_normalize`: per-camera centring or whitening of
  embeddings (camera ids only, no labels), the ``camera_normalization=`` option of skreid.
- :func:`pool_tracklets`: one feature per tracklet (the mean or maximum of the L2-normalised
  crops, optionally weighted), the ``tracklet_pooling=`` option of skreid.

Pure NumPy/SciPy/scikit-learn: importing it never imports Keras or TensorFlow.
"""

from skreid.metrics.pairwise._camera import (
    CAMERA_NORMALIZATIONS,
    CameraStatistics,
    UnseenCameraWarning,
    camera_normalize,
    check_camera_normalization,
)
from skreid.metrics.pairwise._distances import (
    BlockedDistances,
    l2_normalize,
    pairwise_distances,
    pairwise_distances_chunked,
)
from skreid.metrics.pairwise._query_expansion import (
    QE_DEFAULTS,
    average_query_expansion,
    check_query_expansion,
)
from skreid.metrics.pairwise._rerank import (
    RERANK_DEFAULTS,
    check_rerank,
    jaccard_k_reciprocal,
    rerank_k_reciprocal,
)
from skreid.metrics.pairwise._tracklets import (
    TRACKLET_POOLINGS,
    check_tracklet_pooling,
    check_tracklets,
    pool_tracklets,
    tracklet_values,
)
from skreid.metrics.pairwise._validation import (
    BLOCK_ELEMENTS,
    DISTANCE_METRICS,
    check_metric,
    metric_names,
)

__all__ = [
    "BLOCK_ELEMENTS",
    "BlockedDistances",
    "CAMERA_NORMALIZATIONS",
    "CameraStatistics",
    "TRACKLET_POOLINGS",
    "UnseenCameraWarning",
    "camera_normalize",
    "check_camera_normalization",
    "check_tracklet_pooling",
    "check_tracklets",
    "pool_tracklets",
    "tracklet_values",
    "DISTANCE_METRICS",
    "QE_DEFAULTS",
    "RERANK_DEFAULTS",
    "average_query_expansion",
    "check_metric",
    "check_query_expansion",
    "check_rerank",
    "l2_normalize",
    "metric_names",
    "pairwise_distances",
    "pairwise_distances_chunked",
    "rerank_k_reciprocal",
    "jaccard_k_reciprocal",
]
