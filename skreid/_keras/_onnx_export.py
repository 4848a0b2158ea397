"""ONNX export of the skreid Keras estimators: a dedicated inference graph, converted by
tf2onnx, checked against the estimator with onnxruntime before the file is written.

The graph is the estimator's: its ``_inference_graph()`` (the protocol of
:class:`~skreid._keras.KerasEstimatorMixin`, most often built by
:mod:`skreid._keras._inference_graph`) gives the TensorFlow function, its input shape, the
estimator's own outputs to check against and the facts of the metadata. This module knows no
estimator class: a new Keras estimator that implements the hook exports as it is.

This module imports TensorFlow, Keras and tf2onnx: only :func:`skreid.export_onnx` loads it.
"""

import json
import os
import platform

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skreid._keras._base import import_keras
from skreid._keras._export_protocol import check_exportable
from skreid.utils.onnx_metadata import (
    FORMAT_VERSION,
    INPUT_NAME,
    KINDS,
    METADATA_KEY,
    OPTIONAL_OUTPUTS,
)

keras = import_keras()
import tensorflow as tf  # noqa: E402  (after import_keras, which silences TF's C++ logs)

__all__ = ["export_onnx", "check_exportable", "ExportVerificationError"]

DEFAULT_OPSET = 17


class ExportVerificationError(ValueError):
    """The ONNX graph's outputs differ from the estimator's by more than the tolerance."""


def _import_tf2onnx():
    try:
        import onnx  # noqa: F401
        import tf2onnx
    except ImportError as exc:
        raise ImportError(
            "ONNX export needs tf2onnx and onnx: pip install 'skreid[export]'."
        ) from exc
    return tf2onnx


# ---------------------------------------------------------------- verification
def _check_images(graph, X_check, n_check, rng):
    if X_check is not None:
        return X_check
    scale = 1.0 / 255.0 if graph.input_scale != 1.0 else 1.0
    return (rng.integers(0, 256, size=(n_check, *graph.check_shape)) * scale).astype(np.float32)


def _verify(model_bytes, est, graph, X, atol):
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = np.ascontiguousarray(X, dtype=np.float32)
    if feed.ndim == 3:
        feed = feed[..., None]
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {INPUT_NAME: feed}), strict=True))
    expected = graph.reference(X, names)
    diffs = {k: float(np.max(np.abs(got[k] - np.asarray(v, np.float32)))) for k, v in
             expected.items()}
    for name in set(graph.relative) & set(diffs):  # their scale is the network's own
        diffs[name] /= max(float(np.max(expected[name])), 1e-12)
    worst = max(diffs, key=diffs.get)
    if not diffs[worst] <= atol:
        raise ExportVerificationError(
            f"the ONNX graph's {worst} differ from {type(est).__name__}'s by up to "
            f"{diffs[worst]:.3g} (max abs{', relative' if worst in graph.relative else ''}, "
            f"{len(X)} images), more than atol={atol:g}; nothing "
            f"was written. Report this with the skreid, Keras and tf2onnx versions."
        )
    if "embeddings" in expected:  # ranked neighbours must not change either
        e_got, e_ref = got["embeddings"], expected["embeddings"]
        order = np.argsort(-(e_got @ e_got.T), axis=1, kind="stable")
        ref = np.argsort(-(e_ref @ e_ref.T), axis=1, kind="stable")
        diffs["same_rank1"] = bool((order[:, :2] == ref[:, :2]).all())
    return diffs


# ---------------------------------------------------------------- metadata
def _json_safe(value):
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return repr(value)


def _metadata(est, graph, opset, check, outputs):
    import tf2onnx

    from skreid import __version__

    module = type(est).__module__.split("._")[0]
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": graph.kind,
        "estimator": f"{module}.{type(est).__name__}",
        "params": _json_safe(est.get_params(deep=False)),
        "versions": {"skreid": __version__, "keras": keras.__version__,
                     "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "opset": opset,
        "input": {
            "name": INPUT_NAME, "layout": "NHWC", "dtype": "float32",
            "shape": list(graph.input_shape),
            "scale": ("pixels in [0, 1] (the fit data's range; the graph multiplies by 255)"
                      if graph.input_scale != 1.0 else "pixels in [0, 255]"),
            # the fitted scale, for skreid's pixel rule in the runtime (None: feature vectors)
            # (skreid.utils.onnx_metadata.fitted_pixel_range)
            "pixel_range": _json_safe(getattr(est, "pixel_range_", None)),
        },
        "outputs": list(outputs),
        "verification": check,
    }
    meta.update(_json_safe(graph.metadata))
    return meta


# ---------------------------------------------------------------- public
def export_onnx(estimator, path, *, opset=DEFAULT_OPSET, atol=1e-4, X_check=None, n_check=4,
                overwrite=False, random_state=0):
    """Export a fitted Keras estimator to ONNX, checked against it with onnxruntime.

    Parameters
    ----------
    estimator : TripletEmbedder, MultiTaskPetNet, FineTunedPetNet or another Keras estimator
        Fitted, giving its graph through ``_inference_graph()``. A ``TripletEmbedder``
        becomes ``images -> embeddings`` (its scaling, resize, flip averaging and L2
        normalisation in the graph, augmentation left out), plus ``activation_maps`` (its
        ``activation_maps(X, upsample=False)``: the energy of the trunk's last feature map)
        unless the trunk returns a vector; a pets network ``images -> (breed_proba,
        mask_proba)`` with ``mask_proba`` at the image's size, as ``predict_proba`` /
        ``predict_mask(return_proba=True)``.
    path : str or path-like
        The ``.onnx`` file to write (atomically: a failed export leaves nothing behind).
    opset : int, default=17
        ONNX opset.
    atol : float, default=1e-4
        Largest max-abs difference between the ONNX outputs and the estimator's accepted
        (for ``activation_maps``, divided by the map's largest value); above it
        :class:`ExportVerificationError` is raised and nothing is written.
    X_check : array-like of images, optional
        Images to verify on (default: ``n_check`` random images of the fitted shape).
    n_check : int, default=4
    overwrite : bool, default=False
        Replace an existing file at ``path`` (otherwise FileExistsError).
    random_state : int, default=0
        Seeds the random verification images.

    Returns
    -------
    report : dict
        The metadata written into the file (``metadata_props["skreid"]``), with the
        verification's max-abs differences under ``"verification"``.
    """
    check_exportable(estimator)
    check_is_fitted(estimator, "model_")
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"folder {folder!r} does not exist; create it first.")
    tf2onnx = _import_tf2onnx()
    graph = estimator._inference_graph()
    if graph.kind not in KINDS:
        raise ValueError(f"{type(estimator).__name__}._inference_graph() gave kind "
                         f"{graph.kind!r}; the runtime reads {sorted(KINDS)}.")
    spec = (tf.TensorSpec(graph.input_shape, tf.float32, name=INPUT_NAME),)
    model_proto, _ = tf2onnx.convert.from_function(
        tf.function(graph.function), input_signature=spec, opset=int(opset))
    outputs = [o.name for o in model_proto.graph.output]
    required, optional = KINDS[graph.kind], OPTIONAL_OUTPUTS[graph.kind]
    if not set(required) <= set(outputs) <= {*required, *optional}:
        raise ValueError(f"{type(estimator).__name__}._inference_graph() returns {outputs}; a "
                         f"{graph.kind!r} graph returns {list(required)} (and optionally "
                         f"{list(optional)}).")
    randoms = sorted({n.op_type for n in model_proto.graph.node if "Random" in n.op_type})
    if randoms:  # an augmentation layer that inference_clone does not know
        raise ExportVerificationError(f"the exported graph holds random ops {randoms}.")
    rng = np.random.default_rng(random_state)
    X = _check_images(graph, X_check, n_check, rng)
    check = _verify(model_proto.SerializeToString(), estimator, graph, X, atol)
    check.update(atol=float(atol), n_images=int(len(X)))
    meta = _metadata(estimator, graph, int(opset), check, outputs)
    flat = {METADATA_KEY: json.dumps(meta), "skreid_version": meta["versions"]["skreid"],
            "onnx_opset": str(opset), "estimator": meta["estimator"],
            "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
            "tf2onnx_version": tf2onnx.__version__}
    del model_proto.metadata_props[:]
    for key, value in flat.items():
        prop = model_proto.metadata_props.add()
        prop.key, prop.value = key, value
    model_proto.producer_name = "skreid"
    model_proto.doc_string = f"{meta['estimator']} exported by skreid.export_onnx"
    from skreid.utils import atomic_write

    with atomic_write(path) as fh:
        fh.write(model_proto.SerializeToString())
    return meta
