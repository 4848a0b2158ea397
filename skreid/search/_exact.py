"""Exact k-nearest-neighbour search in blocks: memory bounded by one block, whatever the size.

The query x gallery matrix is cut into blocks of at most ``BLOCK_ELEMENTS`` entries: a few
hundred queries against 65,536 gallery columns for a large gallery, all the columns at once for
a small one. Each block keeps its k best per query, merged into a running top-k, so the full
matrix never exists. The order is ``(distance, gallery position)``, ties going to the earlier
gallery item, as a stable sort of the whole row would give.
"""

import numpy as np

from skreid.metrics.pairwise import BLOCK_ELEMENTS

__all__ = ["exact_search", "topk_rows"]

# Gallery columns per block for a large gallery: 65,536 columns x 128 query rows = 8M floats.
_COLUMNS = 2**16


def topk_rows(values, k):
    """The ``k`` smallest entries of each row, ordered by (value, column).

    Returns ``(values, columns)``, both of shape ``(n_rows, min(k, n_columns))``.
    """
    n = values.shape[1]
    if k >= n:
        idx = np.argsort(values, axis=1, kind="stable")
        return np.take_along_axis(values, idx, 1), idx
    part = np.argpartition(values, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(values, part, 1).max(axis=1)
    # When several entries equal the k-th value, argpartition keeps an arbitrary subset of
    # them; a stable sort would keep the earliest columns. Rare with continuous features, so
    # only those rows are redone.
    for r in np.flatnonzero(np.count_nonzero(values <= kth[:, None], axis=1) > k):
        less = np.flatnonzero(values[r] < kth[r])
        part[r] = np.concatenate([less, np.flatnonzero(values[r] == kth[r])[: k - len(less)]])
    part.sort(axis=1)
    order = np.argsort(np.take_along_axis(values, part, 1), axis=1, kind="stable")
    idx = np.take_along_axis(part, order, 1)
    return np.take_along_axis(values, idx, 1), idx


def _merge(best, rows, cols, vals, n_rows, k):
    """Keep the k best of ``best`` (running ``(values, positions)``) and new candidates.

    Candidates are ``(rows, cols, vals)`` triplets; the order is (value, position).
    """
    if best is not None:
        bv, bp = best
        rows = np.concatenate([np.repeat(np.arange(n_rows), bv.shape[1]), rows])
        cols, vals = np.concatenate([bp.ravel(), cols]), np.concatenate([bv.ravel(), vals])
    order = np.lexsort((cols, vals, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    starts = np.searchsorted(rows, np.arange(n_rows))
    keep = np.arange(len(rows)) - starts[rows] < k
    return vals[keep].reshape(n_rows, k), cols[keep].reshape(n_rows, k)


def exact_search(blocked, k, exclude=None, max_elements=BLOCK_ELEMENTS):
    """The ``k`` nearest gallery items of every query, best first.

    Parameters
    ----------
    blocked : BlockedDistances
        The queries and the gallery.
    k : int
        Neighbours per query, ``1 <= k <= n_gallery``.
    exclude : callable, optional
        ``exclude(rows, cols)`` returns a boolean mask (or None) of the (query, gallery) pairs
        to leave out of the ranking.
    max_elements : int
        Entries per block.

    Returns
    -------
    distances : ndarray of shape (n_queries, k)
        ``inf`` where fewer than ``k`` items were left after ``exclude``.
    positions : ndarray of shape (n_queries, k), int64
        Gallery positions, -1 where the distance is ``inf``.

    Notes
    -----
    Only the first column block of each row block is partitioned (``np.partition``, to find
    each row's k-th value); later blocks only compare against the running k-th best, which
    lets few entries through, so the selection costs little more than one pass over the block.
    """
    n_q, n_g = blocked.n_queries, blocked.n_gallery
    # a large k (a full ranking) is selected from whole rows: merging k-wide candidate lists
    # block after block would cost more than the block itself
    full_rows = n_g <= _COLUMNS or 2 * k > _COLUMNS
    width = n_g if full_rows else _COLUMNS
    step = blocked.rows_per_block(width, max_elements)
    dist = np.empty((n_q, k), dtype=blocked.queries.dtype)
    pos = np.empty((n_q, k), dtype=np.int64)
    for start in range(0, n_q, step):
        rows = slice(start, min(start + step, n_q))
        n_rows = rows.stop - rows.start
        best = None
        for c0 in range(0, n_g, width):
            cols = slice(c0, min(c0 + width, n_g))
            values = blocked.ranking(rows, cols)
            if exclude is not None:
                mask = exclude(rows, cols)
                if mask is not None:
                    values[mask] = np.inf
            if full_rows:
                best = topk_rows(values, k)
                continue
            take = None
            if best is not None:
                # strictly below the running k-th best: an equal value at a later position loses
                take = values < best[0][:, -1:]
                if np.count_nonzero(take) > 4 * k * n_rows:
                    take = None  # too many: partition this block as well
            if take is None:
                kth = np.partition(values, k - 1, axis=1)[:, k - 1 : k]
                take = values <= kth if best is None else (values <= kth) & (
                    values < best[0][:, -1:])
            r, c = np.nonzero(take)
            best = _merge(best, r, c + c0, values[r, c], n_rows, k)
        dist[rows], pos[rows] = blocked.finish(best[0]), best[1]
    pos[np.isinf(dist)] = -1
    return dist, pos
