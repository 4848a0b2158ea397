"""Rank-1 of an embedding against itself: the per-epoch validation score of re-ID training.

Pure NumPy. :func:`single_shot_rank1` follows the CAB420 probe protocol (one query and one
gallery image per identity, cross-camera), so early stopping selects what the probes reward.
Distances come from the blocked engine (:class:`skreid.metrics.pairwise.BlockedDistances`):
squared euclidean ranking values, a block of rows at a time.
"""

import numpy as np

from skreid.metrics.pairwise import BlockedDistances

__all__ = ["leave_one_out_rank1", "single_shot_rank1"]


def leave_one_out_rank1(embeddings, ids, cameras=None):
    """Rank-1 of each image against all others (same-camera same-identity matches skipped).

    Queries without any valid match are skipped; NaN when no query has one.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics import leave_one_out_rank1
    >>> leave_one_out_rank1(np.array([[0.0], [0.1], [5.0], [5.1]]), np.array([1, 1, 2, 2]))
    1.0
    """
    emb = np.asarray(embeddings, np.float64)
    ids = np.asarray(ids)
    cameras = None if cameras is None else np.asarray(cameras)
    has_match = np.empty(len(ids), dtype=bool)
    best = np.empty(len(ids), dtype=np.intp)
    for rows, d in BlockedDistances(emb, emb, "sqeuclidean").row_blocks(ranking=True):
        local = np.arange(rows.stop - rows.start)
        d[local, local + rows.start] = np.inf
        same = ids[rows, None] == ids[None, :]
        if cameras is not None:
            # Market-1501 protocol: a same-camera image of the same person is not a valid match
            d[same & (cameras[rows, None] == cameras[None, :])] = np.inf
        has_match[rows] = (same & np.isfinite(d)).any(1)
        best[rows] = np.argmin(d, axis=1)
    if not has_match.any():
        return float("nan")
    return float((ids[best] == ids)[has_match].mean())


def single_shot_rank1(embeddings, ids, cameras=None, n_draws=20, seed=0):
    """Single-shot rank-1 like the CAB420 probes, averaged over ``n_draws`` random draws.

    Each draw picks, per identity, one query image and one gallery image (from another
    camera when ``cameras`` is given); the gallery holds one image per identity. Identities
    without such a pair are skipped. Far harder, and closer to the probe protocol, than
    :func:`leave_one_out_rank1`, where every other image of the person can match. The draws
    use a fixed seed, so successive epochs are scored on the same query/gallery pairs.
    """
    emb = np.asarray(embeddings, np.float64)
    ids = np.asarray(ids)
    rng = np.random.RandomState(seed)
    groups = [np.flatnonzero(ids == i) for i in np.unique(ids)]
    scores = []
    for _ in range(n_draws):
        q_idx, g_idx = [], []
        for members in groups:
            if len(members) < 2:
                continue
            q = rng.choice(members)
            others = members[members != q]
            if cameras is not None:
                others = others[cameras[others] != cameras[q]]
            if others.size == 0:
                continue
            q_idx.append(q)
            g_idx.append(rng.choice(others))
        if len(q_idx) < 2:
            return leave_one_out_rank1(embeddings, ids, cameras)
        q_idx, g_idx = np.array(q_idx), np.array(g_idx)
        d = BlockedDistances(emb[q_idx], emb[g_idx], "sqeuclidean").ranking(slice(None))
        scores.append(float((ids[g_idx[np.argmin(d, axis=1)]] == ids[q_idx]).mean()))
    return float(np.mean(scores))
