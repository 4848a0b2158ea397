"""Which classes a skreid model file may hold, under which stable name.

A file names each estimator by a public name (``"skreid.reid.PCAReID"``); loading looks the
name up *here* and imports only the module this table gives for it, so a file can never make
skreid import or construct anything outside this list. Saving refuses any other type.

Each entry is small: where the class lives, which instance attributes are caches to leave out
of the file (set to None on load and rebuilt lazily, like ``TripletEmbedder._embedder``), and
for a class without ``get_params`` the names of its constructor parameters. What to save is the same
for every class (its ``get_params(deep=False)`` and every other instance attribute, see
:mod:`skreid.saving._codec`); how to rebuild is ``cls(**params)`` and the attributes set back.
"""

import importlib
from typing import NamedTuple

__all__ = ["Entry", "UnsupportedEstimatorError", "entry_for_object", "entry_for_name"]


class UnsupportedEstimatorError(TypeError):
    """``skreid.save`` was given an object it cannot store without pickle."""


class Entry(NamedTuple):
    name: str  # the stable name written in files
    module: str  # imported on load (lazily: it must not import TensorFlow at module level)
    attr: str
    transient: tuple = ()  # instance attributes left out of the file, None on load (caches)
    #: constructor parameters of a class that is not an estimator (no ``get_params``)
    param_names: tuple | None = None


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
    out = {}
    for name, module, attr in skreid + sklearn:
        out[name] = Entry(name, module, attr)
    # the gallery index inside every re-ID estimator; its faiss index (a SWIG object) is a
    # cache the index rebuilds from the embeddings on the first search
    out["skreid.search.GalleryIndex"] = Entry(
        "skreid.search.GalleryIndex", "skreid.search", "GalleryIndex",
        transient=("_faiss", "_faiss_info"),
        param_names=("metric", "backend", "faiss_params", "model_fingerprint"),
    )
    return out


_ENTRIES = _entries()


def _resolve(entry):
    return getattr(importlib.import_module(entry.module), entry.attr)


def _transient(entry, cls):
    # Keras estimators declare their caches (e.g. the inference sub-model) on the class
    return tuple(entry.transient) + tuple(getattr(cls, "_keras_transient_attrs", ()))


def entry_for_object(obj):
    """The registry entry of ``obj``'s exact class, or None (subclasses are not accepted:
    loading would rebuild the base class and silently drop the subclass's behaviour)."""
    cls = type(obj)
    for entry in _ENTRIES.values():
        if entry.attr == cls.__name__ and _resolve(entry) is cls:
            return entry._replace(transient=_transient(entry, cls))
    return None


def entry_for_name(name):
    """``(entry, cls)`` for a class name read from a file; None if the name is not listed."""
    entry = _ENTRIES.get(name) if isinstance(name, str) else None
    if entry is None:
        return None
    cls = _resolve(entry)
    return entry._replace(transient=_transient(entry, cls)), cls


def supported_names():
    """Every class name skreid model files may hold."""
    return sorted(_ENTRIES)
