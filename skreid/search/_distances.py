"""The one blocked query x gallery distance computation of skreid.

Every query x gallery comparison in skreid goes through :class:`BlockedDistances`: the exact
search of :class:`~skreid.search.GalleryIndex`, the re-ID estimators' gallery (``ReIDMixin``)
and :func:`~skreid.metrics.evaluate_reid`. It computes one block of rows (and optionally of
columns) at a time, so memory is bounded by the block, never by the gallery size.

A block is first computed as *ranking values*, which order the gallery exactly as the distance
does but skip work that does not change the order: the squared euclidean distance (no sqrt) and
the negated cosine similarity (``1 - cos`` without the ``1 -``). :meth:`BlockedDistances.finish`
turns ranking values into distances (``sqrt(max(v, 0))``, ``1 + v``) in place; doing this
always with the same operations makes a ranked top-k and the full matrix agree to the bit.
"""

import numpy as np

__all__ = ["BlockedDistances", "SEARCH_METRICS", "check_search_metric", "l2_normalize"]

#: Metrics with a fast GEMM path (every search backend supports them).
SEARCH_METRICS = ("euclidean", "cosine")

# Elements in one distance block: 16M floats, 64 MB in float32, whatever the gallery size.
BLOCK_ELEMENTS = 2**24


def check_search_metric(metric):
    """Return ``metric`` if it is one of :data:`SEARCH_METRICS`, else raise ValueError."""
    if not isinstance(metric, str) or metric not in SEARCH_METRICS:
        raise ValueError(f"metric must be one of {list(SEARCH_METRICS)}, got {metric!r}.")
    return metric


def l2_normalize(X):
    """Rows of ``X`` divided by their L2 norm; an all-zero row stays zero (not NaN).

    Raises ValueError when a norm overflows (the features must be rescaled).
    """
    with np.errstate(over="ignore"):
        norms = np.linalg.norm(X, axis=1, keepdims=True)
    if not np.isfinite(norms).all():
        raise _overflow(X.dtype, X)
    return X / np.where(norms > 0, norms, 1).astype(X.dtype)


def _overflow(dtype, *arrays):
    """The error for distances that are not finite: NaN or infinite features said as such
    (an embedder that produced NaN is not a scaling problem), else a true overflow."""
    for what, test in (("NaN", np.isnan), ("infinite", np.isinf)):
        rows = [np.flatnonzero(test(a).any(axis=1)) for a in arrays if a.ndim == 2]
        if any(r.size for r in rows):
            n = sum(r.size for r in rows)
            return ValueError(
                f"the query or gallery features contain {what} values ({n} row(s), first at "
                f"row {int(next(r for r in rows if r.size)[0])}): they are not embeddings "
                f"of images; check the model that produced them."
            )
    return ValueError(
        f"the query or gallery features are too large: their distances overflow {dtype}. "
        "Rescale the features (or pass float64 arrays)."
    )


class BlockedDistances:
    """Query x gallery distances computed block by block.

    Parameters
    ----------
    queries, gallery : ndarray of shape (n, n_features)
        Float arrays. Two float32 arrays are compared in float32 (as torchreid and fast-reid
        do, twice as fast); anything else in float64.
    metric : str
        ``"euclidean"``, ``"sqeuclidean"``, ``"cosine"``, or (slow path, rows only) any metric
        name of :func:`sklearn.metrics.pairwise_distances`.
    gallery_sq_norms : ndarray of shape (n_gallery,), optional
        Precomputed squared norms of ``gallery`` (euclidean); saves a pass over the gallery.
    gallery_normalized : bool, default=False
        With ``metric="cosine"``: the gallery rows are already L2-normalised.
    """

    def __init__(self, queries, gallery, metric, *, gallery_sq_norms=None,
                 gallery_normalized=False):
        if queries.dtype != gallery.dtype or queries.dtype.kind != "f":
            queries, gallery = queries.astype(np.float64), gallery.astype(np.float64)
            gallery_sq_norms = None
        self.metric = metric
        self.n_queries, self.n_gallery = queries.shape[0], gallery.shape[0]
        if metric in ("euclidean", "sqeuclidean"):
            with np.errstate(over="ignore"):
                self._q_sq = np.einsum("ij,ij->i", queries, queries)
                if gallery_sq_norms is None:
                    gallery_sq_norms = np.einsum("ij,ij->i", gallery, gallery)
                # |q - g|^2 <= 2 (|q|^2 + |g|^2): if this bound is finite no block overflows
                bound = 2 * (self._q_sq.max(initial=0) + gallery_sq_norms.max(initial=0))
            if not np.isfinite(bound):
                raise _overflow(queries.dtype, queries, gallery)
            self._g_sq = gallery_sq_norms
        elif metric == "cosine":
            queries = l2_normalize(queries)
            if not gallery_normalized:
                gallery = l2_normalize(gallery)
        self.queries, self.gallery = queries, gallery

    def rows_per_block(self, n_columns=None, max_elements=BLOCK_ELEMENTS):
        """Query rows per block so a block of ``n_columns`` holds at most ``max_elements``."""
        n_columns = self.n_gallery if n_columns is None else n_columns
        return max(1, max_elements // max(1, n_columns))

    def ranking(self, rows, cols=slice(None)):
        """Ranking values of ``queries[rows]`` x ``gallery[cols]`` (smaller = closer).

        Squared euclidean distances, or negated cosine similarities: the order of the
        distances, without the final sqrt / ``1 -``. The returned block is a new array.
        """
        q = self.queries[rows]
        g = self.gallery[cols]
        if self.metric in ("euclidean", "sqeuclidean"):
            d = q @ g.T
            d *= -2
            d += self._q_sq[rows, None]
            d += self._g_sq[cols][None, :]
            return d
        if self.metric == "cosine":
            d = q @ g.T
            np.negative(d, out=d)
            return d
        from sklearn.metrics import pairwise_distances

        d = pairwise_distances(q, g, metric=self.metric)
        if not np.isfinite(d).all():
            raise _overflow(q.dtype, q, g)
        return d

    def finish(self, values):
        """Turn ranking values into distances, in place; returns ``values``."""
        if self.metric == "euclidean":
            np.maximum(values, 0, out=values)
            np.sqrt(values, out=values)
        elif self.metric == "cosine":
            values += 1
        return values

    def distances(self, rows, cols=slice(None)):
        """Distances of ``queries[rows]`` x ``gallery[cols]``."""
        return self.finish(self.ranking(rows, cols))

    def row_blocks(self, max_elements=BLOCK_ELEMENTS, *, ranking=False):
        """Yield ``(rows, block)`` over all queries, each block holding the whole gallery."""
        step = self.rows_per_block(max_elements=max_elements)
        for start in range(0, self.n_queries, step):
            rows = slice(start, min(start + step, self.n_queries))
            yield rows, (self.ranking(rows) if ranking else self.distances(rows))
