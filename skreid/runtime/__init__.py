"""Inference without TensorFlow: skreid models exported to ONNX, run by onnxruntime.

Export a fitted estimator with :func:`skreid.export_onnx` (needs the ``export`` extra and
TensorFlow), then, wherever the model runs, ``pip install 'skreid[runtime]'`` (onnxruntime,
no TensorFlow or Keras) and::

    from skreid.runtime import OnnxEmbedder
    reid = OnnxEmbedder("embedder.onnx").fit(gallery_images, gallery_ids)
    reid.predict(query_images)

:class:`DetectionEmbedder` embeds a video frame's detection boxes for a multi-object tracker.

This package imports NumPy, scikit-learn and (when a model is opened) onnxruntime; never
TensorFlow or Keras.
"""

from skreid.runtime._estimators import OnnxEmbedder, OnnxPetNet
from skreid.runtime._session import read_onnx_metadata
from skreid.runtime._tracking import BOX_FORMATS, DetectionEmbedder, crop_detections

__all__ = ["OnnxEmbedder", "OnnxPetNet", "read_onnx_metadata", "DetectionEmbedder",
           "crop_detections", "BOX_FORMATS"]
