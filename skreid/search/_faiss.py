"""The faiss backend of :class:`~skreid.search.GalleryIndex` (approximate search).

faiss is an optional dependency (``pip install "skreid[search]"``), imported only here and only
when ``backend="faiss"`` is used. Two index types, chosen from the gallery size:

- **HNSW** (``IndexHNSWFlat``) up to ``hnsw_max_size`` items (2M): no training, fast and
  accurate queries (on a 1M x 256 synthetic gallery, benchmarks/search.py: 60x the exact
  queries/s at recall@10 0.987 with the default ``efSearch=64``; 0.990 at 128, 30x);
  its build time and graph memory grow with the gallery, so larger galleries use IVF.
- **IVF** (``IndexIVFFlat``) above it: a k-means coarse quantiser with ``nlist`` cells
  (default ``sqrt(n)``) trained on at most ``64 * nlist`` gallery rows, and ``nprobe`` cells
  visited per query.

Both store the vectors uncompressed (``Flat``), so the distances they return are exact; only
the set of candidates is approximate. For ``metric="cosine"`` the gallery is L2-normalised
and searched by inner product.
"""

import numpy as np

__all__ = ["import_faiss", "FAISS_DEFAULTS", "build_faiss", "faiss_search"]

#: Default faiss parameters of GalleryIndex (overridden by its ``faiss_params``).
FAISS_DEFAULTS = {
    "index_type": "auto",  # "auto", "hnsw" or "ivf"
    "hnsw_max_size": 2_000_000,  # "auto": HNSW up to this many items, IVF above
    "M": 16,  # HNSW graph degree
    "efConstruction": 40,
    "efSearch": 64,  # 60x exact at recall@10 0.987 on 1M x 256 (docs/benchmarks.rst)
    "nlist": None,  # IVF cells; None: sqrt(n_gallery), clipped to [1, 65536]
    "nprobe": None,  # IVF cells visited per query; None: max(8, nlist // 64)
    "seed": 0,  # rows sampled to train the IVF quantiser
}


def import_faiss():
    """Import faiss, or raise an ImportError naming the extra to install."""
    try:
        import faiss
    except ImportError:
        raise ImportError(
            "backend='faiss' needs faiss-cpu: pip install 'skreid[search]' (or faiss-cpu)."
        ) from None
    return faiss


def check_faiss_params(params):
    """Defaults updated with ``params``; unknown names are refused."""
    if params is not None and not isinstance(params, dict):
        raise ValueError(f"faiss_params must be a dict or None, got {params!r:.80}.")
    params = dict(params or {})
    unknown = sorted(set(params) - set(FAISS_DEFAULTS))
    if unknown:
        raise ValueError(
            f"faiss_params: unknown parameter(s) {unknown}; accepted: {sorted(FAISS_DEFAULTS)}."
        )
    out = {**FAISS_DEFAULTS, **params}
    if out["index_type"] not in ("auto", "hnsw", "ivf"):
        raise ValueError(
            f"faiss_params['index_type'] must be 'auto', 'hnsw' or 'ivf', got "
            f"{out['index_type']!r}."
        )
    return out


def _ivf_sizes(n, params):
    nlist = params["nlist"] or int(np.clip(round(np.sqrt(n)), 1, 65536))
    nlist = min(nlist, n)  # k-means needs at least one point per cell
    nprobe = params["nprobe"] or max(8, nlist // 64)
    return nlist, min(nprobe, nlist)


def build_faiss(X, metric, params):
    """A faiss index over the rows of ``X`` (float32, L2-normalised for cosine).

    Returns ``(index, info)``; ``info`` records the type and parameters actually used.
    """
    faiss = import_faiss()
    n, d = X.shape
    kind = params["index_type"]
    if kind == "auto":
        kind = "hnsw" if n <= params["hnsw_max_size"] else "ivf"
    fmetric = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    X = np.ascontiguousarray(X, dtype=np.float32)
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(d, int(params["M"]), fmetric)
        index.hnsw.efConstruction = int(params["efConstruction"])
        index.hnsw.efSearch = int(params["efSearch"])
        info = {"index_type": "hnsw", "M": int(params["M"]),
                "efConstruction": int(params["efConstruction"]),
                "efSearch": int(params["efSearch"])}
    else:
        nlist, nprobe = _ivf_sizes(n, params)
        quantizer = (faiss.IndexFlatIP if metric == "cosine" else faiss.IndexFlatL2)(d)
        index = faiss.IndexIVFFlat(quantizer, d, nlist, fmetric)
        # faiss's Python wrapper keeps a reference to the quantiser alongside the index
        rng = np.random.default_rng(params["seed"])
        sample = X if n <= 64 * nlist else X[np.sort(rng.choice(n, 64 * nlist, replace=False))]
        index.cp.min_points_per_centroid = 1  # a small gallery may have few points per cell
        index.train(sample)
        index.nprobe = nprobe
        info = {"index_type": "ivf", "nlist": nlist, "nprobe": nprobe}
    index.add(X)
    return index, info


def faiss_search(index, info, queries, k, metric, excluded_groups=None):
    """Search ``index``; returns ``(distances, positions)`` like the exact backend.

    ``excluded_groups`` is a list of ``(query_rows, excluded_positions)``: those queries are
    searched with the positions filtered out inside faiss (an ``IDSelector``), so excluded
    items never take a place in the top k.
    """
    faiss = import_faiss()
    queries = np.ascontiguousarray(queries, dtype=np.float32)

    def params(selector=None):
        if info["index_type"] == "hnsw":
            return faiss.SearchParametersHNSW(efSearch=info["efSearch"], sel=selector)
        return faiss.SearchParametersIVF(nprobe=info["nprobe"], sel=selector)

    dist = np.empty((len(queries), k), dtype=np.float32)
    pos = np.empty((len(queries), k), dtype=np.int64)
    if excluded_groups is None:
        excluded_groups = [(np.arange(len(queries)), np.empty(0, np.int64))]
    for rows, excluded in excluded_groups:
        if len(excluded):
            batch = faiss.IDSelectorBatch(np.ascontiguousarray(excluded, dtype=np.int64))
            selector = faiss.IDSelectorNot(batch)  # holds a pointer to batch: keep both alive
            d, i = index.search(queries[rows], k, params=params(selector))
            del selector, batch
        else:
            d, i = index.search(queries[rows], k, params=params())
        dist[rows], pos[rows] = d, i
    missing = pos < 0
    if metric == "cosine":
        dist = 1 - dist  # inner products of unit vectors
    else:
        np.sqrt(np.maximum(dist, 0), out=dist)  # faiss returns squared L2
    dist[missing] = np.inf
    pos[missing] = -1
    # faiss's order among equal distances is its own: sort by (distance, position) as exact does
    order = _row_lexsort(dist, pos)
    return np.take_along_axis(dist, order, 1), np.take_along_axis(pos, order, 1)


def _row_lexsort(dist, pos):
    by_pos = np.argsort(np.where(pos < 0, np.iinfo(np.int64).max, pos), axis=1, kind="stable")
    d = np.take_along_axis(dist, by_pos, 1)
    return np.take_along_axis(by_pos, np.argsort(d, axis=1, kind="stable"), 1)


def serialize(index):
    """faiss's own serialisation of ``index`` (bytes, no pickle)."""
    return import_faiss().serialize_index(index).tobytes()


def deserialize(data):
    """The faiss index serialised in ``data``.

    faiss sizes each vector it reads from the length the bytes claim, before reading it: a
    crafted member claiming a vector of gigabytes would make it allocate (and zero) them. No
    vector of a real index is longer than the whole member, so the faiss versions that have a
    limit (1.11+) get that one while reading; faiss then refuses a longer claim with a
    RuntimeError.
    """
    faiss = import_faiss()
    buffer = np.frombuffer(data, dtype=np.uint8).copy()
    setter = getattr(faiss, "set_deserialization_vector_byte_limit", None)
    if setter is None:
        return faiss.deserialize_index(buffer)
    previous = faiss.get_deserialization_vector_byte_limit()
    setter(min(previous, max(len(data), 1)))
    try:
        return faiss.deserialize_index(buffer)
    finally:
        setter(previous)
