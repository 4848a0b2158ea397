"""The per-item columns of :class:`~skreid.search.GalleryIndex` (keys, identities, cameras,
file signatures) and the rules of a search that leaves some items out.

Helpers take the index and values and return values; only the index's own methods assign its
attributes, and a refused call modifies nothing.
"""

import numbers

import numpy as np

__all__ = ["check_k", "labels", "positions_of", "new_columns", "append_columns", "updated_columns",
           "exclusion"]


def check_k(k, n):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    if n == 0:
        raise ValueError("the gallery is empty: add items to the index before searching it.")
    if k > n:
        raise ValueError(f"k={k} is larger than the gallery ({n} items); ask for at most {n}.")
    return int(k)


def labels(values, name, n, fill):
    """``(values, known)``: a NumPy label array (None entries -> ``fill``) and its known mask."""
    values = list(values) if not isinstance(values, np.ndarray) else values
    if len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but there are {n} embeddings.")
    if isinstance(values, np.ndarray) and values.dtype != object:
        if values.ndim != 1:
            raise ValueError(f"{name} must be 1-D, got shape {values.shape}.")
        return values, np.ones(n, dtype=bool)
    known = np.array([v is not None for v in values], dtype=bool)
    kept = [v for v in values if v is not None]
    arr = np.asarray(kept) if kept else np.asarray([], dtype=type(fill))
    if arr.dtype == object or arr.ndim != 1:
        raise ValueError(f"{name} must hold ints or strings (None for unknown), got {kept[:3]!r}.")
    out = np.full(n, fill, dtype=arr.dtype if kept else np.asarray(fill).dtype)
    out[known] = arr
    return out, known


def positions_of(index, keys, what, unique=False):
    """The positions of the items with these keys; refuses unknown (and, if ``unique``,
    repeated) keys, naming them."""
    if index.keys is None:
        raise ValueError(f"this index has no keys, so items cannot be {what} by key.")
    keys = [str(k) for k in keys]
    order = {k: i for i, k in enumerate(index.keys.tolist())}
    missing = [k for k in keys if k not in order]
    if missing:
        raise KeyError(f"key(s) not in the index: {missing[:3]}; nothing {what}.")
    if unique and len(set(keys)) != len(keys):
        raise ValueError(f"keys holds a key twice; nothing {what}.")
    return np.asarray([order[k] for k in keys], dtype=np.int64)


def _strings(values, name, n):
    out = np.asarray([str(v) for v in values], dtype=str)
    if len(out) != n:
        raise ValueError(f"{name} has {len(out)} entries but there are {n} embeddings.")
    return out


def new_columns(index, n, *, ids=None, cameras=None, keys=None, signatures=None,
                existing=None):
    """Validate the columns of ``n`` new items (or of the items at positions ``existing``).

    Returns a dict of the validated values (None where not given); raises without touching
    the index.
    """
    cols = {"ids": None, "cameras": None, "keys": None, "signatures": None}
    if existing is None:
        if keys is not None:
            keys = _strings(keys, "keys", n)
            if index.keys is None and len(index):
                raise ValueError("this index has no keys; add without keys= (or build a new "
                                 "index with keys from the start).")
            old = index.keys if index.keys is not None else np.empty(0, dtype=str)
            uniq, counts = np.unique(np.concatenate([old, keys]), return_counts=True)
            if (counts > 1).any():
                dup = uniq[counts > 1]
                raise ValueError(f"duplicate key(s) {dup[:3].tolist()}"
                                 f"{' and more' if len(dup) > 3 else ''}: every key must be "
                                 "unique (already in the index or given twice); nothing added.")
            cols["keys"] = keys
        elif index.keys is not None:
            raise ValueError("this index has keys: add(..., keys=...) needs one per embedding.")
    if signatures is not None:
        if index.keys is None and cols["keys"] is None:
            raise ValueError("signatures need keys: they describe each key's file.")
        cols["signatures"] = _strings(signatures, "signatures", n)
    if ids is not None:
        cols["ids"] = labels(ids, "ids", n, 0)
        if index._ids is not None and \
                (cols["ids"][0].dtype.kind in "US") != (index._ids.dtype.kind in "US"):
            raise ValueError("ids must all be ints or all strings, like the index's ids.")
    if cameras is not None:
        cams, known = labels(cameras, "cameras", n, -1)
        if cams.dtype.kind not in "iu":
            raise ValueError(f"cameras must be integers, got {cams[:3].tolist()!r}.")
        cols["cameras"] = np.where(known, cams, -1).astype(np.int64)
    return cols


def _column(old, new, n_old, n, fill, dtype):
    if new is None and old is None:
        return None
    if new is None:
        new = np.full(n, fill, dtype=old.dtype if dtype is None else dtype)
    if old is None:
        old = np.full(n_old, fill, dtype=new.dtype if dtype is None else dtype)
    return np.concatenate([old, new])


def append_columns(index, cols, n, n_old):
    """The index's per-item columns with ``n`` new items appended: a dict of new arrays."""
    out = {"keys": _column(index.keys, cols["keys"], n_old, n, "", None),
           "cameras": _column(index.cameras, cols["cameras"], n_old, n, -1, np.int64),
           "signatures": _column(index.signatures, cols["signatures"], n_old, n, "", None)}
    ids, has_id = index._ids, index._has_id
    if cols["ids"] is not None or ids is not None:
        vals, known = cols["ids"] if cols["ids"] is not None else (
            np.zeros(n, ids.dtype), np.zeros(n, bool))
        if ids is None:
            ids, has_id = np.zeros(n_old, dtype=vals.dtype), np.zeros(n_old, dtype=bool)
        ids, has_id = np.concatenate([ids, vals]), np.concatenate([has_id, known])
    out["ids"], out["has_id"] = ids, has_id
    return out


def updated_columns(index, cols, pos):
    """The per-item columns with the items at positions ``pos`` set to ``cols``' values: a
    dict of new arrays, only for the columns given."""
    n = len(index)
    # appending widens string dtypes and creates absent columns; the first n rows are the old
    merged = append_columns(index, cols, len(pos), n)
    out = {}
    for name in ("cameras", "signatures"):
        if cols[name] is not None:
            out[name] = merged[name][:n].copy()
            out[name][pos] = cols[name]
    if cols["ids"] is not None:
        out["ids"], out["has_id"] = merged["ids"][:n].copy(), merged["has_id"][:n].copy()
        out["ids"][pos], out["has_id"][pos] = cols["ids"]
    return out


def exclusion(index, n_queries, exclude_same_camera, query_cameras, query_ids):
    """What a search leaves out: a ``mask(rows, cols)`` of excluded (query, item) pairs and,
    for faiss, the groups of queries that exclude the same items; None if nothing is."""
    if not exclude_same_camera:
        return None
    if query_cameras is None:
        raise ValueError("exclude_same_camera=True needs query_cameras.")
    qcam = np.asarray([-1 if c is None else c for c in query_cameras], dtype=np.int64)
    if qcam.shape != (n_queries,):
        raise ValueError(f"query_cameras has {len(qcam)} entries for {n_queries} queries.")
    gcam = index.cameras if index.cameras is not None else np.full(len(index), -1, np.int64)
    gids, has_id = index._ids, index._has_id
    qid = None
    if query_ids is not None:
        fill = "" if gids is not None and gids.dtype.kind == "U" else 0
        qid, qknown = labels(query_ids, "query_ids", n_queries, fill)
        if gids is None:
            qknown = np.zeros(n_queries, bool)  # no gallery ids: nothing shares an identity

    def mask(rows, cols):
        m = (qcam[rows, None] == gcam[None, cols]) & (gcam[None, cols] >= 0)
        if qid is not None:
            if gids is None:
                return None
            m &= (qid[rows, None] == gids[None, cols]) & has_id[None, cols]
            m &= qknown[rows, None]
        return m

    if index.backend != "faiss":
        return {"mask": mask, "groups": None}
    # faiss filters inside its search: one call per group of queries that exclude the same
    # items (same camera, or same camera and identity)
    code = qcam[:, None]
    if qid is not None:
        id_code = np.where(qknown, np.unique(qid, return_inverse=True)[1], -1)
        code = np.stack([qcam, id_code], axis=1)
    groups = []
    for value in np.unique(code, axis=0):
        rows = np.flatnonzero((code == value).all(axis=1))
        m = mask(rows[:1], slice(None))
        excluded = np.flatnonzero(m[0]) if m is not None else np.empty(0, np.int64)
        groups.append((rows, excluded))
    return {"mask": mask, "groups": groups}
