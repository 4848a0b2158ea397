"""Person re-identification estimators and the gallery matching they share.

``PCAReID`` and the classical feature transformers import only NumPy, SciPy, scikit-learn
and scikit-image. ``TripletEmbedder`` needs Keras; it is imported lazily on first access
(PEP 562), so ``from skreid.reid import PCAReID`` never loads TensorFlow.
"""

import importlib

from skreid.reid._adapt import NoPseudoIdentitiesWarning
from skreid.reid._base import REID_METRICS, ReIDMixin
from skreid.reid._evaluate import estimator_metric, evaluate_transformer
from skreid.reid._features import LOMOFeatures
from skreid.reid._pca import PCAReID
from skreid.reid._presets import TRIPLET_PRESETS, make_classical_reid

# public name -> module that defines it, imported on first access (it imports keras)
_LAZY = {"TripletEmbedder": "skreid.reid._triplet"}

__all__ = [
    "PCAReID",
    "TripletEmbedder",
    "ReIDMixin",
    "REID_METRICS",
    "LOMOFeatures",
    "make_classical_reid",
    "TRIPLET_PRESETS",
    "estimator_metric",
    "evaluate_transformer",
    "NoPseudoIdentitiesWarning",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skreid.reid' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
