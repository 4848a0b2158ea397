"""Re-ID ranking metrics from a distance matrix: CMC, mAP and mINP (Market-1501 protocol).

For each query, gallery items with the query's identity *and* camera, junk (id -1) and, in
leave-one-out mode, the query itself are removed; the other items with the query's identity
are its true matches; everything else (Market-1501 distractors, id 0, included) is a negative.
Queries without a true match are skipped. Ties are pessimistic (negatives first). The full
protocol, with references, is in :func:`skreid.metrics.evaluate_reid`.
"""

from skreid.metrics._ranking_engine import _evaluate_distances


def cmc_curve(
    distances,
    query_ids,
    gallery_ids,
    query_cameras=None,
    gallery_cameras=None,
    *,
    max_rank=50,
    is_similarity=False,
    query_is_gallery=False,
    junk_id=-1,
    chunk_size=256,
):
    """Cumulative matching characteristic: fraction of queries with a true match in the top k.

    Parameters
    ----------
    distances : array-like of shape (n_queries, n_gallery)
        Query-to-gallery distances (smaller = more similar), or similarities when
        ``is_similarity=True``. Must be finite.
    query_ids, gallery_ids : array-like of shape (n_queries,) and (n_gallery,)
        Identity labels (ints or strings). ``gallery_ids`` may be None when
        ``query_is_gallery=True``.
    query_cameras, gallery_cameras : array-like, default=None
        Camera labels; give both or neither. When given, gallery items with the query's
        identity and camera are removed from its ranking (Market-1501 rule).
    max_rank : int, default=50
        Length of the curve (an int >= 1), capped at the gallery size: no match ranks below
        it, so the curve would only repeat its last value.
    is_similarity : bool, default=False
        Whether larger entries of ``distances`` mean more similar (e.g. cosine similarity).
    query_is_gallery : bool, default=False
        The queries are the gallery (leave-one-out): ``distances`` is square, and each query
        is removed from its own ranking.
    junk_id : int or None, default=-1
        Gallery identity removed as junk; None disables it.
    chunk_size : int, default=256
        Queries processed at once; memory grows as ``chunk_size * n_gallery``.

    Returns
    -------
    cmc : ndarray of shape (max_rank,)
        ``cmc[k - 1]`` is the rank-k accuracy over queries with at least one true match.

    See Also
    --------
    evaluate_reid : all metrics at once, from features; documents the protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics import cmc_curve
    >>> d = np.array([[0.1, 0.5, 0.9], [0.7, 0.3, 0.2]])
    >>> cmc_curve(d, [1, 2], [3, 1, 2], max_rank=3)
    array([0.5, 1. , 1. ])
    """
    return _evaluate_distances(
        distances,
        query_ids,
        gallery_ids,
        query_cameras,
        gallery_cameras,
        max_rank=max_rank,
        ap_mode="non_interpolated",
        is_similarity=is_similarity,
        query_is_gallery=query_is_gallery,
        junk_id=junk_id,
        chunk_size=chunk_size,
    )["cmc"]


def mean_average_precision(
    distances,
    query_ids,
    gallery_ids,
    query_cameras=None,
    gallery_cameras=None,
    *,
    ap_mode="non_interpolated",
    is_similarity=False,
    query_is_gallery=False,
    junk_id=-1,
    chunk_size=256,
):
    """Mean over queries of the average precision (AP) of their gallery ranking.

    Parameters
    ----------
    distances : array-like of shape (n_queries, n_gallery)
        Query-to-gallery distances (smaller = more similar), or similarities when
        ``is_similarity=True``. Must be finite.
    query_ids, gallery_ids : array-like of shape (n_queries,) and (n_gallery,)
        Identity labels (ints or strings). ``gallery_ids`` may be None when
        ``query_is_gallery=True``.
    query_cameras, gallery_cameras : array-like, default=None
        Camera labels; give both or neither (Market-1501 same-camera rule).
    ap_mode : {"non_interpolated", "trapezoid"}, default="non_interpolated"
        Which AP. With ``ngood`` true matches, the i-th at rank ``r_i`` (1-based, ignored
        items removed) and precision ``p_i = i / r_i``:

        - ``"non_interpolated"``: ``AP = (1 / ngood) * sum_i p_i``, the AP of torchreid,
          fast-reid and most re-ID papers;
        - ``"trapezoid"``: the official Market-1501 MATLAB evaluation (``compute_AP.m`` of
          Zheng et al., ICCV 2015): ``AP = (1 / ngood) * sum_i (q_i + p_i) / 2`` where
          ``q_i = (i - 1) / (r_i - 1)`` is the precision one rank earlier (``q_i = 1`` when
          ``r_i = 1``). It is never larger than the non-interpolated AP.
    is_similarity : bool, default=False
        Whether larger entries of ``distances`` mean more similar.
    query_is_gallery : bool, default=False
        Leave-one-out: ``distances`` is square and each query is removed from its ranking.
    junk_id : int or None, default=-1
        Gallery identity removed as junk; None disables it.
    chunk_size : int, default=256
        Queries processed at once; memory grows as ``chunk_size * n_gallery``.

    Returns
    -------
    mAP : float
        In [0, 1], averaged over queries with at least one true match.

    See Also
    --------
    evaluate_reid : all metrics at once, from features; documents the protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics import mean_average_precision
    >>> d = np.array([[0.1, 0.2, 0.3]])
    >>> round(mean_average_precision(d, [1], [1, 2, 1]), 4)  # (1/1 + 2/3) / 2
    0.8333
    >>> # trapezoid: ((1 + 1) / 2 + (1/2 + 2/3) / 2) / 2
    >>> round(mean_average_precision(d, [1], [1, 2, 1], ap_mode="trapezoid"), 4)
    0.7917
    """
    return _evaluate_distances(
        distances,
        query_ids,
        gallery_ids,
        query_cameras,
        gallery_cameras,
        max_rank=1,
        ap_mode=ap_mode,
        is_similarity=is_similarity,
        query_is_gallery=query_is_gallery,
        junk_id=junk_id,
        chunk_size=chunk_size,
    )["mAP"]


def mean_inverse_negative_penalty(
    distances,
    query_ids,
    gallery_ids,
    query_cameras=None,
    gallery_cameras=None,
    *,
    is_similarity=False,
    query_is_gallery=False,
    junk_id=-1,
    chunk_size=256,
):
    """Mean inverse negative penalty (mINP) of Ye et al.

    For each query, ``INP = 1 - NP = ngood / R_hard`` where ``R_hard`` is the rank of its
    hardest (last-ranked) true match: 1 when all true matches come first (M. Ye et al., "Deep
    Learning for Person Re-identification: A Survey and Outlook", IEEE TPAMI 44(6), 2022).

    Parameters
    ----------
    distances : array-like of shape (n_queries, n_gallery)
        Query-to-gallery distances (smaller = more similar), or similarities when
        ``is_similarity=True``. Must be finite.
    query_ids, gallery_ids : array-like of shape (n_queries,) and (n_gallery,)
        Identity labels (ints or strings). ``gallery_ids`` may be None when
        ``query_is_gallery=True``.
    query_cameras, gallery_cameras : array-like, default=None
        Camera labels; give both or neither (Market-1501 same-camera rule).
    is_similarity : bool, default=False
        Whether larger entries of ``distances`` mean more similar.
    query_is_gallery : bool, default=False
        Leave-one-out: ``distances`` is square and each query is removed from its ranking.
    junk_id : int or None, default=-1
        Gallery identity removed as junk; None disables it.
    chunk_size : int, default=256
        Queries processed at once; memory grows as ``chunk_size * n_gallery``.

    Returns
    -------
    mINP : float
        In (0, 1], averaged over queries with at least one true match.

    See Also
    --------
    evaluate_reid : all metrics at once, from features; documents the protocol.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics import mean_inverse_negative_penalty
    >>> d = np.array([[0.1, 0.2, 0.3, 0.4]])
    >>> # two true matches, the last one at rank 3
    >>> round(mean_inverse_negative_penalty(d, [1], [1, 2, 1, 3]), 4)
    0.6667
    """
    return _evaluate_distances(
        distances,
        query_ids,
        gallery_ids,
        query_cameras,
        gallery_cameras,
        max_rank=1,
        ap_mode="non_interpolated",
        is_similarity=is_similarity,
        query_is_gallery=query_is_gallery,
        junk_id=junk_id,
        chunk_size=chunk_size,
    )["mINP"]
