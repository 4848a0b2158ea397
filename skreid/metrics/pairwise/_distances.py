"""The one blocked query x gallery distance computation of skreid.

Every comparison of feature vectors in skreid goes through :class:`BlockedDistances`: the
evaluation (:func:`~skreid.metrics.evaluate_reid` and the validation rank-1 of training), the
re-ranking and query expansion of this package, the exact search of
:class:`~skreid.search.GalleryIndex` and so the re-ID estimators' gallery. It computes one block
of rows (and optionally of columns) at a time, so memory is bounded by the block, never by the
gallery size.

A block is first computed as *ranking values*, which order the gallery exactly as the distance
does but skip work that does not change the order: the squared euclidean distance (no sqrt) and
the negated cosine similarity (``1 - cos`` without the ``1 -``). :meth:`BlockedDistances.finish`
turns ranking values into distances (``sqrt(max(v, 0))``, ``1 + v``) in place; doing this
always with the same operations makes a ranked top-k and the full matrix agree to the bit.
"""

import numpy as np

from skreid.metrics.pairwise._validation import BLOCK_ELEMENTS, check_metric
from skreid.utils import check_features

__all__ = [
    "BlockedDistances",
    "l2_normalize",
    "pairwise_distances",
    "pairwise_distances_chunked",
]


def l2_normalize(X):
    """Rows of ``X`` divided by their L2 norm; an all-zero row stays zero (not NaN).

    Raises ValueError when a norm overflows (the features must be rescaled).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import l2_normalize
    >>> l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    array([[0.6, 0.8],
           [0. , 0. ]])
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
    gallery_normalized, queries_normalized : bool, default=False
        With ``metric="cosine"``: the gallery (queries) rows are already L2-normalised, and
        are used as they are (normalising a unit vector again may change its last bits).

    The arrays are used as given: validate them first (:func:`skreid.utils.check_features`,
    as :func:`pairwise_distances` does).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import BlockedDistances
    >>> q, g = np.array([[0.0, 0.0]]), np.array([[3.0, 4.0], [1.0, 0.0]])
    >>> blocked = BlockedDistances(q, g, "euclidean")
    >>> blocked.ranking(slice(None))  # squared distances: the order, without the sqrt
    array([[25.,  1.]])
    >>> blocked.distances(slice(None))
    array([[5., 1.]])
    """

    def __init__(self, queries, gallery, metric, *, gallery_sq_norms=None,
                 gallery_normalized=False, queries_normalized=False):
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
            if not queries_normalized:
                queries = l2_normalize(queries)
            if not gallery_normalized:
                gallery = l2_normalize(gallery)
        self.queries, self.gallery = queries, gallery
        # the queries times -2 (euclidean) or -1 (cosine): scaling by a power of two is exact,
        # so the product gives -2 q.g (-q.g) to the bit, without a pass over each block
        if metric in ("euclidean", "sqeuclidean", "cosine"):
            self._scaled = queries * (-1 if metric == "cosine" else -2)

    def rows_per_block(self, n_columns=None, max_elements=None):
        """Query rows per block so a block of ``n_columns`` (default: the whole gallery) holds
        at most ``max_elements`` (default :data:`BLOCK_ELEMENTS`)."""
        n_columns = self.n_gallery if n_columns is None else n_columns
        max_elements = BLOCK_ELEMENTS if max_elements is None else max_elements
        return max(1, max_elements // max(1, n_columns))

    def ranking(self, rows, cols=slice(None)):
        """Ranking values of ``queries[rows]`` x ``gallery[cols]`` (smaller = closer).

        Squared euclidean distances, or negated cosine similarities: the order of the
        distances, without the final sqrt / ``1 -``. The returned block is a new array.
        """
        g = self.gallery[cols]
        if self.metric in ("euclidean", "sqeuclidean"):
            d = self._scaled[rows] @ g.T  # -2 q.g
            d += self._q_sq[rows, None]
            d += self._g_sq[cols][None, :]
            return d
        if self.metric == "cosine":
            return self._scaled[rows] @ g.T  # -cos
        q = self.queries[rows]
        from sklearn.metrics import pairwise_distances as sklearn_distances

        d = sklearn_distances(q, g, metric=self.metric)
        if not np.isfinite(d).all():
            raise _overflow(q.dtype, q, g)
        return d

    def pair_ranking(self, rows, cols):
        """Ranking values of the pairs ``(queries[rows[k]], gallery[cols[k]])``, 1-D.

        The same operations as :meth:`ranking` on each pair (a dot product instead of a
        matrix product), computed a block of pairs at a time. Euclidean and cosine only.
        """
        rows, cols = np.asarray(rows), np.asarray(cols)
        out = np.empty(len(rows), dtype=self.queries.dtype)
        step = max(1, BLOCK_ELEMENTS // (2 * max(1, self.queries.shape[1])))
        for s in range(0, len(rows), step):
            r, c = rows[s : s + step], cols[s : s + step]
            d = np.einsum("ij,ij->i", self.queries[r], self.gallery[c])
            if self.metric in ("euclidean", "sqeuclidean"):
                d *= -2
                d += self._q_sq[r]
                d += self._g_sq[c]
            elif self.metric == "cosine":
                np.negative(d, out=d)
            else:
                raise ValueError(f"pair_ranking needs metric 'euclidean', 'sqeuclidean' or "
                                 f"'cosine', got {self.metric!r}.")
            out[s : s + step] = d
        return out

    def finish(self, values):
        """Turn ranking values into distances, in place; returns ``values``."""
        if self.metric == "euclidean":
            np.maximum(values, 0, out=values)
            np.sqrt(values, out=values)
        elif self.metric == "cosine":
            values += 1
        elif self.metric == "sqeuclidean":
            np.maximum(values, 0, out=values)
        return values

    def distances(self, rows, cols=slice(None)):
        """Distances of ``queries[rows]`` x ``gallery[cols]``."""
        return self.finish(self.ranking(rows, cols))

    def row_blocks(self, max_elements=None, *, ranking=False):
        """Yield ``(rows, block)`` over all queries, each block holding the whole gallery."""
        step = self.rows_per_block(max_elements=max_elements)
        for start in range(0, self.n_queries, step):
            rows = slice(start, min(start + step, self.n_queries))
            yield rows, (self.ranking(rows) if ranking else self.distances(rows))


def _prepare(X, Y, metric):
    metric = check_metric(metric, sklearn=True)
    X = check_features(X, "X")
    Y = X if Y is None else check_features(Y, "Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(
            f"Y has {Y.shape[1]} features but X has {X.shape[1]}: they must match."
        )
    return BlockedDistances(X, Y, metric)


def _blocks(blocked, same, max_elements):
    for rows, block in blocked.row_blocks(max_elements):
        if same:  # exact zeros on the diagonal, as scikit-learn gives
            block[np.arange(rows.stop - rows.start), np.arange(rows.start, rows.stop)] = 0
        yield rows, block


def pairwise_distances_chunked(X, Y=None, *, metric="euclidean", max_elements=None):
    """Yield ``(rows, distances)``: blocks of rows of the ``X`` x ``Y`` distance matrix.

    Like :func:`sklearn.metrics.pairwise_distances_chunked`, with memory bounded by
    ``max_elements`` distances per block whatever the sizes.

    Parameters
    ----------
    X : array-like of shape (n_x, n_features)
    Y : array-like of shape (n_y, n_features), default=None
        None: ``X`` against itself.
    metric : str, default="euclidean"
        One of :data:`DISTANCE_METRICS`, or any metric name of
        :func:`sklearn.metrics.pairwise_distances` (computed by scikit-learn, slower).
        Two float32 arrays are compared in float32, anything else in float64.
    max_elements : int, optional
        Distances per block; default :data:`BLOCK_ELEMENTS`.

    Yields
    ------
    rows : slice
        The rows of ``X`` in this block.
    distances : ndarray of shape (rows.stop - rows.start, n_y)
        With ``Y=None`` the diagonal is exactly 0, as scikit-learn gives it.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import pairwise_distances_chunked
    >>> X = np.arange(8.0).reshape(4, 2)
    >>> [(rows.start, block.shape) for rows, block in pairwise_distances_chunked(X, max_elements=8)]
    [(0, (2, 4)), (2, (2, 4))]
    """
    yield from _blocks(_prepare(X, Y, metric), Y is None, max_elements)


def pairwise_distances(X, Y=None, *, metric="euclidean"):
    """The ``X`` x ``Y`` distance matrix, computed by the blocked engine.

    Parameters
    ----------
    X : array-like of shape (n_x, n_features)
    Y : array-like of shape (n_y, n_features), default=None
        None: ``X`` against itself.
    metric : str, default="euclidean"
        As in :func:`pairwise_distances_chunked`.

    Returns
    -------
    distances : ndarray of shape (n_x, n_y)
        float32 for two float32 arrays, float64 otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import pairwise_distances
    >>> pairwise_distances(np.array([[0.0, 0.0], [3.0, 4.0]]))
    array([[0., 5.],
           [5., 0.]])
    """
    blocked = _prepare(X, Y, metric)
    out = np.empty((blocked.n_queries, blocked.n_gallery), dtype=blocked.queries.dtype)
    for rows, block in _blocks(blocked, Y is None, None):
        out[rows] = block
    return out
