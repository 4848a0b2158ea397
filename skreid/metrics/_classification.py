"""Top-n accuracy for classifiers (the pets breed classifiers)."""

import numpy as np
from sklearn.metrics import top_k_accuracy_score

from skreid.metrics._checks import check_positive_int


def top_n_accuracy_score(y_true, y_score, n=5, labels=None, *, normalize=True, sample_weight=None):
    """Fraction of samples whose true class is among the ``n`` highest scores.

    A thin wrapper of :func:`sklearn.metrics.top_k_accuracy_score` (same tie handling, same
    warnings) that names the cut-off ``n`` as in "Top-N accuracy" and also reads a two-column
    ``y_score`` (``predict_proba`` of a binary classifier) without ``labels`` when ``y_true``
    holds both classes.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples, n_classes) or (n_samples,)
        Scores such as ``predict_proba`` or ``decision_function``; columns follow ``labels``
        (or the sorted unique values of ``y_true``).
    n : int, default=5
        How many top-scored classes count as a hit; must be >= 1.
    labels : array-like of shape (n_classes,), default=None
        Class of each column of ``y_score`` (pass ``estimator.classes_`` when ``y_true`` may
        miss some classes).
    normalize : bool, default=True
        Return the fraction (True) or the number (False) of hits.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    score : float

    Examples
    --------
    >>> from skreid.metrics import top_n_accuracy_score
    >>> y_score = [[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]]
    >>> round(top_n_accuracy_score([0, 1, 2], y_score, n=1), 4)
    0.3333
    >>> top_n_accuracy_score([0, 1, 2], y_score, n=2)
    1.0
    >>> top_n_accuracy_score([1, 1], y_score[:2], n=2, labels=[0, 1, 2])
    1.0
    """
    n = check_positive_int(n, "n")
    y_score_arr = np.asarray(y_score)
    if y_score_arr.ndim == 2 and y_score_arr.shape[1] == 2:
        # sklearn reads binary problems from the positive-class score only
        if labels is None:
            classes = np.unique(np.asarray(y_true))
            labels = classes if classes.shape[0] == 2 else None
        if labels is not None:
            y_score = y_score_arr[:, 1]
    return float(
        top_k_accuracy_score(
            y_true, y_score, k=n, labels=labels, normalize=normalize, sample_weight=sample_weight
        )
    )
