"""Inference without TensorFlow: skreid models exported to ONNX, run by onnxruntime.

Export a fitted estimator with :func:`skreid.export_onnx` (needs the ``export`` extra and
TensorFlow), then, wherever the model runs, ``pip install 'skreid[runtime]'`` (onnxruntime,
no TensorFlow or Keras) and::

    from skreid.runtime import OnnxEmbedder
    reid = OnnxEmbedder("embedder.onnx").fit(gallery_images, gallery_ids)
    reid.predict(query_images)

This package imports NumPy, scikit-learn and (when a model is opened) onnxruntime; never
TensorFlow or Keras.
"""

from skreid.runtime._estimators import OnnxEmbedder, OnnxPetNet
from skreid.runtime._session import read_onnx_metadata

__all__ = ["OnnxEmbedder", "OnnxPetNet", "read_onnx_metadata"]
