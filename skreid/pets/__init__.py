"""Pet breed classification + segmentation estimators (Oxford-IIIT Pet style).

``MultiTaskPetNet`` (from scratch) and ``FineTunedPetNet`` (ImageNet MobileNetV3Small) are
scikit-learn classifiers and transformers that also segment: ``fit(X, y, masks=None)``,
``predict``, ``predict_proba``, ``predict_mask``, ``transform``. Both need Keras and are
imported lazily on first access (PEP 562), so ``import skreid.pets`` does not load TensorFlow.
"""

import importlib

# public name -> module that defines it, imported on first access (it imports keras)
_LAZY = {
    "MultiTaskPetNet": "skreid.pets._multitask",
    "FineTunedPetNet": "skreid.pets._finetuned",
}

__all__ = ["FineTunedPetNet", "MultiTaskPetNet"]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skreid.pets' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
