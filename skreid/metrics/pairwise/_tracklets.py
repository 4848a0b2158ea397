"""Tracklets: many crops of one person from one camera, pooled into one feature.

A tracker hands re-ID a *tracklet* (the crops of one person along a track), and video re-ID
galleries are tracklets too (MARS, iLIDS-VID, PRID2011). Set-to-set matching pools each
tracklet's embeddings into one vector and ranks those, as torchreid's video evaluation does
(average pooling of the frame features).
"""

import numpy as np

from skreid.metrics.pairwise._distances import l2_normalize
from skreid.utils import check_features, check_labels

__all__ = ["TRACKLET_POOLINGS", "check_tracklet_pooling", "pool_tracklets", "tracklet_values"]

#: The ``tracklet_pooling=`` options: the mean of the L2-normalised crop embeddings, or their
#: element-wise maximum. (A mean weighted by each crop's agreement with its tracklet measured
#: no better than the plain mean, ``benchmarks/tracklets.py``: pass such weights as
#: ``pool_tracklets(..., weights=)`` to try it.)
TRACKLET_POOLINGS = ("mean", "max")


def check_tracklet_pooling(pooling, name="tracklet_pooling", accepted=TRACKLET_POOLINGS):
    """Return ``pooling`` if ``accepted`` lists it, else raise a ValueError naming ``name``."""
    if not isinstance(pooling, str) or pooling not in accepted:
        raise ValueError(f"{name} must be one of {list(accepted)}, got {pooling!r}.")
    return pooling


def _groups(tracklets):
    """``(unique, inverse, order, starts)``: tracklet ids sorted, each row's tracklet, the
    rows grouped by tracklet and where each group starts in ``order``."""
    unique, inverse, counts = np.unique(tracklets, return_inverse=True, return_counts=True)
    order = np.argsort(inverse, kind="stable")
    starts = np.cumsum(counts) - counts
    return unique, inverse, order, starts


def check_tracklets(tracklets, n, name="tracklets", n_name="X"):
    """Tracklet ids as a 1-D array of ints or strings of length ``n``, or a ValueError."""
    tracklets = check_labels(tracklets, name, n, n_name)
    if tracklets.dtype.kind not in "iuUS":
        raise ValueError(f"{name} must hold ints or strings (one tracklet id per image), got "
                         f"dtype {tracklets.dtype}.")
    return tracklets


def _check_weights(weights, n):
    try:
        w = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        w = None
    if w is None or w.shape != (n,) or not np.isfinite(w).all() or (w < 0).any():
        raise ValueError(f"weights must be {n} finite non-negative numbers (one per image), "
                         f"got {weights!r:.80}.")
    return w


def tracklet_values(values, tracklets, name, tracklets_name="tracklets"):
    """One value per tracklet (in sorted tracklet order), or a ValueError naming the first
    tracklet whose images disagree (a tracklet is one person seen by one camera).

    Parameters
    ----------
    values : ndarray of shape (n_samples,)
        Identities or cameras of the images.
    tracklets : ndarray of shape (n_samples,)
    name : {"camera", "identity"} or str
        What ``values`` are, for the message.
    tracklets_name : str, default="tracklets"
        The tracklets argument's name, for the message.

    Returns
    -------
    per_tracklet : ndarray of shape (n_tracklets,)
    """
    unique, inverse, order, starts = _groups(tracklets)
    first = values[order][starts]
    bad = values != first[inverse]
    if bad.any():
        t = int(inverse[np.flatnonzero(bad)[0]])
        mixed = np.unique(values[inverse == t])
        raise ValueError(
            f"{tracklets_name}: tracklet {unique[t].tolist()!r} mixes {name} values "
            f"{mixed[:5].tolist()}; a tracklet holds the images of one person seen by one "
            f"camera, so all its images must have the same {name}.")
    return first


def pool_tracklets(X, tracklets, *, pooling="mean", weights=None, name="tracklets"):
    """Pool the embeddings of each tracklet into one vector.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Crop embeddings.
    tracklets : array-like of shape (n_samples,)
        Tracklet id of each crop (ints or strings), in any order.
    pooling : {"mean", "max"}, default="mean"
        ``"mean"``: the mean of the L2-normalised crop embeddings (order-free, and a running
        sum and count update it exactly as crops arrive); ``"max"``: their element-wise
        maximum.
    weights : array-like of shape (n_samples,), optional
        Non-negative weight of each crop (a detector's confidence, a quality score): the mean
        becomes the weighted mean; a crop of weight 0 is left out (with ``"max"`` too).
    name : str, default="tracklets"
        The argument's name, for error messages.

    Returns
    -------
    pooled : ndarray of shape (n_tracklets, n_features)
        float32 for float32 input, float64 otherwise. Not re-normalised: the mean of unit
        vectors is shorter the more its crops disagree (with ``metric="cosine"`` only its
        direction counts).
    tracklet_ids : ndarray of shape (n_tracklets,)
        The tracklet of each row, sorted.
    inverse : ndarray of shape (n_samples,)
        The row of ``pooled`` of each crop.

    Raises
    ------
    ValueError
        If ``tracklets`` (or ``weights``) has the wrong length, or a tracklet is left without
        any crop of positive weight ("empty after filtering"), naming it.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import pool_tracklets
    >>> X = np.array([[3.0, 4.0], [1.0, 0.0], [0.0, 2.0]])
    >>> pooled, ids, inverse = pool_tracklets(X, ["b", "a", "a"])
    >>> pooled
    array([[0.5, 0.5],
           [0.6, 0.8]])
    >>> ids.tolist(), inverse.tolist()
    (['a', 'b'], [1, 0, 0])
    """
    check_tracklet_pooling(pooling, "pooling")
    X = check_features(X, "X")
    tracklets = check_tracklets(tracklets, X.shape[0], name)
    unique, inverse, order, starts = _groups(tracklets)
    unit = l2_normalize(X.astype(np.float64))  # summed in float64, as GalleryIndex does
    w = np.ones(X.shape[0]) if weights is None else _check_weights(weights, X.shape[0])
    total = np.add.reduceat(w[order], starts)
    if (total <= 0).any():
        t = unique[np.flatnonzero(total <= 0)[0]].tolist()
        raise ValueError(f"{name}: tracklet {t!r} is empty after filtering: none of its images "
                         "has a positive weight.")
    if pooling == "max":
        masked = np.where(w[:, None] > 0, unit, -np.inf)
        return np.maximum.reduceat(masked[order], starts, axis=0).astype(X.dtype), unique, inverse
    pooled = np.add.reduceat(unit[order] * w[order, None], starts, axis=0) / total[:, None]
    return pooled.astype(X.dtype, copy=False), unique, inverse
