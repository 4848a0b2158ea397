"""alpha-weighted average query expansion (alpha-QE), blocked."""

import numpy as np

from skreid.metrics.pairwise._distances import BlockedDistances, l2_normalize
from skreid.metrics.pairwise._validation import check_int, check_real, resolve_options
from skreid.utils import check_features

__all__ = ["average_query_expansion", "check_query_expansion", "QE_DEFAULTS"]

#: default parameters of :func:`average_query_expansion`
QE_DEFAULTS = {"k": 5, "alpha": 3.0, "expand_gallery": False}


def _check_qe_params(params):
    params["k"] = check_int(params["k"], "query_expansion k", 0)
    params["alpha"] = check_real(params["alpha"], "query_expansion alpha", 0)
    if not isinstance(params["expand_gallery"], (bool, np.bool_)):
        raise ValueError(
            f"query_expansion expand_gallery must be a bool, got {params['expand_gallery']!r}."
        )
    params["expand_gallery"] = bool(params["expand_gallery"])


def check_query_expansion(query_expansion):
    """Validate a ``query_expansion=`` option; return the QE parameters (or None).

    Parameters
    ----------
    query_expansion : None, bool or dict
        None or False: none. True: the defaults (k=5, alpha=3.0, expand_gallery=False). A
        dict: any of ``k``, ``alpha``, ``expand_gallery``.

    Returns
    -------
    params : dict or None
        Read-only; passing it to ``check_query_expansion`` again returns it unchanged.
    """
    return resolve_options(query_expansion, "query_expansion", QE_DEFAULTS, _check_qe_params)


def _expand(queries, gallery, k, alpha, exclude_self):
    """Each query plus its k most similar gallery rows weighted by sim**alpha, normalised.

    The similarities are the engine's cosine ranking values (negated similarities) of the
    unit vectors, a block of queries at a time.
    """
    n_gallery = len(gallery)
    k_eff = min(k, n_gallery - 1 if exclude_self else n_gallery)
    if k_eff <= 0:
        return l2_normalize(queries)
    out = np.empty_like(queries)
    blocked = BlockedDistances(queries, gallery, "cosine", queries_normalized=True,
                               gallery_normalized=True)
    for rows, neg_sims in blocked.row_blocks(ranking=True):
        q = queries[rows]
        if exclude_self:  # the query is in the gallery: it already has weight 1
            neg_sims[np.arange(len(q)), np.arange(rows.start, rows.stop)] = np.inf
        top = np.argpartition(neg_sims, k_eff - 1, axis=1)[:, :k_eff]
        # negative similarities get weight 0 (sim**alpha is undefined for them)
        w = np.maximum(-np.take_along_axis(neg_sims, top, 1), 0) ** alpha
        out[rows] = q + np.einsum("qk,qkd->qd", w, gallery[top])
    return l2_normalize(out)


def average_query_expansion(
    query_features, gallery_features=None, *, k=5, alpha=3.0, expand_gallery=False
):
    """alpha-weighted average query expansion (alpha-QE).

    Each L2-normalised query ``q`` is replaced by ``q + sum_i max(s_i, 0)**alpha g_i`` over
    its ``k`` most similar (cosine) L2-normalised gallery features ``g_i`` (``s_i`` their
    cosine similarities; the query itself has weight ``1 = 1**alpha``), normalised again.
    F. Radenovic, G. Tolias and O. Chum, "Fine-tuning CNN Image Retrieval with No Human
    Annotation", TPAMI 2018 (``alpha=0`` is the plain average query expansion of Chum et
    al., ICCV 2007). Computed a block of queries at a time.

    Parameters
    ----------
    query_features : array-like of shape (n_queries, n_features)
    gallery_features : array-like of shape (n_gallery, n_features), default=None
        None: the queries are their own gallery (leave-one-out), and a query's own row is
        never one of its neighbours.
    k : int, default=5
        Gallery neighbours averaged into each query (0: only normalise).
    alpha : float, default=3.0
        Exponent of the similarity weights; larger trusts the closest neighbours more.
    expand_gallery : bool, default=False
        Also expand each gallery feature with its ``k`` nearest *other* gallery features
        (database-side augmentation), before the queries are expanded against the
        expanded gallery.

    Returns
    -------
    query_expanded : ndarray of shape (n_queries, n_features)
        Expanded, L2-normalised queries.
    gallery_out : ndarray of shape (n_gallery, n_features)
        The L2-normalised gallery (expanded when ``expand_gallery``); with
        ``gallery_features=None``, ``query_expanded`` itself. Compare the two with the cosine
        or euclidean distance (same ranking on unit vectors).

    Notes
    -----
    The neighbours are found without labels or cameras, so an image of the query's identity
    from the query's own camera (which the Market-1501 protocol ignores in the ranking) may
    still be averaged into the query, as in deployment.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import average_query_expansion
    >>> q = np.array([[1.0, 0.0]])
    >>> g = np.array([[1.0, 1.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> qe, g_out = average_query_expansion(q, g, k=1, alpha=1.0)
    >>> np.round(qe, 3)
    array([[0.949, 0.316]])
    """
    params = check_query_expansion(dict(k=k, alpha=alpha, expand_gallery=expand_gallery))
    k, alpha = params["k"], params["alpha"]
    queries = l2_normalize(check_features(query_features, "query_features"))
    if gallery_features is None:
        expanded = _expand(queries, queries, k, alpha, exclude_self=True)
        return expanded, expanded
    gallery = l2_normalize(check_features(gallery_features, "gallery_features"))
    if gallery.shape[1] != queries.shape[1]:
        raise ValueError(
            f"gallery_features has {gallery.shape[1]} features but query_features has "
            f"{queries.shape[1]}: they must match."
        )
    if gallery.dtype != queries.dtype:
        queries, gallery = queries.astype(np.float64), gallery.astype(np.float64)
    if params["expand_gallery"]:
        gallery = _expand(gallery, gallery, k, alpha, exclude_self=True)
    return _expand(queries, gallery, k, alpha, exclude_self=False), gallery
