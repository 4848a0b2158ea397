"""Renamed estimator parameters, the scikit-learn way: the old name keeps working for two
releases with a FutureWarning, ``get_params``/``clone`` see both names, and files or pickles
written under the old name still load.

An estimator lists its renames in the class attribute ``_renamed_params`` (``{old: new}``),
keeps the old name as a keyword-only ``__init__`` parameter defaulting to
:data:`DEPRECATED`, and reads the value through :func:`renamed_param`.
"""

import warnings

__all__ = ["DEPRECATED", "migrate_renamed_params", "renamed_param"]

#: default of a renamed parameter's old name: "not given"
DEPRECATED = "deprecated"
#: the release that renamed the parameters, and the one that drops the old names
RENAMED_IN, REMOVED_IN = "0.1", "0.3"


def _old_name(cls, new):
    for old, target in getattr(cls, "_renamed_params", {}).items():
        if target == new:
            return old
    return None


def renamed_param(estimator, new, *, warn=False):
    """The value of parameter ``new`` of ``estimator``, or of its old name when that was set.

    With ``warn=True`` (once per ``fit``), a set old name gives a FutureWarning naming the new
    one. The old value wins, as scikit-learn does during a deprecation: code that sets it
    keeps its meaning.

    Examples
    --------
    >>> import warnings
    >>> from skreid.reid import TripletEmbedder
    >>> from skreid.utils import renamed_param
    >>> est = TripletEmbedder(flip_test=False)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     renamed_param(est, "test_time_flip", warn=True)
    False
    >>> print(caught[0].message)
    TripletEmbedder: flip_test was renamed test_time_flip in skreid 0.1 ...
    """
    old = _old_name(type(estimator), new)
    value = getattr(estimator, old, DEPRECATED) if old is not None else DEPRECATED
    if isinstance(value, str) and value == DEPRECATED:
        return getattr(estimator, new)
    if warn:
        warnings.warn(
            f"{type(estimator).__name__}: {old} was renamed {new} in skreid {RENAMED_IN} and "
            f"will be removed in {REMOVED_IN}; pass {new}={value!r} instead.",
            FutureWarning, stacklevel=3,
        )
    return value


def migrate_renamed_params(cls, params):
    """``params`` (a saved ``get_params`` or pickled state) with old names moved to the new
    ones of ``cls``: what an older skreid wrote loads as the current class.

    An old name is moved only when its new name is absent (a file written before the rename);
    it is then set to :data:`DEPRECATED`, as the constructor would.
    """
    params = dict(params)
    for old, new in getattr(cls, "_renamed_params", {}).items():
        if old in params and new not in params:
            params[new] = params[old]
            params[old] = DEPRECATED
    return params
