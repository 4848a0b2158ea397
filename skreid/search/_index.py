"""GalleryIndex: a searchable, growable, saveable gallery of embeddings."""

from typing import NamedTuple

import numpy as np

from skreid.metrics.pairwise import (
    BlockedDistances,
    check_rerank,
    l2_normalize,
    rerank_k_reciprocal,
)
from skreid.search import _faiss
from skreid.search._entries import EntriesMixin, EntryState
from skreid.search._exact import exact_search, topk_rows
from skreid.search._index_io import load_index, save_index
from skreid.search._items import (
    append_columns,
    check_k,
    exclusion,
    new_columns,
    positions_of,
    updated_columns,
)
from skreid.search._metrics import check_search_metric
from skreid.search._sources import compare_files
from skreid.utils import DEFAULT_LOCK_TIMEOUT, check_finite

__all__ = ["GalleryIndex", "SearchResult", "IncompatibleIndexError"]

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


class GalleryIndex(EntriesMixin):
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
    camera_normalization : {None, "center", "whiten"}, default=None
    tracklet_pooling : {"mean", "max"}, default="mean"
        Per-camera normalised search (statistics saved with the index) and how
        ``add(..., tracklets=)`` pools a tracklet's crops: :mod:`skreid.search._entries`.

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
    signatures : ndarray of str or None
        What each item's file was when it was embedded (size, modification time, SHA-256;
        ``""`` where unknown), or None; see :meth:`compare_files`.
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
                 model_fingerprint=None, camera_normalization=None, tracklet_pooling="mean"):
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
        self.keys = self.signatures = None
        self._ids = self._has_id = None
        self.cameras = None
        self._faiss = self._faiss_info = None
        self._entries = EntryState(camera_normalization, tracklet_pooling)  # see _entries.py

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

    def add(self, embeddings, *, ids=None, cameras=None, keys=None, signatures=None,
            tracklets=None):
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
        signatures : sequence of str, optional
            What each key's source was when embedded (:func:`file_signature` of an image
            file), so that :meth:`compare_files` can tell a changed file; needs keys.
        tracklets : array-like of shape (n,), optional
            Tracklet id of each crop: one entry per tracklet, keyed ``str(tracklet)``.
        """
        X = self._check_embeddings(embeddings, "embeddings")
        if self._entries.check_mode(len(self), tracklets, keys):  # crops of tracklets
            return self._add_tracklets(X, ids, cameras, tracklets)
        n, n_old = len(X), len(self)
        cols = new_columns(self, n, ids=ids, cameras=cameras, keys=keys, signatures=signatures)
        # nothing above modified the index: a refused add leaves it as it was
        if self.n_features is None:
            self.n_features = X.shape[1]
            self.embeddings = np.empty((0, X.shape[1]), dtype=np.float32)
        if self.metric == "cosine":
            X = l2_normalize(X)
        merged = append_columns(self, cols, n, n_old)
        self.embeddings = np.concatenate([self.embeddings, X]) if n_old else X
        sq = np.einsum("ij,ij->i", X, X)
        self._sq_norms = np.concatenate([self._sq_norms, sq]) if n_old else sq
        self.keys, self.cameras, self.signatures = (merged["keys"], merged["cameras"],
                                                    merged["signatures"])
        self._ids, self._has_id = merged["ids"], merged["has_id"]
        if self._faiss is not None:
            self._faiss.add(X)
        self._entries.changed(self)
        return self

    def update(self, keys, embeddings=None, *, ids=None, cameras=None, signatures=None):
        """Replace the embeddings (and labels, signatures) of the items with these keys.

        The items keep their positions; whatever is not given keeps its value. Unknown keys
        are refused (nothing changed). Returns ``self``.
        """
        pos = positions_of(self, keys, "updated", unique=True)
        X = None if embeddings is None else self._check_embeddings(embeddings, "embeddings")
        self._entries.check_update(X, cameras)
        if X is not None and len(X) != len(pos):
            raise ValueError(f"{len(X)} embeddings for {len(pos)} keys.")
        cols = new_columns(self, len(pos), ids=ids, cameras=cameras, signatures=signatures,
                           existing=pos)
        columns = updated_columns(self, cols, pos)  # validated: from here on, assign
        if X is not None:
            if self.metric == "cosine":
                X = l2_normalize(X)
            self.embeddings = self.embeddings.copy()
            self.embeddings[pos] = X
            self._sq_norms = self._sq_norms.copy()
            self._sq_norms[pos] = np.einsum("ij,ij->i", X, X)
            self._faiss = self._faiss_info = None  # rebuilt when needed
        for name, value in columns.items():
            setattr(self, f"_{name}" if name in ("ids", "has_id") else name, value)
        self._entries.changed(self)
        return self

    def remove(self, keys):
        """Delete the items with these keys; returns how many were removed.

        Unknown keys are refused (nothing removed). Positions of later items shift down.
        """
        hit = np.zeros(len(self), dtype=bool)
        hit[positions_of(self, keys, "removed")] = True
        keep = ~hit
        self.embeddings, self._sq_norms = self.embeddings[keep], self._sq_norms[keep]
        self.keys = self.keys[keep]
        if self._ids is not None:
            self._ids, self._has_id = self._ids[keep], self._has_id[keep]
        if self.cameras is not None:
            self.cameras = self.cameras[keep]
        if self.signatures is not None:
            self.signatures = self.signatures[keep]
        self._entries.keep(keep, self)
        self._faiss = self._faiss_info = None  # faiss's HNSW cannot delete: rebuild when needed
        return int(hit.sum())

    def compare_files(self, paths, *, folders=(), verify=False):
        """What re-indexing the image files ``paths`` (keys) would change: an
        :class:`IndexChanges` of the paths added, updated (changed since embedded) and
        unchanged, and of the keys under ``folders`` whose file is missing
        (:func:`compare_files`)."""
        return compare_files(self, paths, folders=folders, verify=verify)

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
    def distances(self, queries, *, query_cameras=None):
        """A :class:`~skreid.search.BlockedDistances` of ``queries`` against the gallery."""
        Q = self._check_embeddings(queries, "queries")
        if self.n_features is None:
            raise ValueError("the gallery is empty: add items to the index before searching it.")
        Q, E, sq_norms = self._entries.searched(self, Q, query_cameras)
        return BlockedDistances(Q, E, self.metric, gallery_sq_norms=sq_norms,
                                gallery_normalized=True)

    def distance_blocks(self, queries, *, rerank=None, query_cameras=None):
        """Yield ``(rows, distances)``: blocks of the full query x gallery distance matrix.

        ``rerank`` (None, True or a dict of k1, k2, lambda_value): the k-reciprocal re-ranked
        distances instead, computed for all queries at once (see :meth:`search`).
        """
        params = check_rerank(rerank)
        blocked = self.distances(queries, query_cameras=query_cameras)
        if params is None:
            yield from blocked.row_blocks()
            return
        reranked = self._reranked(blocked, params)
        step = blocked.rows_per_block()
        for start in range(0, blocked.n_queries, step):
            rows = slice(start, min(start + step, blocked.n_queries))
            yield rows, reranked[rows]

    def _reranked(self, blocked, params):
        return rerank_k_reciprocal(blocked.queries, blocked.gallery, metric=self.metric,
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
        k = check_k(k, len(self))
        params = check_rerank(rerank)
        blocked = self.distances(queries, query_cameras=query_cameras)
        groups = exclusion(self, blocked.n_queries, exclude_same_camera, query_cameras,
                           query_ids)
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

    def build(self):
        """Build the faiss index now (else it is built on the first search); returns self."""
        if self.backend != "faiss":
            return self
        if len(self) == 0:
            raise ValueError("the gallery is empty: add items to the index before searching it.")
        if self._faiss is None:
            self._faiss, self._faiss_info = _faiss.build_faiss(  # camera-normalised if asked
                self._entries.searched(self)[1], self.metric, self.faiss_params)
        return self

    # ----------------------------------------------------------------- save/load
    def save(self, path, *, overwrite=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
        """Write the index to ``path`` (a skreid archive: JSON + ``.npy``, no pickle), atomically.

        With the faiss backend the faiss index is stored too (faiss's own serialisation), so
        loading does not rebuild it. An existing file is replaced only if it is a gallery
        index (else :class:`FileExistsError`, unless ``overwrite=True``); writers of one path
        take turns (at most ``lock_timeout`` seconds of waiting, then
        :class:`~skreid.utils.FileLockedError`), and readers see the old file or the new one.
        Returns ``self``.
        """
        save_index(self, path, overwrite=overwrite, lock_timeout=lock_timeout)
        return self

    @classmethod
    def load(cls, path, *, n_features=None, model_fingerprint=None):
        """Read an index written by :meth:`save`.

        ``n_features`` / ``model_fingerprint``, when given, must match what the index recorded
        (else :class:`IncompatibleIndexError`): pass the current model's so that an index built
        with another model is refused before any search.

        Raises
        ------
        FileNotFoundError
            ``path`` does not exist.
        skreid.utils.UnsafeArchiveError
            (a ValueError) the file is not a gallery index skreid can load safely: damaged,
            truncated, crafted, or written by a newer skreid; the message names what is wrong.
        IncompatibleIndexError
            The index was built with another model.
        """
        return load_index(cls, path, n_features=n_features, model_fingerprint=model_fingerprint)

    def __getstate__(self):
        state = self.__dict__.copy()
        if state["_faiss"] is not None:  # a SWIG object: pickle faiss's own bytes instead
            state["_faiss"] = _faiss.serialize(state["_faiss"])
        return state

    def __setstate__(self, state):
        state.setdefault("_entries", EntryState())  # pickled before tracklets existed
        if isinstance(state.get("_faiss"), bytes):
            state["_faiss"] = _faiss.deserialize(state["_faiss"])
        self.__dict__.update(state)
