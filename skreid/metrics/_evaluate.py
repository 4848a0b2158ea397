"""One-call re-ID evaluation from features (or a precomputed distance matrix)."""

import numpy as np

from skreid.metrics._checks import (
    check_ap_mode,
    check_camera_pair,
    check_comparable,
    check_labels,
    check_positive_int,
)
from skreid.metrics._matching import check_matching_options, matched_entries
from skreid.metrics._ranking_engine import _evaluate_distances, _per_query_stats, _summarise
from skreid.metrics.pairwise import (
    DISTANCE_METRICS,
    BlockedDistances,
    average_query_expansion,
    check_metric,
    check_query_expansion,
    check_rerank,
    rerank_k_reciprocal,
)
from skreid.utils import check_features, skip_nested_validation


def _distance_blocks(queries, gallery, metric):
    """Return ``blocks(start, stop)`` giving distances of queries[start:stop] to the gallery.

    The blocks come from :class:`skreid.metrics.pairwise.BlockedDistances`, the one query x
    gallery distance computation of skreid (the estimators' gallery and ``GalleryIndex`` use it
    too). Only the order of the distances matters for the metrics, so its *ranking values* are
    used: the squared euclidean distance and the negated cosine similarity. Float32 features
    stay float32, as in torchreid and fast-reid (twice as fast); anything else is float64.
    """
    blocked = BlockedDistances(queries, gallery, metric)
    return lambda start, stop: blocked.ranking(slice(start, stop))


def evaluate_reid(
    query_features,
    query_ids,
    gallery_features=None,
    gallery_ids=None,
    query_cameras=None,
    gallery_cameras=None,
    *,
    metric="euclidean",
    max_rank=50,
    ap_mode="non_interpolated",
    query_is_gallery="auto",
    is_similarity=False,
    junk_id=-1,
    chunk_size=256,
    rerank=None,
    query_expansion=None,
    camera_normalization=None,
    query_tracklets=None,
    gallery_tracklets=None,
    tracklet_pooling="mean",
):
    """Evaluate a re-ID embedding: CMC, rank-1/5/10, mAP and mINP in one pass.

    Distances are computed ``chunk_size`` queries at a time and never stored whole, so a
    Market-1501 evaluation (3,368 x 19,732, 512-d) needs a few hundred MB at most.

    Parameters
    ----------
    query_features : array-like of shape (n_queries, n_features)
        Query embeddings, or the ``(n_queries, n_gallery)`` distance matrix when
        ``metric="precomputed"``.
    query_ids : array-like of shape (n_queries,)
        Query identities (ints or strings).
    gallery_features : array-like of shape (n_gallery, n_features), default=None
        Gallery embeddings. None: the queries are their own gallery (leave-one-out). Must be
        None when ``metric="precomputed"``.
    gallery_ids : array-like of shape (n_gallery,), default=None
        Gallery identities; None only when the queries are the gallery.
    query_cameras, gallery_cameras : array-like, default=None
        Camera labels, both or neither; when the queries are the gallery, ``gallery_cameras``
        defaults to ``query_cameras``.
    metric : str, default="euclidean"
        ``"euclidean"``, ``"sqeuclidean"``, ``"cosine"``, ``"precomputed"``, or any metric
        name of :func:`sklearn.metrics.pairwise_distances`. Float32 features are compared in
        float32 (as torchreid and fast-reid do), anything else in float64.
    max_rank : int, default=50
        Length of the returned CMC curve (an int >= 1), capped at the gallery size: no match
        ranks below it.
    ap_mode : {"non_interpolated", "trapezoid"}, default="non_interpolated"
        AP formula, see :func:`mean_average_precision`: torchreid/fast-reid's
        non-interpolated AP, or the trapezoid AP of the official Market-1501 MATLAB code.
    query_is_gallery : bool or "auto", default="auto"
        Whether the queries are the gallery, so that each query is removed from its own
        ranking. "auto": True when ``gallery_features`` is None or is the very same object
        as ``query_features`` (with ``metric="precomputed"``: when ``gallery_ids`` is None).
    is_similarity : bool, default=False
        Only with ``metric="precomputed"``: larger entries mean more similar.
    junk_id : int or None, default=-1
        Gallery identity removed as junk (Market-1501 uses -1); None disables it.
    chunk_size : int, default=256
        Queries per block; memory grows as ``chunk_size * n_gallery``.
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of the distances before ranking
        (:func:`skreid.metrics.pairwise.rerank_k_reciprocal`): True for the paper's parameters, or a
        dict of ``k1``, ``k2``, ``lambda_value``. Needs features (not
        ``metric="precomputed"``) and a metric among "euclidean", "sqeuclidean", "cosine".
        It then holds the ``(n_queries, n_gallery)`` re-ranked distances (plus a few hundred
        MB) instead of ``chunk_size`` rows. It helps multi-shot galleries (several images per
        identity); see the user guide.
    query_expansion : None, bool or dict, default=None
        alpha-QE of the queries before ranking
        (:func:`skreid.metrics.pairwise.average_query_expansion`): True for its defaults, or a
        dict of ``k``, ``alpha``, ``expand_gallery``. The expanded features are unit vectors,
        compared with ``metric`` (euclidean and cosine rank them alike). Applied before
        ``rerank`` when both are given.
    camera_normalization : {None, "center", "whiten"} or CameraStatistics, default=None
        Per-camera normalisation of the features before ranking
        (:class:`skreid.metrics.pairwise.CameraStatistics`): ``"center"`` subtracts each
        camera's mean feature, ``"whiten"`` also whitens with each camera's covariance. The
        statistics come from the queries and the gallery together (camera ids only, no
        identities); pass a fitted ``CameraStatistics`` to use others (e.g. fitted on
        unlabeled crops). Needs ``query_cameras`` and ``gallery_cameras``. Applied after
        tracklet pooling (to the pooled features, with their statistics), before
        ``query_expansion`` and ``rerank``.
    query_tracklets, gallery_tracklets : array-like of shape (n_queries,), (n_gallery,), \
            default=None
        Tracklet id of each query (gallery) image: the images of a tracklet are pooled into
        one feature (:func:`skreid.metrics.pairwise.pool_tracklets`) and ranked as one query
        (gallery item): set-to-set matching. Either side may be given alone. Ids name
        tracklets within their side only; when the queries are the gallery, give them once.
        Every image of a tracklet must have the same identity and, with cameras, the same
        camera (else a ValueError names the tracklet): the camera rule then applies per
        tracklet.
    tracklet_pooling : {"mean", "max"}, default="mean"
        How a tracklet's features are pooled: the mean of the L2-normalised features, or their
        element-wise maximum (see :func:`~skreid.metrics.pairwise.pool_tracklets`).

    Returns
    -------
    results : dict
        ``rank1``, ``rank5``, ``rank10`` (floats), ``cmc`` (ndarray of shape ``(max_rank,)``),
        ``mAP``, ``mINP`` (floats), ``n_queries`` (queries evaluated: query tracklets with
        ``query_tracklets``) and ``n_skipped`` (queries without any true match, left out of
        every average).

    Raises
    ------
    ValueError
        On bad input (naming the argument), and when no query has a true match.

    Notes
    -----
    The protocol of Market-1501 (L. Zheng et al., "Scalable Person Re-identification: A
    Benchmark", ICCV 2015, and its official MATLAB evaluation code). For each query the
    gallery splits into

    - **ignored** items, removed from the ranking as if absent: items with the query's
      identity **and** the query's camera (when cameras are given), junk (id ``junk_id``,
      -1 in Market-1501) and, when the queries are the gallery, the query itself;
    - **true matches**: the remaining items with the query's identity;
    - **negatives**: everything else. Market-1501 distractors (id 0) are negatives for every
      query of another identity and need no special treatment.

    A query left with no true match is skipped and counted in ``n_skipped``. Without cameras
    only junk and, in leave-one-out mode, the query itself are ignored.

    CMC at k is the fraction of (non-skipped) queries whose first true match ranks <= k; AP
    is described in :func:`mean_average_precision`; mINP (Ye et al., TPAMI 2022) averages
    ``ngood / R_hard``, ``R_hard`` the rank of the last true match.

    Ties are broken pessimistically: a negative at the same distance as a true match ranks
    before it, whatever the gallery order. Results are thus deterministic and invariant to
    permuting the gallery, and a collapsed embedding (all distances equal) cannot score by
    luck of ordering. With continuous features exact ties do not occur and the numbers equal
    those of torchreid and fast-reid (whose unstable argsort leaves ties to chance).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics import evaluate_reid
    >>> rng = np.random.default_rng(0)
    >>> ids = np.repeat(np.arange(1, 6), 4)
    >>> features = np.eye(5)[ids - 1] + 0.1 * rng.standard_normal((20, 5))
    >>> cameras = np.tile([1, 2], 10)
    >>> res = evaluate_reid(features, ids, query_cameras=cameras)  # leave-one-out
    >>> res["rank1"], res["mAP"], res["n_queries"]
    (1.0, 1.0, 20)
    """
    metric = check_metric(metric, precomputed=True, sklearn=True)
    rerank = check_rerank(rerank)
    query_expansion = check_query_expansion(query_expansion)
    camera_normalization = check_matching_options(camera_normalization, query_tracklets,
                                                  gallery_tracklets, tracklet_pooling, metric)
    if metric == "precomputed":
        if rerank is not None or query_expansion is not None:
            raise ValueError(
                "rerank and query_expansion need features, not metric='precomputed': pass the "
                "query and gallery features (or re-rank the distances yourself with "
                "skreid.metrics.pairwise.rerank_k_reciprocal)."
            )
        if gallery_features is not None:
            raise ValueError(
                "gallery_features must be None with metric='precomputed': pass the "
                "(n_queries, n_gallery) distance matrix as query_features."
            )
        if query_is_gallery == "auto":
            query_is_gallery = gallery_ids is None
        return _evaluate_distances(
            query_features,
            query_ids,
            gallery_ids,
            query_cameras,
            gallery_cameras,
            max_rank=max_rank,
            ap_mode=ap_mode,
            is_similarity=bool(is_similarity),
            query_is_gallery=bool(query_is_gallery),
            junk_id=junk_id,
            chunk_size=chunk_size,
        )
    if is_similarity:
        raise ValueError(
            f"is_similarity=True is only valid with metric='precomputed', got metric={metric!r}."
        )
    if query_is_gallery not in ("auto", True, False):
        raise ValueError(
            f"query_is_gallery must be True, False or 'auto', got {query_is_gallery!r}."
        )
    if query_is_gallery == "auto":
        query_is_gallery = gallery_features is None or gallery_features is query_features
    max_rank = check_positive_int(max_rank, "max_rank")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    check_ap_mode(ap_mode)

    queries = check_features(query_features, "query_features")
    query_ids = check_labels(query_ids, "query_ids", queries.shape[0], "query_features")
    if gallery_features is None:
        if not query_is_gallery:
            raise ValueError("gallery_features is None but query_is_gallery=False.")
        gallery = queries
    else:
        gallery = check_features(gallery_features, "gallery_features")
    if gallery.shape[1] != queries.shape[1]:
        raise ValueError(
            f"gallery_features has {gallery.shape[1]} features but query_features has "
            f"{queries.shape[1]}: they must match."
        )
    if query_is_gallery:
        if gallery.shape[0] != queries.shape[0]:
            raise ValueError(
                "query_is_gallery=True but query_features and gallery_features have different "
                f"numbers of samples ({queries.shape[0]} and {gallery.shape[0]})."
            )
        gallery_ids = query_ids if gallery_ids is None else gallery_ids
        gallery_cameras = query_cameras if gallery_cameras is None else gallery_cameras
    gallery_ids = check_labels(gallery_ids, "gallery_ids", gallery.shape[0], "gallery_features")
    check_comparable(query_ids, gallery_ids, "query_ids", "gallery_ids")
    if query_is_gallery and not np.array_equal(query_ids, gallery_ids):
        raise ValueError("query_is_gallery=True but query_ids and gallery_ids differ.")
    query_cameras, gallery_cameras = check_camera_pair(
        query_cameras, gallery_cameras, queries.shape[0], gallery.shape[0]
    )
    if rerank is not None and metric not in DISTANCE_METRICS:
        raise ValueError(
            f"rerank supports metric in {list(DISTANCE_METRICS)}, got metric={metric!r}."
        )
    queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras = matched_entries(
        queries, query_ids, query_cameras, gallery, gallery_ids, gallery_cameras,
        query_is_gallery=query_is_gallery, query_tracklets=query_tracklets,
        gallery_tracklets=gallery_tracklets, tracklet_pooling=tracklet_pooling,
        camera_normalization=camera_normalization)
    with skip_nested_validation():  # features and options were checked above
        if query_expansion is not None:
            queries, gallery = average_query_expansion(
                queries, None if query_is_gallery else gallery, **query_expansion
            )
        distances = None
        if rerank is not None:
            distances = rerank_k_reciprocal(
                queries, None if query_is_gallery else gallery, metric=metric, **rerank
            )
    if distances is not None:
        return _evaluate_distances(
            distances,
            query_ids,
            gallery_ids,
            query_cameras,
            gallery_cameras,
            max_rank=max_rank,
            ap_mode=ap_mode,
            is_similarity=False,
            query_is_gallery=query_is_gallery,
            junk_id=junk_id,
            chunk_size=chunk_size,
        )
    stats = _per_query_stats(
        _distance_blocks(queries, gallery, metric),
        queries.shape[0],
        query_ids,
        gallery_ids,
        query_cameras,
        gallery_cameras,
        query_is_gallery,
        junk_id,
        chunk_size,
    )
    return _summarise(stats, max_rank, ap_mode, gallery.shape[0])
