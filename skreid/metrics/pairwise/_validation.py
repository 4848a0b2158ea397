"""What the engine accepts, written once: the metric names, the block size, and the option
dicts of re-ranking and query expansion."""

import numbers

from sklearn.metrics.pairwise import PAIRWISE_DISTANCE_FUNCTIONS

from skreid.utils import nested_validation_skipped

__all__ = ["DISTANCE_METRICS", "BLOCK_ELEMENTS", "check_metric", "metric_names"]

#: The distances the engine computes from features with one matrix product (its fast path).
#: Every ``metric=`` of skreid is checked against this list (:func:`check_metric`): a gallery
#: (``GalleryIndex``, the re-ID estimators) takes the true distances ``euclidean`` and
#: ``cosine``; the evaluation and re-ranking also take ``sqeuclidean``.
DISTANCE_METRICS = ("euclidean", "cosine", "sqeuclidean")

#: Elements of one block of distances, the one memory bound of the engine and of everything
#: built on it (search, re-ranking, query expansion): 8M, 32 MB in float32.
BLOCK_ELEMENTS = 2**23


def metric_names(*, squared=True, precomputed=False, sklearn=False):
    """The metric names accepted with these options, in :data:`DISTANCE_METRICS` order.

    Parameters
    ----------
    squared : bool, default=True
        Include ``"sqeuclidean"`` (False: the true distances a gallery ranks by).
    precomputed : bool, default=False
        Include ``"precomputed"`` (a distance matrix instead of features).
    sklearn : bool, default=False
        Include every metric name of :func:`sklearn.metrics.pairwise_distances` (computed by
        scikit-learn, a block of rows at a time).

    Returns
    -------
    names : tuple of str
    """
    names = [m for m in DISTANCE_METRICS if squared or m != "sqeuclidean"]
    if precomputed:
        names.append("precomputed")
    if sklearn:
        names += sorted(set(PAIRWISE_DISTANCE_FUNCTIONS) - set(names))
    return tuple(names)


def check_metric(metric, *, squared=True, precomputed=False, sklearn=False, name="metric"):
    """Return ``metric`` if :func:`metric_names` with these options lists it, else raise.

    The ValueError names ``name``, the value received and the accepted names.

    Examples
    --------
    >>> from skreid.metrics.pairwise import check_metric
    >>> check_metric("cosine")
    'cosine'
    >>> check_metric("sqeuclidean", squared=False)
    Traceback (most recent call last):
    ...
    ValueError: metric must be one of ['euclidean', 'cosine'], got 'sqeuclidean'.
    """
    accepted = metric_names(squared=squared, precomputed=precomputed, sklearn=sklearn)
    if not isinstance(metric, str) or metric not in accepted:
        raise ValueError(f"{name} must be one of {list(accepted)}, got {metric!r}.")
    return metric


class _Options(dict):
    """A validated option dict (see :func:`resolve_options`): checking it again returns it.

    Read-only, so what was checked is what is used.
    """

    def _refuse(self, *args, **kwargs):
        raise TypeError("validated options are read-only: build a new dict instead.")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _refuse

    def __reduce__(self):  # pickles as a plain dict (a scorer's rerank= may be one)
        return dict, (dict(self),)


def resolve_options(value, name, defaults, check):
    """``None``/``False`` -> None, ``True`` -> ``defaults``, a dict -> ``defaults`` updated by
    it, then ``check(params)`` (which validates and converts them in place); anything else,
    or an unknown key, is a ValueError naming ``name``. An already validated result is
    returned as it is, and nothing is checked inside
    :func:`skreid.utils.skip_nested_validation`: each value is validated once per call."""
    if isinstance(value, _Options):
        return value
    if value is None or value is False:
        return None
    if value is True:
        value = {}
    if not isinstance(value, dict):
        raise ValueError(
            f"{name} must be None, a bool or a dict of {', '.join(defaults)}, got "
            f"{type(value).__name__} {value!r}."
        )
    unknown = set(value) - set(defaults)
    if unknown:
        raise ValueError(
            f"{name} got unknown keys {sorted(unknown)}; accepted: {sorted(defaults)}."
        )
    params = {**defaults, **value}
    if not nested_validation_skipped():
        check(params)
    return _Options(params)


def check_int(value, name, low):
    """``value`` as an int >= ``low``, or a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}.")
    return int(value)


def check_real(value, name, low, high=None):
    """``value`` as a float in ``[low, high]``, or a ValueError naming ``name``."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not low <= value <= (float("inf") if high is None else high)):
        accepted = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise ValueError(f"{name} must be a number {accepted}, got {value!r}.")
    return float(value)
