"""The vectorised, chunked engine behind the re-ID ranking metrics.

Queries are processed in blocks of ``chunk_size``, so memory is bounded by
``chunk_size x n_gallery`` whatever the number of queries. No gallery index is ever
argsorted: each block's *negative* distances are sorted as values (NumPy's SIMD sort), the
(few) true matches are found from a per-identity index of the gallery, and the rank of each
true match is read off with a vectorised binary search. The result equals the definition
"sort the gallery by distance, drop ignored items, read off the ranks of the true matches"
with pessimistic ties (see :func:`skreid.metrics.evaluate_reid`), which the tests check
against a brute-force per-query loop and a port of the official ``compute_AP.m``.
"""

import numpy as np

from skreid.metrics._checks import (
    check_ap_mode,
    check_camera_pair,
    check_comparable,
    check_distances,
    check_labels,
    check_positive_int,
)


def _check_ranking_problem(
    distances,
    query_ids,
    gallery_ids,
    query_cameras,
    gallery_cameras,
    query_is_gallery,
    chunk_size,
):
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    distances = check_distances(distances, chunk_size)
    n_query, n_gallery = distances.shape
    query_ids = check_labels(query_ids, "query_ids", n_query, "distances (rows)")
    if query_is_gallery:
        if n_query != n_gallery:
            raise ValueError(
                "query_is_gallery=True needs a square distances matrix, got shape "
                f"{distances.shape}."
            )
        if gallery_ids is None:
            gallery_ids = query_ids
        if gallery_cameras is None:
            gallery_cameras = query_cameras
    gallery_ids = check_labels(gallery_ids, "gallery_ids", n_gallery, "distances (columns)")
    check_comparable(query_ids, gallery_ids, "query_ids", "gallery_ids")
    if query_is_gallery and not np.array_equal(query_ids, gallery_ids):
        raise ValueError(
            "query_is_gallery=True but query_ids and gallery_ids differ: the query set and "
            "the gallery must be the same samples in the same order."
        )
    query_cameras, gallery_cameras = check_camera_pair(
        query_cameras, gallery_cameras, n_query, n_gallery
    )
    return distances, query_ids, gallery_ids, query_cameras, gallery_cameras, chunk_size


# the rows are sorted whole when more than 1/_SORT_ROWS_ABOVE of a block's entries rank
# before some true match (see _negatives_up_to)
_SORT_ROWS_ABOVE = 8


def _count_less_equal(sorted_rows, rows, values):
    """For each k, how many entries of ``sorted_rows[rows[k]]`` are <= ``values[k]``.

    A binary search run for all k at once: ~log2(n_gallery) vectorised steps instead of one
    ``np.searchsorted`` call per query.
    """
    n = sorted_rows.shape[1]
    lo = np.zeros(rows.shape[0], dtype=np.intp)
    hi = np.full(rows.shape[0], n, dtype=np.intp)
    for _ in range(int(n).bit_length()):
        mid = (lo + hi) // 2
        active = lo < hi
        probe = sorted_rows[rows, np.minimum(mid, n - 1)] <= values
        lo = np.where(active & probe, mid + 1, lo)
        hi = np.where(active & ~probe, mid, hi)
    return lo


def _negatives_up_to(dist, rows, values):
    """For each k, how many entries of ``dist[rows[k]]`` are <= ``values[k]``.

    ``rows``/``values`` are sorted by row, then value; ``dist`` holds the negatives (+inf
    elsewhere). Only negatives up to a query's last true match can count, usually a few
    hundred of a row: one comparison pass selects them, each is placed among its row's few
    matches by binary search, and a cumulative count gives every match's number, with no
    sort of the rows. When they are many (a poor embedding, its last matches deep in the
    ranking), whole rows are sorted instead; both count exactly.
    """
    n_rows, n_cols = dist.shape
    n_matches = rows.shape[0]
    last = np.append(rows[1:] != rows[:-1], True) if n_matches else np.zeros(0, bool)
    threshold = np.full(n_rows, -np.inf, dtype=dist.dtype)
    threshold[rows[last]] = values[last]
    below = dist <= threshold[:, None]
    if np.count_nonzero(below) > dist.size // _SORT_ROWS_ABOVE:
        dist.sort(axis=1)
        return _count_less_equal(dist, rows, values)
    below = np.flatnonzero(below)
    negatives = dist.ravel()[below]
    neg_rows = below // n_cols  # sorted
    # position of each negative among the matches: the first match of its row at a distance
    # >= its own (a negative equal to a match ranks before it: pessimistic ties)
    if dist.dtype == np.float32:
        pos = np.searchsorted(_row_keys(rows, values), _row_keys(neg_rows, negatives))
    else:
        first = np.searchsorted(rows, np.arange(n_rows))
        lo, hi = first[neg_rows], np.append(first[1:], n_matches)[neg_rows]
        for _ in range(int(np.diff(np.append(first, n_matches)).max(initial=1)).bit_length()):
            mid = (lo + hi) // 2
            active = lo < hi
            less = values[np.minimum(mid, n_matches - 1)] < negatives
            lo = np.where(active & less, mid + 1, lo)
            hi = np.where(active & ~less, mid, hi)
        pos = lo
    # negatives counted by match k: those of its row placed at k or before
    up_to = np.cumsum(np.bincount(pos, minlength=n_matches + 1)[:n_matches])
    before_row = np.searchsorted(neg_rows, rows)  # negatives of the earlier rows
    return up_to - before_row


def _row_keys(rows, values):
    """int64 keys that sort like ``(rows, values)`` for float32 ``values`` (no NaN)."""
    bits = (values + np.float32(0)).view(np.int32)  # + 0: -0.0 becomes +0.0, equal keys
    # IEEE-754 floats order like their bits as sign-magnitude ints: flip negatives' magnitude
    bits = np.where(bits < 0, bits ^ np.int32(0x7FFFFFFF), bits)
    return (rows.astype(np.int64) << 32) + (bits.astype(np.int64) + 2**31)


class _Gallery:
    """Gallery labels indexed once: the gallery items of each identity (so a query's
    same-identity items are found without comparing it to the whole gallery) and the junk
    columns."""

    def __init__(self, gallery_ids, gallery_cameras, junk_id):
        self.ids, self.cameras = gallery_ids, gallery_cameras
        self.order = np.argsort(gallery_ids, kind="stable")
        self.unique, self.starts, self.counts = np.unique(
            gallery_ids[self.order], return_index=True, return_counts=True
        )
        self.junk = np.zeros(gallery_ids.shape[0], dtype=bool)
        if junk_id is not None and gallery_ids.dtype.kind in "iuf":
            self.junk = gallery_ids == junk_id
        self.junk_cols = np.flatnonzero(self.junk)

    def same_id_pairs(self, query_ids):
        """``(rows, cols)`` of every (query, gallery item) pair sharing an identity."""
        pos = np.minimum(np.searchsorted(self.unique, query_ids), self.unique.shape[0] - 1)
        n = np.where(self.unique[pos] == query_ids, self.counts[pos], 0)
        rows = np.repeat(np.arange(query_ids.shape[0]), n)
        offsets = np.arange(rows.shape[0]) - np.repeat(np.cumsum(n) - n, n)
        return rows, self.order[np.repeat(self.starts[pos], n) + offsets]


def _chunk_stats(dist, q_ids, q_cams, gallery, self_cols):
    """Per-query statistics of one block of queries; ``dist`` is overwritten.

    Returns ``n_good, first_rank, last_rank, ap, ap_trapezoid`` (ranks are 1-based, counted
    after removing ignored items; all zero for a query without true match).
    """
    n_rows = dist.shape[0]
    rows, cols = gallery.same_id_pairs(q_ids)
    ignored = gallery.junk[cols]
    if q_cams is not None:
        ignored |= gallery.cameras[cols] == q_cams[rows]
    if self_cols is not None:
        ignored |= cols == self_cols[rows]
    good_rows, good_cols = rows[~ignored], cols[~ignored]
    values = dist[good_rows, good_cols]
    # What remains after this are the negatives: same-identity items (true matches or
    # ignored) and junk go to +inf, which is never counted below a true match since
    # distances are checked finite.
    dist[rows, cols] = np.inf
    dist[:, gallery.junk_cols] = np.inf

    order = np.lexsort((values, good_rows))  # by query, then by distance
    rows, values = good_rows[order], values[order]
    n_good = np.bincount(rows, minlength=n_rows)
    starts = np.cumsum(n_good) - n_good
    i = np.arange(rows.shape[0]) - starts[rows] + 1  # 1-based order among true matches
    # Pessimistic ties: negatives at distance <= the match's come first, so the i-th true
    # match sits at rank i + #(negatives <= its distance).
    rank = i + _negatives_up_to(dist, rows, values)

    first_rank = np.zeros(n_rows, dtype=np.intp)
    last_rank = np.zeros(n_rows, dtype=np.intp)
    first_rank[rows[i == 1]] = rank[i == 1]
    last = i == n_good[rows]
    last_rank[rows[last]] = rank[last]
    precision = i / rank
    # compute_AP.m: the precision one rank earlier is (i - 1) / (rank - 1), or 1 at rank 1.
    old_precision = np.where(rank > 1, (i - 1) / np.maximum(rank - 1, 1), 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.bincount(rows, weights=precision, minlength=n_rows) / n_good
        ap_trap = (
            np.bincount(rows, weights=(old_precision + precision) / 2, minlength=n_rows) / n_good
        )
    return n_good, first_rank, last_rank, ap, ap_trap


def _per_query_stats(
    distance_chunks,
    n_query,
    query_ids,
    gallery_ids,
    query_cameras,
    gallery_cameras,
    query_is_gallery,
    junk_id,
    chunk_size,
):
    """Run :func:`_chunk_stats` over all query blocks; ``distance_chunks(start, stop)`` gives
    a fresh ``(stop - start, n_gallery)`` array of distances (smaller = closer), which is
    overwritten."""
    gallery = _Gallery(gallery_ids, gallery_cameras, junk_id)
    stats = [
        np.zeros(n_query, dtype=np.intp),
        np.zeros(n_query, dtype=np.intp),
        np.zeros(n_query, dtype=np.intp),
        np.zeros(n_query),
        np.zeros(n_query),
    ]
    for start in range(0, n_query, chunk_size):
        stop = min(start + chunk_size, n_query)
        block = _chunk_stats(
            distance_chunks(start, stop),
            query_ids[start:stop],
            None if query_cameras is None else query_cameras[start:stop],
            gallery,
            np.arange(start, stop) if query_is_gallery else None,
        )
        for out, value in zip(stats, block, strict=True):
            out[start:stop] = value
    return dict(
        zip(("n_good", "first_rank", "last_rank", "ap", "ap_trapezoid"), stats, strict=True)
    )


def _summarise(stats, max_rank, ap_mode, n_gallery):
    """Aggregate per-query statistics into the dict returned by :func:`evaluate_reid`.

    The CMC stops at ``min(max_rank, n_gallery)``: no match ranks below the gallery's size, so
    the rest of the curve would repeat its last value (and a huge ``max_rank`` would allocate
    gigabytes for it).
    """
    max_rank = max(1, min(int(max_rank), int(n_gallery)))
    valid = stats["n_good"] > 0
    n_valid = int(valid.sum())
    if n_valid == 0:
        raise ValueError(
            "No query has a true match in the gallery after applying the protocol (same "
            "identity and camera removed, junk removed): the metrics are undefined. Check that "
            "query and gallery share identities seen from different cameras."
        )
    first = stats["first_rank"][valid]
    hist = np.bincount(np.minimum(first, max_rank + 1), minlength=max_rank + 2)
    cmc = np.cumsum(hist[1 : max_rank + 1]) / n_valid
    ap = stats["ap" if ap_mode == "non_interpolated" else "ap_trapezoid"][valid]
    inp = stats["n_good"][valid] / stats["last_rank"][valid]
    return {
        "rank1": float(np.mean(first <= 1)),
        "rank5": float(np.mean(first <= 5)),
        "rank10": float(np.mean(first <= 10)),
        "cmc": cmc,
        "mAP": float(np.mean(ap)),
        "mINP": float(np.mean(inp)),
        "n_queries": n_valid,
        "n_skipped": int(stats["n_good"].shape[0] - n_valid),
    }


def _evaluate_distances(
    distances,
    query_ids,
    gallery_ids,
    query_cameras,
    gallery_cameras,
    *,
    max_rank,
    ap_mode,
    is_similarity,
    query_is_gallery,
    junk_id,
    chunk_size,
):
    max_rank = check_positive_int(max_rank, "max_rank")
    check_ap_mode(ap_mode)
    distances, query_ids, gallery_ids, query_cameras, gallery_cameras, chunk_size = (
        _check_ranking_problem(
            distances,
            query_ids,
            gallery_ids,
            query_cameras,
            gallery_cameras,
            query_is_gallery,
            chunk_size,
        )
    )

    def chunk(start, stop):  # a copy: the engine overwrites it
        block = distances[start:stop]
        return -block if is_similarity else block.copy()

    stats = _per_query_stats(
        chunk,
        distances.shape[0],
        query_ids,
        gallery_ids,
        query_cameras,
        gallery_cameras,
        query_is_gallery,
        junk_id,
        chunk_size,
    )
    return _summarise(stats, max_rank, ap_mode, distances.shape[1])
