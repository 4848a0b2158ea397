"""Which classes a skreid model file may hold, under which stable name.

A file names each estimator by a public name (``"skreid.reid.PCAReID"``); loading looks the
name up *here* and imports only the module this table gives for it, so a file can never make
skreid import or construct anything outside this list. Saving refuses any other type.

Each entry is small: where the class lives, which instance attributes are caches to leave out
of the file (set to None on load and rebuilt lazily, like ``TripletEmbedder._embedder``), and
for a class without ``get_params`` the names of its constructor parameters. What to save is the same
for every class (its ``get_params(deep=False)`` and every other instance attribute, see
:mod:`skreid.saving._codec`); how to rebuild is ``cls(**params)`` and the attributes set back.

What a file may set is declared, and checked the same way by ``save`` and ``load``
(:func:`attribute_problem`, :func:`parameter_problem`):

* attributes: fitted ones (``name_``, scikit-learn's convention) plus the state a class
  declares (``Entry.state``, and ``_saved_state_attrs`` on the class and its bases, e.g. the
  gallery's per-identity order), never a name the class itself defines (a method, a property):
  a file cannot make ``transform`` the number 1;
* parameters: the constructor's, with values its ``_parameter_constraints`` accept, and the
  values ``Entry.fixed`` pins: a Pipeline's ``memory`` is None, or its ``fit`` would write
  joblib caches to a folder the file chose.
"""

import importlib
from typing import NamedTuple

__all__ = ["Entry", "UnsupportedEstimatorError", "entry_for_object", "entry_for_name",
           "attribute_problem", "parameter_problem"]


class UnsupportedEstimatorError(TypeError):
    """``skreid.save`` was given an object it cannot store without pickle."""


class Entry(NamedTuple):
    name: str  # the stable name written in files
    module: str  # imported on load (lazily: it must not import TensorFlow at module level)
    attr: str
    transient: tuple = ()  # instance attributes left out of the file, None on load (caches)
    #: constructor parameters of a class that is not an estimator (no ``get_params``)
    param_names: tuple | None = None
    #: instance attributes restored besides the fitted ``name_`` ones (private state)
    state: tuple = ()
    #: parameters a file must hold with exactly this value (name -> value)
    fixed: tuple = ()


def _entries():
    skreid = [
        ("skreid.reid.PCAReID", "skreid.reid", "PCAReID"),
        ("skreid.reid.LOMOFeatures", "skreid.reid", "LOMOFeatures"),
        ("skreid.reid.TripletEmbedder", "skreid.reid", "TripletEmbedder"),
        ("skreid.pets.MultiTaskPetNet", "skreid.pets", "MultiTaskPetNet"),
        ("skreid.pets.FineTunedPetNet", "skreid.pets", "FineTunedPetNet"),
        ("skreid.preprocessing.ResizeImages", "skreid.preprocessing", "ResizeImages"),
        ("skreid.preprocessing.Grayscale", "skreid.preprocessing", "Grayscale"),
        ("skreid.preprocessing.FlattenImages", "skreid.preprocessing", "FlattenImages"),
    ]
    # plain scikit-learn estimators whose state is parameters, arrays and numbers only, so
    # the same generic scheme stores them; any other scikit-learn step goes through skops
    sklearn = [
        ("sklearn.pipeline.Pipeline", "sklearn.pipeline", "Pipeline"),
        ("sklearn.decomposition.PCA", "sklearn.decomposition", "PCA"),
        ("sklearn.decomposition.TruncatedSVD", "sklearn.decomposition", "TruncatedSVD"),
        ("sklearn.preprocessing.StandardScaler", "sklearn.preprocessing", "StandardScaler"),
        ("sklearn.preprocessing.MinMaxScaler", "sklearn.preprocessing", "MinMaxScaler"),
        ("sklearn.preprocessing.Normalizer", "sklearn.preprocessing", "Normalizer"),
        ("sklearn.preprocessing.LabelEncoder", "sklearn.preprocessing", "LabelEncoder"),
        ("sklearn.discriminant_analysis.LinearDiscriminantAnalysis",
         "sklearn.discriminant_analysis", "LinearDiscriminantAnalysis"),
        ("sklearn.linear_model.LogisticRegression", "sklearn.linear_model",
         "LogisticRegression"),
    ]
    # private state of the scikit-learn classes (their fitted attributes end in "_")
    state = {"sklearn.decomposition.PCA": ("_fit_svd_solver",),
             "sklearn.discriminant_analysis.LinearDiscriminantAnalysis": (
                 "_max_components", "_n_features_out")}
    out = {}
    for name, module, attr in skreid + sklearn:
        out[name] = Entry(name, module, attr, state=state.get(name, ()))
    # a Pipeline's memory is a folder its fit writes joblib pickles to: never from a file
    out["sklearn.pipeline.Pipeline"] = out["sklearn.pipeline.Pipeline"]._replace(
        fixed=(("memory", None),))
    # the gallery index inside every re-ID estimator; its faiss index (a SWIG object) is a
    # cache the index rebuilds from the embeddings on the first search
    out["skreid.search.GalleryIndex"] = Entry(
        "skreid.search.GalleryIndex", "skreid.search", "GalleryIndex",
        transient=("_faiss", "_faiss_info"),
        param_names=("metric", "backend", "faiss_params", "model_fingerprint"),
        state=("meta", "n_features", "embeddings", "_sq_norms", "keys", "_ids", "_has_id",
               "cameras"),
    )
    return out


_ENTRIES = _entries()


def _resolve(entry):
    return getattr(importlib.import_module(entry.module), entry.attr)


def _complete(entry, cls):
    # Keras estimators declare their caches (e.g. the inference sub-model) on the class, and
    # each class (mixins included) the private state it keeps beside its fitted attributes
    declared = tuple(name for klass in cls.__mro__
                     for name in vars(klass).get("_saved_state_attrs", ()))
    return entry._replace(
        transient=tuple(entry.transient) + tuple(getattr(cls, "_keras_transient_attrs", ())),
        state=tuple(entry.state) + declared,
    )


def attribute_problem(entry, cls, name):
    """Why instance attribute ``name`` may not be stored in or restored from a file (a
    sentence), or None when it is a declared one."""
    if not (isinstance(name, str) and name.isidentifier()) or name.startswith("__"):
        return "it is not a valid attribute name"
    if hasattr(cls, name):
        kind = "method" if callable(getattr(cls, name, None)) else "class attribute"
        return f"it would shadow the {kind} {cls.__name__}.{name}"
    if name in entry.transient:
        return "it is a cache that skreid files never hold"
    if name in entry.state or (name.endswith("_") and not name.startswith("_")):
        return None
    return (f"it is neither a fitted attribute (ending in '_') nor state {cls.__name__} "
            f"declares ({', '.join(entry.state) or 'none'})")


def parameter_problem(entry, cls, params):
    """Why constructor parameters ``params`` (a dict) may not be stored in or restored from a
    file (a sentence naming the parameter), or None. Values are checked against the class's
    ``_parameter_constraints`` (what its ``fit`` accepts) and the entry's fixed values."""
    for name, value in entry.fixed:
        if name in params and params[name] is not value and params[name] != value:
            return (f"{name}={params[name]!r:.80} is not allowed: a {cls.__name__} in a skreid "
                    f"file has {name}={value!r} (a {name} folder would make its fit write "
                    f"joblib pickle caches there); set_params({name}={value!r}) before saving")
    constraints = getattr(cls, "_parameter_constraints", None)
    if isinstance(constraints, dict):
        from sklearn.utils._param_validation import (
            InvalidParameterError,
            validate_parameter_constraints,
        )

        try:
            validate_parameter_constraints(constraints, dict(params), caller_name=cls.__name__)
        except InvalidParameterError as exc:
            return str(exc)
    return None


def entry_for_object(obj):
    """The registry entry of ``obj``'s exact class, or None (subclasses are not accepted:
    loading would rebuild the base class and silently drop the subclass's behaviour)."""
    cls = type(obj)
    for entry in _ENTRIES.values():
        if entry.attr == cls.__name__ and _resolve(entry) is cls:
            return _complete(entry, cls)
    return None


def entry_for_name(name):
    """``(entry, cls)`` for a class name read from a file; None if the name is not listed."""
    entry = _ENTRIES.get(name) if isinstance(name, str) else None
    if entry is None:
        return None
    cls = _resolve(entry)
    return _complete(entry, cls), cls


def supported_names():
    """Every class name skreid model files may hold."""
    return sorted(_ENTRIES)
