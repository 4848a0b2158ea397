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

__all__ = ["EntryState", "ENTRY_ARRAYS", "add_tracklets"]


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

    def __getstate__(self):  # the searched gallery is a cache, rebuilt when needed
        return {**self.__dict__, "_searched": None}

    @property
    def used(self):
        return self.tracklets or self.camera_normalization is not None

    def changed(self):
        """The entries changed: statistics and the searched gallery are estimated again."""
        self.stats = self._searched = None

    # ---------------------------------------------------------------- tracklets
    def check_mode(self, n_items, tracklets, keys):
        if tracklets is None:
            if self.tracklets and n_items:
                raise ValueError("this index pools tracklets: add(..., tracklets=...) needs the "
                                 "tracklet id of every crop.")
            return
        if keys is not None:
            raise ValueError("keys= and tracklets= cannot be combined: the keys of a tracklet "
                             "index are its tracklet ids (str(tracklet)).")
        if n_items and not self.tracklets:
            raise ValueError("this index holds single images; tracklets= needs an index of "
                             "tracklets (build a new index, adding crops with tracklets=).")

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

    def keep(self, mask):
        if self.tracklets:
            self.sum, self.count, self.max = self.sum[mask], self.count[mask], self.max[mask]

    # ------------------------------------------------------- camera normalisation
    def statistics(self, embeddings, cameras):
        """The camera statistics of the current entries (estimated once per change)."""
        if self.camera_normalization is None:
            return None
        if self.stats is None:
            cams = np.full(len(embeddings), -1) if cameras is None else cameras
            self.stats = CameraStatistics(self.camera_normalization).fit(embeddings, cams)
        return self.stats

    def searched(self, embeddings, sq_norms, cameras, metric):
        """``(embeddings, sq_norms)`` of the gallery as searched (camera-normalised)."""
        if self.camera_normalization is None or not len(embeddings):
            return embeddings, sq_norms
        if self._searched is None:
            cams = np.full(len(embeddings), -1) if cameras is None else cameras
            E = self.statistics(embeddings, cameras).transform(embeddings, cams)
            if metric == "cosine":
                E = l2_normalize(E)
            self._searched = E, np.einsum("ij,ij->i", E, E)
        return self._searched

    def queries(self, Q, query_cameras, embeddings, cameras):
        """Queries normalised with their cameras' statistics (unchanged without)."""
        stats = self.statistics(embeddings, cameras)
        if stats is None:
            return Q
        if query_cameras is not None:
            query_cameras = np.asarray([-1 if c is None else c for c in query_cameras])
            if query_cameras.shape != (len(Q),):
                raise ValueError(f"query_cameras has {len(query_cameras)} entries for "
                                 f"{len(Q)} queries.")
        return stats._transform(Q, query_cameras, "query_cameras", stacklevel=6)

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
        state.tracklets = bool(saved.get("tracklets", False))
        if state.tracklets:
            state.sum = np.asarray(arrays["tracklet_sum"], dtype=np.float64)
            state.count = np.asarray(arrays["tracklet_count"], dtype=np.int64)
            state.max = np.asarray(arrays["tracklet_max"], dtype=np.float32)
            shape = (n_items, n_features if n_items else state.sum.shape[-1])
            if (state.sum.shape != shape or state.max.shape != shape
                    or state.count.shape != (n_items,) or (state.count < 1).any()):
                raise ValueError("its tracklet sums do not match the entries")
        if state.camera_normalization is not None and _STATS["means"] in arrays:
            values = {name: arrays[member] for name, member in _STATS.items()
                      if member in arrays}
            values.update(mode=state.camera_normalization,
                          min_samples=saved.get("camera_min_samples", 5))
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
                                              zip(pair[0][new].tolist(), pair[1][new], strict=True)]
        index._append(state.pooled(grouped["sum"][new], grouped["count"][new],
                                   grouped["max"][new]),
                      pick(grouped["ids"]), pick(grouped["cameras"]), grouped["keys"][new])
        state.append(grouped, new)
    if (~new).any():
        at, vectors = state.update(grouped, ~new)
        if index.metric == "cosine":
            vectors = l2_normalize(vectors)
        if not index.embeddings.flags.writeable:  # e.g. loaded from a file
            index.embeddings = index.embeddings.copy()
        index.embeddings[at] = vectors
        index._sq_norms[at] = np.einsum("ij,ij->i", vectors, vectors)
        index._faiss = index._faiss_info = None  # faiss cannot update an entry: rebuild
        state.changed()
    return index
