"""Segmentation metrics on label maps: pixel accuracy and intersection over union."""

import numbers

import numpy as np


def _check_label_maps(y_true, y_pred, ignore_label):
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same shape (label maps), got {y_true.shape} and "
            f"{y_pred.shape}."
        )
    if y_true.size == 0:
        raise ValueError("y_true is empty: at least one pixel is needed.")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        if arr.dtype.kind not in "iub":
            raise ValueError(
                f"{name} must hold integer class labels (use argmax over class scores first), "
                f"got dtype {arr.dtype}."
            )
    if ignore_label is not None and not (
        isinstance(ignore_label, numbers.Integral) and not isinstance(ignore_label, bool)
    ):
        raise ValueError(f"ignore_label must be an int or None, got {ignore_label!r}.")
    keep = np.ones(y_true.shape, dtype=bool) if ignore_label is None else y_true != ignore_label
    return y_true[keep], y_pred[keep]


def pixel_accuracy_score(y_true, y_pred, ignore_label=None):
    """Fraction of pixels whose predicted label equals the true label.

    Parameters
    ----------
    y_true, y_pred : array-like of int, same shape
        True and predicted label maps, e.g. ``(n, h, w)``.
    ignore_label : int or None, default=None
        Pixels whose *true* label equals it are left out (e.g.
        ``skreid.datasets.MASK_IGNORE = 255`` for images without a trimap).

    Returns
    -------
    accuracy : float
        NaN when every pixel is ignored.

    Examples
    --------
    >>> from skreid.metrics import pixel_accuracy_score
    >>> acc = pixel_accuracy_score([[0, 1], [1, 255]], [[0, 1], [0, 0]], ignore_label=255)
    >>> round(acc, 4)
    0.6667
    """
    y_true, y_pred = _check_label_maps(y_true, y_pred, ignore_label)
    if y_true.size == 0:
        return float("nan")
    return float(np.mean(y_true == y_pred))


def iou_score(y_true, y_pred, labels=None, ignore_label=None, average="macro"):
    """Intersection over union (Jaccard index) per class of label maps, and their mean.

    For class c: ``IoU_c = |true == c and pred == c| / |true == c or pred == c|`` over the
    pixels not ignored.

    Parameters
    ----------
    y_true, y_pred : array-like of int, same shape
        True and predicted label maps.
    labels : array-like of int, default=None
        Classes to score; default: every label present in ``y_true`` or ``y_pred`` (ignored
        pixels excluded).
    ignore_label : int or None, default=None
        Pixels whose true label equals it are left out, whatever their prediction.
    average : {"macro", None}, default="macro"
        "macro": mean IoU over the classes (mIoU), skipping classes absent from both maps;
        None: the per-class array, NaN for such absent classes.

    Returns
    -------
    iou : float or ndarray of shape (n_labels,)

    Examples
    --------
    >>> from skreid.metrics import iou_score
    >>> y_true = [[0, 0, 1, 1]]
    >>> y_pred = [[0, 1, 1, 1]]
    >>> iou_score(y_true, y_pred, average=None)  # class 0: 1/2, class 1: 2/3
    array([0.5       , 0.66666667])
    >>> round(iou_score(y_true, y_pred), 4)
    0.5833
    """
    if average not in ("macro", None):
        raise ValueError(f"average must be 'macro' or None, got {average!r}.")
    y_true, y_pred = _check_label_maps(y_true, y_pred, ignore_label)
    if labels is None:
        labels = np.union1d(y_true, y_pred)
    else:
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be a non-empty 1-D array of ints, got {labels!r}.")
    # confusion counts restricted to `labels`, via one bincount over label-index pairs
    index = {int(v): i for i, v in enumerate(labels)}
    k = labels.shape[0]
    lookup_t = np.array([index.get(int(v), k) for v in np.unique(y_true)])
    lookup_p = np.array([index.get(int(v), k) for v in np.unique(y_pred)])
    t = lookup_t[np.searchsorted(np.unique(y_true), y_true)] if y_true.size else y_true
    p = lookup_p[np.searchsorted(np.unique(y_pred), y_pred)] if y_pred.size else y_pred
    cm = np.bincount(t * (k + 1) + p, minlength=(k + 1) ** 2).reshape(k + 1, k + 1)[:k, :k]
    intersection = np.diag(cm).astype(float)
    true_count = np.bincount(t, minlength=k + 1)[:k]
    pred_count = np.bincount(p, minlength=k + 1)[:k]
    union = true_count + pred_count - intersection
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.where(union > 0, intersection / union, np.nan)
    if average is None:
        return iou
    if np.all(np.isnan(iou)):
        return float("nan")
    return float(np.nanmean(iou))
