"""What a :class:`~skreid.search.GalleryIndex` searches beyond its stored embeddings: tracklet
entries updated as crops arrive, and per-camera normalisation.

- **Tracklets.** ``add(..., tracklets=)`` pools the crops of each tracklet into one entry (key:
  the tracklet id). The index keeps each entry's running sum and count of L2-normalised crops
  (and running maximum for ``tracklet_pooling="max"``), so adding crops to a tracklet already
  in the index updates its entry exactly: the same vector as pooling all its crops at once
  (:func:`skreid.metrics.pairwise.pool_tracklets`).
- **Camera normalisation.** With ``camera_normalization``, each camera's statistics
  (:class:`skreid.metrics.pairwise.CameraStatistics`) are estimated from the entries, again
  after every change (lazily, at the next search), and saved with the index; the gallery is
  searched normalised, and queries are normalised with their ``query_cameras``' statistics.
"""

import numpy as np

from skreid.metrics.pairwise import (
    CameraStatistics,
    check_camera_normalization,
    check_tracklet_pooling,
    check_tracklets,
    l2_normalize,
    tracklet_values,
)
from skreid.search._items import labels

__all__ = ["EntryState", "EntriesMixin", "ENTRY_ARRAYS", "add_tracklets"]


_STATS = {"cameras": "camera_ids", "counts": "camera_counts", "means": "camera_means",
          "global_mean": "camera_global_mean", "whitening": "camera_whitening",
          "global_whitening": "camera_global_whitening"}
#: The archive members this module adds to a saved index (besides the base layout).
ENTRY_ARRAYS = ("tracklet_sum", "tracklet_count", "tracklet_max", *_STATS.values())


class EntryState:
    """The tracklet sums and camera statistics of one index (see the module docstring)."""

    def __init__(self, camera_normalization=None, tracklet_pooling="mean"):
        self.camera_normalization = check_camera_normalization(camera_normalization)
        self.tracklet_pooling = check_tracklet_pooling(tracklet_pooling)
        self.tracklets = False  # an index of tracklets (decided by its first add)
        self.sum = self.count = self.max = None
        self.stats = None  # CameraStatistics of the current entries, None until needed
        self._searched = None  # (embeddings, sq_norms) as searched, None until needed
        self._appending = False  # add_tracklets is appending new entries through add

    def __getstate__(self):  # the searched gallery is a cache, rebuilt when needed
        return {**self.__dict__, "_searched": None}

    @property
    def used(self):
        return self.tracklets or self.camera_normalization is not None

    def changed(self, index=None):
        """The entries changed: statistics and the searched gallery are estimated again (and
        ``index``'s faiss index rebuilt, as every searched vector moves with the statistics)."""
        self.stats = self._searched = None
        if index is not None and self.camera_normalization is not None:
            index._faiss = index._faiss_info = None

    def check_update(self, X, cameras):
        """``GalleryIndex.update``: a tracklet entry changes only as crops are added."""
        if self.tracklets and (X is not None or cameras is not None):
            raise ValueError("the embeddings and cameras of a tracklet index change as crops "
                             "are added (add(..., tracklets=)); remove a tracklet to replace it.")

    # ---------------------------------------------------------------- tracklets
    def check_mode(self, n_items, tracklets, keys):
        """True when ``add`` got the crops of tracklets; refuses what the index cannot take.
        (While :func:`add_tracklets` appends new entries, ``add`` appends them as items.)"""
        if getattr(self, "_appending", False):
            return False
        if tracklets is None:
            if self.tracklets and n_items:
                raise ValueError("this index pools tracklets: add(..., tracklets=...) needs the "
                                 "tracklet id of every crop.")
            return False
        if keys is not None:
            raise ValueError("keys= and tracklets= cannot be combined: the keys of a tracklet "
                             "index are its tracklet ids (str(tracklet)).")
        if n_items and not self.tracklets:
            raise ValueError("this index holds single images; tracklets= needs an index of "
                             "tracklets (build a new index, adding crops with tracklets=).")
        return True

    def group(self, X, tracklets, ids, cameras, index_keys, index_cameras, index_ids):
        """Pool a batch of crops per tracklet, checked against the index; changes nothing.

        ``ids``/``cameras`` are ``(values, known)`` pairs (or None) as ``GalleryIndex``
        reads them. Returns a dict: ``keys`` (str tracklet id per group), ``sum``, ``count``,
        ``max``, ``ids``, ``cameras`` per group, and ``existing`` (the index position of each
        group's tracklet, -1 for a new one).
        """
        tracklets = check_tracklets(tracklets, len(X), "tracklets", "embeddings")
        unique, inverse, counts = np.unique(tracklets, return_inverse=True, return_counts=True)
        unit = l2_normalize(X.astype(np.float64))
        order = np.argsort(inverse, kind="stable")
        starts = np.cumsum(counts) - counts
        out = {"keys": np.asarray([str(t) for t in unique.tolist()], dtype=str),
               "sum": np.add.reduceat(unit[order], starts, axis=0),
               "count": counts.astype(np.int64),
               "max": np.maximum.reduceat(unit[order], starts, axis=0).astype(np.float32)}
        for name, given, label in (("ids", ids, "identity"), ("cameras", cameras, "camera")):
            if given is None:
                out[name] = None
                continue
            values, known = given
            # unknown (None) entries must agree too: a tracklet is one person, one camera
            coded = values if known.all() else np.where(known, values.astype(str), "unknown")
            tracklet_values(coded, tracklets, label)
            out[name] = (values[order][starts], known[order][starts])
        existing = np.full(len(unique), -1)
        if index_keys is not None and len(index_keys):
            pos = {k: i for i, k in enumerate(index_keys.tolist())}
            existing = np.array([pos.get(k, -1) for k in out["keys"].tolist()])
        for g in np.flatnonzero(existing >= 0):
            self._check_same(out, g, existing[g], index_cameras, index_ids)
        out["existing"] = existing
        return out

    @staticmethod
    def _check_same(out, g, at, index_cameras, index_ids):
        key = str(out["keys"][g])
        if out["cameras"] is not None:
            new = int(out["cameras"][0][g]) if out["cameras"][1][g] else -1
            old = -1 if index_cameras is None else int(index_cameras[at])
            if new != old:
                raise ValueError(f"tracklets: tracklet {key!r} is in the index with camera "
                                 f"{old}, and these crops have camera {new}: a tracklet holds "
                                 "one camera's images (use a new tracklet id).")
        if out["ids"] is not None and index_ids is not None:
            values, known = out["ids"]
            old_ids, old_known = index_ids
            if known[g] and old_known[at] and values[g] != old_ids[at]:
                raise ValueError(f"tracklets: tracklet {key!r} is in the index with identity "
                                 f"{old_ids[at].tolist()!r}, and these crops have identity "
                                 f"{values[g].tolist()!r}: a tracklet is one person.")

    def pooled(self, sums, counts, maxima):
        """The entry vectors of tracklets with these running values, float32."""
        if self.tracklet_pooling == "max":
            return maxima.astype(np.float32)
        return (sums / counts[:, None]).astype(np.float32)

    def append(self, grouped, new):
        """Record the running values of the new groups ``new`` (a boolean mask)."""
        self.tracklets = True
        parts = {"sum": grouped["sum"][new], "count": grouped["count"][new],
                 "max": grouped["max"][new]}
        for name, value in parts.items():
            old = getattr(self, name)
            setattr(self, name, value if old is None else np.concatenate([old, value]))

    def update(self, grouped, groups):
        """Add the groups ``groups`` to their tracklets already in the index; returns
        ``(positions, new entry vectors)``."""
        at = grouped["existing"][groups]
        self.sum[at] += grouped["sum"][groups]
        self.count[at] += grouped["count"][groups]
        self.max[at] = np.maximum(self.max[at], grouped["max"][groups])
        return at, self.pooled(self.sum[at], self.count[at], self.max[at])

    def keep(self, mask, index):
        """``index`` removed the entries outside ``mask``."""
        if self.tracklets:
            self.sum, self.count, self.max = self.sum[mask], self.count[mask], self.max[mask]
        self.changed(index)

    # ------------------------------------------------------- camera normalisation
    def statistics(self, embeddings, cameras):
        """The camera statistics of the current entries (estimated once per change)."""
        if self.camera_normalization is None:
            return None
        if self.stats is None:
            cams = np.full(len(embeddings), -1) if cameras is None else cameras
            self.stats = CameraStatistics(self.camera_normalization).fit(embeddings, cams)
        return self.stats

    def searched(self, index, Q=None, query_cameras=None):
        """``(queries, embeddings, sq_norms)`` as searched: camera-normalised (the queries
        with their cameras' statistics), or as they are without ``camera_normalization``."""
        E, sq_norms = index.embeddings, index._sq_norms
        if self.camera_normalization is None or not len(E):
            return Q, E, sq_norms
        stats = self.statistics(E, index.cameras)
        if self._searched is None:
            cams = np.full(len(E), -1) if index.cameras is None else index.cameras
            E = stats.transform(E, cams)
            if index.metric == "cosine":
                E = l2_normalize(E)
            self._searched = E, np.einsum("ij,ij->i", E, E)
        if Q is not None:
            if query_cameras is not None:
                query_cameras = np.asarray([-1 if c is None else c for c in query_cameras])
                if query_cameras.shape != (len(Q),):
                    raise ValueError(f"query_cameras has {len(query_cameras)} entries for "
                                     f"{len(Q)} queries.")
            Q = stats._transform(Q, query_cameras, "query_cameras", stacklevel=6)
        return (Q, *self._searched)

    # ---------------------------------------------------------------- save/load
    def to_archive(self, embeddings, cameras):
        """``(meta, arrays)`` to save (empty when the index uses neither feature)."""
        if not self.used:
            return {}, {}
        meta = {"camera_normalization": self.camera_normalization,
                "tracklet_pooling": self.tracklet_pooling, "tracklets": self.tracklets}
        arrays = {}
        if self.tracklets:
            arrays.update(tracklet_sum=self.sum, tracklet_count=self.count,
                          tracklet_max=self.max)
        stats = self.statistics(embeddings, cameras) if len(embeddings) else None
        if stats is not None:
            meta["camera_min_samples"] = int(stats.min_samples)
            meta["camera_shrinkage"] = float(stats.shrinkage)
            for name, value in stats.to_dict().items():
                if name in _STATS:
                    arrays[_STATS[name]] = value
        return {"matching": meta}, arrays

    @classmethod
    def from_archive(cls, meta, arrays, n_items, n_features):
        """The state saved by :meth:`to_archive` (ValueError when inconsistent)."""
        saved = meta.get("matching") or {}
        if not isinstance(saved, dict):
            raise ValueError("its matching metadata is not a JSON object")
        state = cls(saved.get("camera_normalization"), saved.get("tracklet_pooling", "mean"))
        state.tracklets = saved.get("tracklets", False) is True
        members = [m for m in ENTRY_ARRAYS if m in arrays]
        declared = ENTRY_ARRAYS[:3] * state.tracklets + ENTRY_ARRAYS[3:] * (
            state.camera_normalization is not None)
        if set(members) - set(declared):
            raise ValueError(f"member {sorted(set(members) - set(declared))[0]!r} is not "
                             "declared by its matching metadata")
        if state.tracklets:
            if "keys" not in arrays:
                raise ValueError("a tracklet index needs its keys (the tracklet ids)")
            state.sum = np.asarray(arrays["tracklet_sum"], dtype=np.float64)
            state.count = np.asarray(arrays["tracklet_count"])
            state.max = np.asarray(arrays["tracklet_max"], dtype=np.float32)
            ok = all(a.ndim == 2 and a.shape[0] == n_items and np.isfinite(a).all()
                     and (not n_items or a.shape[1] == n_features)
                     for a in (state.sum, state.max))
            if (not ok or state.count.shape != (n_items,) or state.count.dtype.kind not in "iu"
                    or (state.count < 1).any()):
                raise ValueError("its tracklet sums do not match the entries")
            state.count = state.count.astype(np.int64)
        if state.camera_normalization is not None and _STATS["means"] in arrays:
            values = {name: arrays[member] for name, member in _STATS.items()
                      if member in arrays}
            values.update(mode=state.camera_normalization,
                          min_samples=saved.get("camera_min_samples", 5),
                          shrinkage=saved.get("camera_shrinkage", 0.5))
            state.stats = CameraStatistics.from_dict(values)
            if state.stats.n_features_ != n_features:
                raise ValueError("its camera statistics do not match the embedding width")
        return state


def add_tracklets(index, X, ids, cameras, tracklets):
    """``GalleryIndex.add(..., tracklets=)``: new tracklets are appended as items (checked like
    any other), crops of tracklets already in the index update their entries. ``ids`` and
    ``cameras`` are ``(values, known)`` pairs or None. Nothing changes when a check fails."""
    if cameras is not None and cameras[0].dtype.kind not in "iu":
        raise ValueError(f"cameras must be integers, got {cameras[0][:3].tolist()!r}.")
    state = index._entries
    grouped = state.group(X, tracklets, ids, cameras, index.keys, index.cameras,
                          None if index._ids is None else (index._ids, index._has_id))
    new = grouped["existing"] < 0
    if new.any():
        def pick(pair):
            return None if pair is None else [v if k else None for v, k in
                                              zip(pair[0][new].tolist(), pair[1][new],
                                                  strict=True)]
        state._appending = True
        try:
            index.add(state.pooled(grouped["sum"][new], grouped["count"][new],
                                   grouped["max"][new]),
                      ids=pick(grouped["ids"]), cameras=pick(grouped["cameras"]),
                      keys=grouped["keys"][new])
        finally:
            state._appending = False
        state.append(grouped, new)
    if (~new).any():
        at, vectors = state.update(grouped, ~new)
        if index.metric == "cosine":
            vectors = l2_normalize(vectors)
        index.embeddings, index._sq_norms = index.embeddings.copy(), index._sq_norms.copy()
        index.embeddings[at] = vectors
        index._sq_norms[at] = np.einsum("ij,ij->i", vectors, vectors)
        index._faiss = index._faiss_info = None  # faiss cannot update an entry: rebuild
        state.changed()
    return index


class EntriesMixin:
    """The tracklet and camera-normalisation face of :class:`~skreid.search.GalleryIndex`
    (its state is ``self._entries``, an :class:`EntryState`)."""

    @property
    def camera_normalization(self):
        """None, ``"center"`` or ``"whiten"``: how the index normalises per camera."""
        return self._entries.camera_normalization

    @property
    def tracklet_pooling(self):
        """``"mean"`` or ``"max"``: how a tracklet's crops make its entry."""
        return self._entries.tracklet_pooling

    @property
    def camera_statistics(self):
        """The :class:`~skreid.metrics.pairwise.CameraStatistics` searched with, or None."""
        return self._entries.statistics(self.embeddings, self.cameras) if len(self) else None

    @property
    def tracklet_counts(self):
        """Crops pooled in each entry of a tracklet index (None for single images)."""
        return self._entries.count if self._entries.tracklets else None

    def _add_tracklets(self, X, ids, cameras, tracklets):
        n = len(X)
        return add_tracklets(self, X, None if ids is None else labels(ids, "ids", n, 0),
                             None if cameras is None else labels(cameras, "cameras", n, -1),
                             tracklets)
