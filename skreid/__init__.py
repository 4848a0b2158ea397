"""skreid: scikit-learn compatible person re-identification and multi-task image learning.

The classical estimators, metrics, datasets and preprocessing import only NumPy, SciPy and
scikit-learn. The Keras estimators (``TripletEmbedder``, ``MultiTaskPetNet``,
``FineTunedPetNet``) are imported lazily on first access, so ``import skreid`` never pulls
in TensorFlow.
"""

import importlib

from skreid._version import __version__

# public name -> module that defines it; resolved on first attribute access (PEP 562)
_LAZY = {
    "PCAReID": "skreid.reid",
    "TripletEmbedder": "skreid.reid",
    "MultiTaskPetNet": "skreid.pets",
    "FineTunedPetNet": "skreid.pets",
    "save": "skreid.saving",
    "load": "skreid.saving",
    "export_onnx": "skreid._keras._onnx_export",
}
_SUBMODULES = [
    "datasets",
    "metrics",
    "model_selection",
    "parallel",
    "pets",
    "plotting",
    "preprocessing",
    "reid",
    "runtime",
    "saving",
]

__all__ = ["__version__", *_LAZY, *_SUBMODULES]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    if name in _SUBMODULES:
        return importlib.import_module(f"skreid.{name}")
    raise AttributeError(f"module 'skreid' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
