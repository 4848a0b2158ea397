"""Discovery of skreid's public estimators (like :func:`sklearn.utils.all_estimators`)."""

import importlib
import inspect

__all__ = ["all_estimators"]

# packages without estimators (the command line imports every other package)
_SKIP = {"cli"}

_TYPES = {"classifier": "ClassifierMixin", "transformer": "TransformerMixin"}


def all_estimators(type_filter=None):
    """Every public skreid estimator class, as sorted ``(name, class)`` pairs.

    Parameters
    ----------
    type_filter : {"classifier", "transformer"}, list of them, or None, default=None
        Keep only the estimators of these kinds (None: all).

    Returns
    -------
    estimators : list of (str, type)

    Examples
    --------
    >>> from skreid.utils import all_estimators
    >>> [name for name, _ in all_estimators("classifier")]
    ['FineTunedPetNet', 'MultiTaskPetNet', 'OnnxEmbedder', 'OnnxPetNet', 'PCAReID',
     'TripletEmbedder']
    """
    import sklearn.base

    if type_filter is None:
        wanted = []
    else:
        wanted = [type_filter] if isinstance(type_filter, str) else list(type_filter)
        unknown = [t for t in wanted if t not in _TYPES]
        if unknown:
            raise ValueError(
                f"type_filter must be None or among {sorted(_TYPES)}, got {type_filter!r}."
            )
    import pkgutil

    import skreid

    found = {}
    packages = sorted(m.name for m in pkgutil.iter_modules(skreid.__path__)
                      if not m.name.startswith("_") and m.name not in _SKIP)
    for package in packages:
        # a package's __all__ lists its public names; the Keras estimators' modules import
        # Keras only inside fit, so this never loads TensorFlow
        module = importlib.import_module(f"skreid.{package}")
        for name in getattr(module, "__all__", ()):
            try:
                obj = getattr(module, name)
            except ImportError:  # a lazy name whose optional dependency is missing
                continue
            if (inspect.isclass(obj) and issubclass(obj, sklearn.base.BaseEstimator)
                    and not name.startswith("_") and not inspect.isabstract(obj)):
                found[name] = obj
    mixins = [getattr(sklearn.base, _TYPES[t]) for t in wanted]
    return sorted((name, cls) for name, cls in found.items()
                  if all(issubclass(cls, mixin) for mixin in mixins))
