"""What :func:`skreid.export_onnx` asks of a Keras estimator: its ``_inference_graph()``
returns an :class:`InferenceGraph`. No Keras import here (the CLI checks a loaded model with
:func:`check_exportable` before TensorFlow is loaded).
"""

import dataclasses
from collections.abc import Callable

__all__ = ["InferenceGraph", "check_exportable"]


@dataclasses.dataclass(frozen=True)
class InferenceGraph:
    """What a Keras estimator's ``_inference_graph()`` gives :func:`skreid.export_onnx`.

    Attributes
    ----------
    kind : {"embedder", "petnet"}
        The outputs' contract (:data:`skreid.utils.onnx_metadata.KINDS`): which of
        :class:`skreid.runtime.OnnxEmbedder` / ``OnnxPetNet`` runs the file.
    function : callable
        ``images -> {name: tensor}``: TensorFlow ops on a float32 NHWC batch, in inference
        mode, returning the kind's outputs (in order) and optional ones.
    input_shape : tuple
        The graph's input shape, ``None`` for a free size (the batch's always).
    reference : callable
        ``(X, names) -> {name: ndarray}``: the estimator's own outputs for images ``X`` (the
        names the graph returned), which the export must reproduce.
    check_shape : tuple of int
        Shape of one random verification image.
    input_scale : float, default=1.0
        Factor the graph applies to the pixels: 255 when it takes [0, 1] images.
    relative : tuple of str, default=()
        Outputs compared relative to their largest value (their scale is the network's own).
    metadata : dict
        Facts written into the file's metadata beside the generic ones.
    """

    kind: str
    function: Callable
    input_shape: tuple
    reference: Callable
    check_shape: tuple
    input_scale: float = 1.0
    relative: tuple = ()
    metadata: dict = dataclasses.field(default_factory=dict)


def check_exportable(estimator):
    """Raise TypeError unless :func:`export_onnx` can export ``estimator`` (it implements
    the ``_inference_graph`` hook of :class:`~skreid._keras.KerasEstimatorMixin`)."""
    from skreid._keras._base import KerasEstimatorMixin

    hook = getattr(type(estimator), "_inference_graph", None)
    if hook is None or hook is KerasEstimatorMixin._inference_graph:
        raise TypeError(
            f"export_onnx exports TripletEmbedder, MultiTaskPetNet, FineTunedPetNet and the "
            f"other Keras estimators that give their inference graph (_inference_graph), got "
            f"{type(estimator).__name__}. (PCAReID and the other NumPy estimators need no "
            f"export: save them with skreid.save.)"
        )
