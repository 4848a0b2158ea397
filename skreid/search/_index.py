"""GalleryIndex: a searchable, growable, saveable gallery of embeddings."""

import numbers
import os
from typing import NamedTuple

import numpy as np

from skreid.search import _faiss
from skreid.search._distances import BlockedDistances, check_search_metric, l2_normalize
from skreid.search._exact import exact_search, topk_rows
from skreid.search._index_checks import check_index_archive, load_faiss_member
from skreid.search._rerank import check_rerank, rerank_k_reciprocal
from skreid.utils import check_finite, read_archive, write_archive

__all__ = ["GalleryIndex", "SearchResult", "IncompatibleIndexError"]

ARCHIVE_KIND = "gallery-index"
FORMAT_VERSION = 1
BACKENDS = ("exact", "faiss")


class IncompatibleIndexError(ValueError):
    """An index was built with another model (embedding width or model fingerprint differ)."""


class SearchResult(NamedTuple):
    """What :meth:`GalleryIndex.search` returns; every array has shape ``(n_queries, k)``."""

    #: distances, best first (``inf`` where fewer than k items were eligible)
    distances: np.ndarray
    #: gallery positions (row numbers), -1 where the distance is ``inf``
    positions: np.ndarray
    #: the items' keys (``""`` at -1 positions), or None when the index has no keys
    keys: np.ndarray | None


def _check_k(k, n):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive int, got {k!r}.")
    if n == 0:
        raise ValueError("the gallery is empty: add items to the index before searching it.")
    if k > n:
        raise ValueError(f"k={k} is larger than the gallery ({n} items); ask for at most {n}.")
    return int(k)


def _labels(values, name, n, fill):
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


class GalleryIndex:
    """A gallery of embeddings with identities, cameras and keys, searched exactly or by faiss.

    Parameters
    ----------
    metric : {"euclidean", "cosine"}, default="euclidean"
        The distance; use the estimator's ``metric``. Cosine embeddings are stored
        L2-normalised.
    backend : {"exact", "faiss"}, default="exact"
        ``"exact"``: blocked brute force (the reference; memory bounded by one block of
        ~16M distances whatever the gallery size). ``"faiss"``: approximate search with
        faiss-cpu (``pip install "skreid[search]"``), HNSW for galleries up to
        ``faiss_params["hnsw_max_size"]`` items and IVF above; built on the first search
        after a change (additions are appended to a built index; a removal rebuilds it).
    faiss_params : dict, optional
        Overrides of :data:`skreid.search.FAISS_DEFAULTS`: ``index_type`` ("auto", "hnsw",
        "ivf"), ``hnsw_max_size``, ``M``, ``efConstruction``, ``efSearch``, ``nlist``,
        ``nprobe``, ``seed``.
    model_fingerprint : str, optional
        Identifies the model that made the embeddings (e.g. the SHA-256 of its file); saved
        with the index so that :meth:`load` and :meth:`check_compatible` can refuse queries
        embedded by another model.

    Attributes
    ----------
    n_features : int or None
        Embedding width (None until the first :meth:`add`).
    embeddings : ndarray of shape (n_items, n_features), float32
    ids : ndarray of objects or None
        Identity of each item, None for unknown people; None when no item has one.
    cameras : ndarray of int or None
        Camera of each item (-1: unknown); None when no item has one.
    keys : ndarray of str or None
        One unique key per item (e.g. its image path), or None for an index without keys.
    meta : dict
        Free JSON data saved with the index (the CLI records the model path and image size).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.search import GalleryIndex
    >>> rng = np.random.default_rng(0)
    >>> index = GalleryIndex().add(rng.normal(size=(100, 8)), ids=np.arange(100) % 10,
    ...                            cameras=np.arange(100) % 3, keys=[f"img{i}" for i in range(100)])
    >>> result = index.search(index.embeddings[:2], k=3)
    >>> result.keys[:, 0].tolist()  # each item finds itself first
    ['img0', 'img1']
    """

    def __init__(self, metric="euclidean", *, backend="exact", faiss_params=None,
                 model_fingerprint=None):
        self.metric = check_search_metric(metric)
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}.")
        self.backend = backend
        self.faiss_params = _faiss.check_faiss_params(faiss_params)
        if backend == "faiss":
            _faiss.import_faiss()  # fail now, not at the first search
        if model_fingerprint is not None and not isinstance(model_fingerprint, str):
            raise ValueError(f"model_fingerprint must be a str, got {model_fingerprint!r}.")
        self.model_fingerprint = model_fingerprint
        self.meta = {}
        self.n_features = None
        self.embeddings = np.empty((0, 0), dtype=np.float32)
        self._sq_norms = np.empty(0, dtype=np.float32)
        self.keys = None
        self._ids = self._has_id = None
        self.cameras = None
        self._faiss = self._faiss_info = None

    @classmethod
    def _from_embeddings(cls, embeddings, metric):
        """An index over already-validated float32 embeddings (normalised for cosine), no copy.

        How the re-ID estimators search their gallery without storing a second copy of it.
        """
        index = cls(metric)
        index.n_features = embeddings.shape[1]
        index.embeddings = embeddings
        index._sq_norms = np.einsum("ij,ij->i", embeddings, embeddings)
        return index

    def __len__(self):
        return self.embeddings.shape[0]

    def __repr__(self):
        return (f"GalleryIndex({len(self)} items, {self.n_features}-d, metric={self.metric!r}, "
                f"backend={self.backend!r})")

    @property
    def ids(self):
        if self._ids is None:
            return None
        out = self._ids.astype(object)
        out[~self._has_id] = None
        return out

    # ------------------------------------------------------------------ contents
    def _check_embeddings(self, X, name):
        X = np.asarray(X)
        if X.ndim != 2 or X.dtype.kind not in "iuf":
            raise ValueError(f"{name} must be a 2-D array of numbers, got shape {X.shape} "
                             f"and dtype {X.dtype}.")
        X = X.astype(np.float32, copy=False)
        check_finite(X, name)
        if self.n_features is not None and X.shape[1] != self.n_features:
            raise IncompatibleIndexError(
                f"{name} have {X.shape[1]} features but the index holds {self.n_features}-d "
                "embeddings: they were made by another model."
            )
        return X

    def add(self, embeddings, *, ids=None, cameras=None, keys=None):
        """Append items; returns ``self``.

        Parameters
        ----------
        embeddings : array-like of shape (n, n_features)
        ids : array-like of shape (n,), optional
            Identities (ints or strings; None entries for unknown people).
        cameras : array-like of shape (n,), optional
            Integer camera ids (-1 or None: unknown).
        keys : sequence of str, optional
            Unique keys (image paths, say). An index that has keys needs them on every add;
            a key already in the index (or twice in ``keys``) is refused, and nothing is added.
        """
        X = self._check_embeddings(embeddings, "embeddings")
        n, n_old = len(X), len(self)
        if keys is not None:
            keys = np.asarray([str(k) for k in keys], dtype=str)
            if len(keys) != n:
                raise ValueError(f"keys has {len(keys)} entries but there are {n} embeddings.")
            if self.keys is None and n_old:
                raise ValueError("this index has no keys; add without keys= (or build a new "
                                 "index with keys from the start).")
            old = self.keys if self.keys is not None else np.empty(0, dtype=str)
            uniq, counts = np.unique(np.concatenate([old, keys]), return_counts=True)
            if (counts > 1).any():
                dup = uniq[counts > 1]
                raise ValueError(f"duplicate key(s) {dup[:3].tolist()}"
                                 f"{' and more' if len(dup) > 3 else ''}: every key must be "
                                 "unique (already in the index or given twice); nothing added.")
        elif self.keys is not None:
            raise ValueError("this index has keys: add(..., keys=...) needs one per embedding.")
        new_ids = None if ids is None else _labels(ids, "ids", n, 0)
        new_cams = None
        if cameras is not None:
            cams, known = _labels(cameras, "cameras", n, -1)
            if cams.dtype.kind not in "iu":
                raise ValueError(f"cameras must be integers, got {cams[:3].tolist()!r}.")
            new_cams = np.where(known, cams, -1).astype(np.int64)
        if new_ids is not None and self._ids is not None:
            if (new_ids[0].dtype.kind in "US") != (self._ids.dtype.kind in "US"):
                raise ValueError("ids must all be ints or all strings, like the index's ids.")

        # nothing above modified the index: a refused add leaves it as it was
        if self.n_features is None:
            self.n_features = X.shape[1]
            self.embeddings = np.empty((0, X.shape[1]), dtype=np.float32)
        if self.metric == "cosine":
            X = l2_normalize(X)
        self.embeddings = np.concatenate([self.embeddings, X]) if n_old else X
        sq = np.einsum("ij,ij->i", X, X)
        self._sq_norms = np.concatenate([self._sq_norms, sq]) if n_old else sq
        if keys is not None:
            self.keys = np.concatenate([self.keys, keys]) if self.keys is not None else keys
        if new_ids is not None or self._ids is not None:
            vals, known = new_ids if new_ids is not None else (
                np.zeros(n, self._ids.dtype), np.zeros(n, bool))
            if self._ids is None:
                self._ids = np.zeros(n_old, dtype=vals.dtype)
                self._has_id = np.zeros(n_old, dtype=bool)
            self._ids = np.concatenate([self._ids, vals])
            self._has_id = np.concatenate([self._has_id, known])
        if new_cams is not None or self.cameras is not None:
            if new_cams is None:
                new_cams = np.full(n, -1, dtype=np.int64)
            old = self.cameras if self.cameras is not None else np.full(n_old, -1, np.int64)
            self.cameras = np.concatenate([old, new_cams])
        if self._faiss is not None:
            self._faiss.add(X)
        return self

    def remove(self, keys):
        """Delete the items with these keys; returns how many were removed.

        Unknown keys are refused (nothing removed). Positions of later items shift down.
        """
        if self.keys is None:
            raise ValueError("this index has no keys, so items cannot be removed by key.")
        keys = np.asarray([str(k) for k in keys], dtype=str)
        hit = np.isin(self.keys, keys)
        missing = keys[~np.isin(keys, self.keys)]
        if len(missing):
            raise KeyError(f"key(s) not in the index: {missing[:3].tolist()}; nothing removed.")
        keep = ~hit
        self.embeddings, self._sq_norms = self.embeddings[keep], self._sq_norms[keep]
        self.keys = self.keys[keep]
        if self._ids is not None:
            self._ids, self._has_id = self._ids[keep], self._has_id[keep]
        if self.cameras is not None:
            self.cameras = self.cameras[keep]
        self._faiss = self._faiss_info = None  # faiss's HNSW cannot delete: rebuild when needed
        return int(hit.sum())

    def set_backend(self, backend, faiss_params=None):
        """Search with ``backend`` from now on (``"exact"`` or ``"faiss"``); returns ``self``.

        How to honour a backend asked for when extending a saved index: ``load`` gives the
        index its recorded backend, and ``add`` never changes it. A faiss index built with
        other settings is dropped (rebuilt on the next search or :meth:`save`).
        """
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {list(BACKENDS)}, got {backend!r}.")
        params = _faiss.check_faiss_params(faiss_params if faiss_params is not None
                                           else self.faiss_params)
        if backend == "faiss":
            _faiss.import_faiss()
        if (backend, params) != (self.backend, self.faiss_params):
            self.backend, self.faiss_params = backend, params
            self._faiss = self._faiss_info = None
        return self

    def check_compatible(self, n_features=None, model_fingerprint=None):
        """Raise :class:`IncompatibleIndexError` if the index was built with another model."""
        if n_features is not None and self.n_features is not None and n_features != self.n_features:
            raise IncompatibleIndexError(
                f"the index holds {self.n_features}-d embeddings but the model makes "
                f"{n_features}-d ones: it was built with another model."
            )
        if (model_fingerprint is not None and self.model_fingerprint is not None
                and model_fingerprint != self.model_fingerprint):
            raise IncompatibleIndexError(
                f"the index was built with model {self.model_fingerprint[:16]}..., not with this "
                f"model ({model_fingerprint[:16]}...): rebuild the index with this model."
            )

    # -------------------------------------------------------------------- search
    def distances(self, queries):
        """A :class:`~skreid.search.BlockedDistances` of ``queries`` against the gallery."""
        Q = self._check_embeddings(queries, "queries")
        if self.n_features is None:
            raise ValueError("the gallery is empty: add items to the index before searching it.")
        return BlockedDistances(Q, self.embeddings, self.metric, gallery_sq_norms=self._sq_norms,
                                gallery_normalized=True)

    def distance_blocks(self, queries, *, rerank=None):
        """Yield ``(rows, distances)``: blocks of the full query x gallery distance matrix.

        ``rerank`` (None, True or a dict of k1, k2, lambda_value): the k-reciprocal re-ranked
        distances instead, computed for all queries at once (see :meth:`search`).
        """
        params = check_rerank(rerank)
        blocked = self.distances(queries)
        if params is None:
            yield from blocked.row_blocks()
            return
        reranked = self._reranked(blocked, params)
        step = blocked.rows_per_block()
        for start in range(0, blocked.n_queries, step):
            rows = slice(start, min(start + step, blocked.n_queries))
            yield rows, reranked[rows]

    def _reranked(self, blocked, params):
        return rerank_k_reciprocal(blocked.queries, self.embeddings, metric=self.metric,
                                   **params).astype(blocked.queries.dtype, copy=False)

    def search(self, queries, k=10, *, exclude_same_camera=False, query_cameras=None,
               query_ids=None, rerank=None):
        """The ``k`` nearest gallery items of each query, best first.

        Parameters
        ----------
        queries : array-like of shape (n_queries, n_features)
            Query embeddings (made by the index's model).
        k : int, default=10
            At most the gallery size.
        exclude_same_camera : bool, default=False
            Leave out gallery items seen by the query's camera (needs ``query_cameras``): the
            same camera's pictures of a person are the trivial matches. With ``query_ids`` as
            well, only items of the query's identity *and* camera are left out (the
            Market-1501 evaluation rule). Unknown cameras (-1) and ids are never excluded.
        query_cameras, query_ids : array-like of shape (n_queries,), optional
        rerank : None, bool or dict, default=None
            k-reciprocal re-ranking (:func:`skreid.search.rerank_k_reciprocal`; True: k1=20,
            k2=6, lambda_value=0.3, or a dict of them): ``distances`` are then the re-ranked
            ones. Computed exactly against the whole gallery whatever the backend, for all
            queries at once (the queries are each other's neighbours): its cost grows with
            ``(n_queries + len(index)) ** 2``, fine up to galleries of some tens of thousands.

        Returns
        -------
        SearchResult
            ``distances``, ``positions`` and ``keys``, each ``(n_queries, k)``; ties in
            distance go to the earlier gallery item. Where exclusion leaves fewer than ``k``
            items the row ends with ``inf`` / -1 / ``""``.
        """
        k = _check_k(k, len(self))
        params = check_rerank(rerank)
        blocked = self.distances(queries)
        groups = self._exclusion(blocked.n_queries, exclude_same_camera, query_cameras, query_ids)
        if params is not None:
            dist = self._reranked(blocked, params)
            mask = groups and groups["mask"](slice(None), slice(None))
            if mask is not None:
                dist[mask] = np.inf
            dist, pos = topk_rows(dist, k)
            pos[np.isinf(dist)] = -1
        elif self.backend == "faiss":
            self.build()
            dist, pos = _faiss.faiss_search(self._faiss, self._faiss_info, blocked.queries, k,
                                            self.metric, groups and groups["groups"])
        else:
            dist, pos = exact_search(blocked, k, groups and groups["mask"])
        keys = None
        if self.keys is not None:
            keys = np.where(pos >= 0, self.keys[np.maximum(pos, 0)], "")
        return SearchResult(dist, pos, keys)

    def _exclusion(self, n_queries, exclude_same_camera, query_cameras, query_ids):
        if not exclude_same_camera:
            return None
        if query_cameras is None:
            raise ValueError("exclude_same_camera=True needs query_cameras.")
        qcam = np.asarray([-1 if c is None else c for c in query_cameras], dtype=np.int64)
        if qcam.shape != (n_queries,):
            raise ValueError(f"query_cameras has {len(qcam)} entries for {n_queries} queries.")
        gcam = self.cameras if self.cameras is not None else np.full(len(self), -1, np.int64)
        qid = None
        if query_ids is not None:
            fill = "" if self._ids is not None and self._ids.dtype.kind == "U" else 0
            qid, qknown = _labels(query_ids, "query_ids", n_queries, fill)
            if self._ids is None:
                qknown = np.zeros(n_queries, bool)  # no gallery ids: nothing shares an identity

        def mask(rows, cols):
            m = (qcam[rows, None] == gcam[None, cols]) & (gcam[None, cols] >= 0)
            if qid is not None:
                if self._ids is None:
                    return None
                m &= (qid[rows, None] == self._ids[None, cols]) & self._has_id[None, cols]
                m &= qknown[rows, None]
            return m

        if self.backend != "faiss":
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

    def build(self):
        """Build the faiss index now (else it is built on the first search); returns self."""
        if self.backend != "faiss":
            return self
        if len(self) == 0:
            raise ValueError("the gallery is empty: add items to the index before searching it.")
        if self._faiss is None:
            self._faiss, self._faiss_info = _faiss.build_faiss(self.embeddings, self.metric,
                                                               self.faiss_params)
        return self

    # ----------------------------------------------------------------- save/load
    def save(self, path):
        """Write the index to ``path`` (a skreid archive: JSON + ``.npy``, no pickle), atomically.

        With the faiss backend the faiss index is stored too (faiss's own serialisation), so
        loading does not rebuild it.
        """
        arrays = {"embeddings": self.embeddings}
        if self.keys is not None:
            arrays["keys"] = self.keys
        if self._ids is not None:
            arrays["ids"], arrays["has_id"] = self._ids, self._has_id
        if self.cameras is not None:
            arrays["cameras"] = self.cameras
        files = {}
        if self.backend == "faiss" and len(self):
            self.build()
            files["faiss.index"] = _faiss.serialize(self._faiss)
        meta = {"metric": self.metric, "backend": self.backend,
                "faiss_params": self.faiss_params, "faiss_info": self._faiss_info,
                "model_fingerprint": self.model_fingerprint, "n_features": self.n_features,
                "n_items": len(self), "user": self.meta}
        write_archive(path, kind=ARCHIVE_KIND, format_version=FORMAT_VERSION, meta=meta,
                      arrays=arrays, files=files)
        return self

    @classmethod
    def load(cls, path, *, n_features=None, model_fingerprint=None):
        """Read an index written by :meth:`save`.

        ``n_features`` / ``model_fingerprint``, when given, must match what the index recorded
        (else :class:`IncompatibleIndexError`): pass the current model's so that an index built
        with another model is refused before any search.
        """
        arc = read_archive(path, kind=ARCHIVE_KIND, max_format_version=FORMAT_VERSION)
        meta, arrays = arc.meta, arc.arrays
        where = os.fspath(path)
        check_index_archive(meta, arrays, arc.files, where)  # a crafted file refused by name
        try:
            index = cls(meta["metric"], backend=meta["backend"],
                        faiss_params=meta["faiss_params"],
                        model_fingerprint=meta["model_fingerprint"])
            emb = arrays["embeddings"]
            n = emb.shape[0]
            if emb.ndim != 2 or emb.dtype != np.float32 or n != meta["n_items"]:
                raise ValueError("embeddings do not match the manifest")
            for name in ("keys", "ids", "has_id", "cameras"):
                if name in arrays and arrays[name].shape != (n,):
                    raise ValueError(f"{name} has the wrong length")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"{where}: not a valid gallery index ({exc}).") from None
        index.meta = meta.get("user") or {}
        if n:
            index.n_features = int(meta["n_features"])
            index.embeddings = emb
            index._sq_norms = np.einsum("ij,ij->i", emb, emb)
        index.keys = arrays.get("keys")
        index._ids, index._has_id = arrays.get("ids"), arrays.get("has_id")
        index.cameras = arrays.get("cameras")
        if "faiss.index" in arc.files:
            index._faiss = load_faiss_member(arc.files["faiss.index"], meta["faiss_info"], n,
                                             index.n_features, index.metric, where)
            index._faiss_info = meta["faiss_info"]
        index.check_compatible(n_features, model_fingerprint)
        return index

    def __getstate__(self):
        state = self.__dict__.copy()
        if state["_faiss"] is not None:  # a SWIG object: pickle faiss's own bytes instead
            state["_faiss"] = _faiss.serialize(state["_faiss"])
        return state

    def __setstate__(self, state):
        if isinstance(state.get("_faiss"), bytes):
            state["_faiss"] = _faiss.deserialize(state["_faiss"])
        self.__dict__.update(state)
