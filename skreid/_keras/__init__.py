"""The only skreid package that imports Keras (lazily): estimator base, backbones, re-ID
networks, activation maps, losses and batch samplers.

Importing ``skreid._keras`` itself does not import Keras; the submodules do when a Keras
estimator is built or fitted.
"""

from skreid._keras._activation import ActivationMapsMixin
from skreid._keras._backbones import build_backbone
from skreid._keras._base import KerasEstimatorMixin, import_keras, keras_seeded
from skreid._keras._base import _is_keras_model as is_keras_model
from skreid._keras._base import _register_custom_objects as register_custom_objects
from skreid._keras._export_protocol import InferenceGraph, check_exportable
from skreid._keras._registry import BACKBONES, LOSSES, OPTIMIZERS, SCHEDULES, describe

__all__ = ["ActivationMapsMixin", "BACKBONES", "LOSSES", "OPTIMIZERS", "SCHEDULES",
           "InferenceGraph", "KerasEstimatorMixin",
           "PKSampler", "RandomTripletSampler", "ExportVerificationError", "build_backbone",
           "check_exportable", "describe", "import_keras", "is_keras_model", "keras_seeded",
           "register_custom_objects"]

# names whose module imports Keras: resolved on first access (PEP 562)
_LAZY = {"PKSampler": "skreid._keras._samplers",
         "RandomTripletSampler": "skreid._keras._samplers",
         "ExportVerificationError": "skreid._keras._onnx_export"}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skreid._keras' has no attribute {name!r}")
