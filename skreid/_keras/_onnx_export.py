"""ONNX export of the skreid Keras estimators: a dedicated inference graph, converted by
tf2onnx, checked against the estimator with onnxruntime before the file is written.

Why not ``model.export(format="onnx")`` of the training network:

* Keras's ``Resizing`` and random augmentation layers declare ``call(..., training=True)``.
  When a model is called without an explicit ``training`` (as ``Model.export`` traces it),
  Keras resolves the first such default and stores it in the call context, so every later
  layer of that call -- the BatchNormalization of the BN neck and of a backbone trained
  from scratch -- runs in *training* mode, normalising with the batch's statistics. That is
  the 0.10-0.17 gap on unit-norm embeddings measured with the in-graph resize (without a
  resize layer nothing sets the flag; the resize exported alone is exact), and why
  ``augment=True`` left RandomFlip/RandomTranslation active. Here every call passes
  ``training=False`` and the augmentation layers are removed from the graph.
* The antialiased resize is TensorFlow's ``ScaleAndTranslate``, which no converter
  supports. A resize is linear and separable, so it is exported as two constant matrices
  (height, width) obtained by resizing identity images with the layer's own op: the same
  weights as the estimator's resize, for up- and down-sampling alike. When those matrices
  are plain bilinear ones (upsampling, where antialiasing changes nothing), the graph uses
  the bilinear resize op instead, which converts to ONNX ``Resize`` and runs much faster.
* Test-time flip averaging (``flip_test`` / ``test_time_flip``) runs in NumPy in the
  estimators; here it is part of the graph, and so is the pets mask's resize back to the
  image size.

This module imports TensorFlow, Keras and tf2onnx: only :func:`skreid.export_onnx` loads it.
"""

import inspect
import json
import os
import platform

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skreid._keras._base import import_keras
from skreid.utils.onnx_metadata import FORMAT_VERSION, INPUT_NAME, METADATA_KEY

keras = import_keras()
import tensorflow as tf  # noqa: E402  (after import_keras, which silences TF's C++ logs)

__all__ = ["export_onnx", "ExportVerificationError"]

DEFAULT_OPSET = 17
_AUGMENTATION = (keras.layers.RandomFlip, keras.layers.RandomTranslation)


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


# ---------------------------------------------------------------- inference graphs
def _resize_matrix(size_in, size_out, interpolation, antialias):
    """``(size_out, size_in)`` matrix M with ``resize(x)`` = M @ x along one axis."""
    eye = np.eye(size_in, dtype=np.float32)[None, :, :, None]  # (1, in, in, 1): rows = axis
    out = keras.ops.image.resize(eye, (size_out, size_in), interpolation=interpolation,
                                 antialias=antialias)
    return np.asarray(keras.ops.convert_to_numpy(out))[0, :, :, 0]


def _exportable_resize(layer, x):
    """``layer`` (a ``keras.layers.Resizing``) applied to ``x`` in a form ONNX converts
    faithfully: two matrix products, or the plain bilinear op when the matrices are its."""
    if layer.crop_to_aspect_ratio or layer.pad_to_aspect_ratio:
        raise NotImplementedError(f"{layer.name}: resizing with crop/pad is not exportable.")
    if layer.data_format != "channels_last":
        raise NotImplementedError(f"{layer.name}: only channels_last resizing is exportable.")
    (h, w), (oh, ow) = x.shape[1:3], (layer.height, layer.width)
    rows = _resize_matrix(h, oh, layer.interpolation, layer.antialias)
    cols = _resize_matrix(w, ow, layer.interpolation, layer.antialias)
    if layer.interpolation == "bilinear" and _is_plain_bilinear(rows, cols):
        # upsampling: the antialiased kernel equals plain bilinear (half-pixel centres), which
        # converts to ONNX Resize; as two matrix products, onnxruntime spent ~45% of a
        # batch's time on them and their layout transposes (benchmarks/inference.py)
        return keras.ops.image.resize(x, (oh, ow), interpolation="bilinear", antialias=False)
    x = keras.ops.einsum("oh,nhwc->nowc", rows, x)
    return keras.ops.einsum("pw,nowc->nopc", cols, x)


def _is_plain_bilinear(rows, cols, atol=1e-6):
    """Whether the two resize matrices are those of bilinear resizing without antialiasing."""
    plain = [_resize_matrix(m.shape[1], m.shape[0], "bilinear", False) for m in (rows, cols)]
    return all(np.allclose(m, p, rtol=0, atol=atol) for m, p in zip((rows, cols), plain,
                                                                    strict=True))


def _inference_clone(model):
    """``model`` rebuilt for export: augmentation removed, resizes made exportable, the other
    layers shared (same weights), every call in inference mode."""
    from skreid._keras._layers import RandomErasing

    def call(layer, *args, **kwargs):
        if isinstance(layer, (*_AUGMENTATION, RandomErasing)) or getattr(
                layer, "training_only", False):  # skreid's colour augmentation, MixStyle
            return args[0]
        if isinstance(layer, keras.layers.Resizing):
            return _exportable_resize(layer, args[0])
        if "training" in inspect.signature(layer.call).parameters:
            kwargs["training"] = False
        return layer(*args, **kwargs)

    return keras.models.clone_model(model, clone_function=lambda layer: layer,
                                    call_function=call)


def _embedder_function(est):
    from skreid._keras._activation import feature_map_tensor
    from skreid._keras._reid_networks import embedding_model

    embedder = embedding_model(est.model_)
    feature_map = feature_map_tensor(est.model_)  # None: the trunk returns a vector
    if feature_map is not None:  # the activation map's feature map as a second output
        embedder = keras.Model(embedder.input, [embedder.output, feature_map])
    net = _inference_clone(embedder)
    flip = bool(est.flip_test) and est.input_shape_[1] > 1
    tiny = float(np.finfo(np.float32).tiny)

    def embed(images):
        n = tf.shape(images)[0]
        x = tf.concat([images, tf.reverse(images, axis=[2])], 0) if flip else images
        emb = net(x, training=False)
        if feature_map is not None:
            emb, fmap = emb
            energy = tf.reduce_sum(tf.square(fmap), axis=-1)
            if flip:  # as ActivationMapsMixin.activation_maps(upsample=False)
                energy = 0.5 * (energy[:n] + tf.reverse(energy[n:], axis=[2]))
        if flip:  # as TripletEmbedder._embed: sum of both unit embeddings, re-normalised
            emb = emb[:n] + emb[n:]
            emb = emb / tf.maximum(tf.norm(emb, axis=1, keepdims=True), tiny)
        out = {"embeddings": tf.identity(emb, name="embeddings")}
        if feature_map is not None:
            out["activation_maps"] = tf.identity(energy, name="activation_maps")
        return out

    return embed, (None, *est.input_shape_)


def _petnet_function(est):
    model = est.model_
    flip = bool(getattr(est, "test_time_flip", False))
    repeat = type(est).__name__ == "FineTunedPetNet" and est.n_channels_in_ == 1
    # the networks work on [0, 255]: a fit on [0, 1] floats scales its input (as _pixels)
    scale = 255.0 / (getattr(est, "pixel_range_", None) or 255.0)

    def predict(images):
        x = images * scale if scale != 1.0 else images
        x = tf.concat([x] * 3, axis=-1) if repeat else x
        out = model(x, training=False)
        breed, mask = out["breed"], out["mask"]
        if flip:  # as FineTunedPetNet._network_outputs
            out_flip = model(tf.reverse(x, axis=[2]), training=False)
            breed = 0.5 * (breed + out_flip["breed"])
            mask = 0.5 * (mask + tf.reverse(out_flip["mask"], axis=[2]))
        # predict_mask's resize back to the image size (bilinear, Keras's resize_batch)
        mask = tf.image.resize(mask, tf.shape(images)[1:3], method="bilinear")
        return {"breed_proba": tf.identity(breed, name="breed_proba"),
                "mask_proba": tf.identity(mask, name="mask_proba")}

    return predict, (None, None, None, est.n_channels_in_)


def export_kind(est):
    """``"embedder"`` or ``"petnet"``: what :func:`export_onnx` makes of ``est`` (TypeError
    for an estimator it does not export)."""
    name = type(est).__name__
    if name == "TripletEmbedder":
        return "embedder"
    if name in ("MultiTaskPetNet", "FineTunedPetNet"):
        return "petnet"
    raise TypeError(
        f"export_onnx exports TripletEmbedder, MultiTaskPetNet and FineTunedPetNet, got "
        f"{type(est).__name__}. (PCAReID and the other NumPy estimators need no export: "
        f"save them with skreid.save.)"
    )


# ---------------------------------------------------------------- verification
def _check_images(est, kind, X_check, n_check, rng):
    if X_check is not None:
        return X_check
    fitted = _fitted_range(est)
    if fitted is None:  # feature vectors: on the scale their peak gave
        fitted = 1.0 if getattr(est, "input_scale_", 1.0) != 1.0 else 255.0
    scale = 1.0 / 255.0 if fitted == 1.0 else 1.0
    if kind == "embedder":
        shape = est.input_shape_
    else:  # another size than the working one: exercises both resizes of the graph
        h, w = est._image_size()
        shape = (h + h // 4 + 1, max(1, w - w // 4), est.n_channels_in_)
    return (rng.integers(0, 256, size=(n_check, *shape)) * scale).astype(np.float32)


def _reference_outputs(est, kind, X, names):
    if kind == "embedder":
        out = {"embeddings": est.transform(X)}
        if "activation_maps" in names:
            out["activation_maps"] = est.activation_maps(X, upsample=False)
        return out
    proba = est.predict_mask(X, return_proba=True)
    if est.segmentation == "binary":
        proba = proba[..., None]
    return {"breed_proba": est.predict_proba(X), "mask_proba": proba}


def _verify(model_bytes, est, kind, X, atol):
    import onnxruntime as ort

    session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    feed = np.ascontiguousarray(X, dtype=np.float32)
    if feed.ndim == 3:
        feed = feed[..., None]
    names = [o.name for o in session.get_outputs()]
    got = dict(zip(names, session.run(None, {INPUT_NAME: feed}), strict=True))
    expected = _reference_outputs(est, kind, X, names)
    diffs = {k: float(np.max(np.abs(got[k] - np.asarray(v, np.float32)))) for k, v in
             expected.items()}
    if "activation_maps" in diffs:  # sums of squares: their scale is the network's own
        diffs["activation_maps"] /= max(float(np.max(expected["activation_maps"])), 1e-12)
    worst = max(diffs, key=diffs.get)
    if not diffs[worst] <= atol:
        raise ExportVerificationError(
            f"the ONNX graph's {worst} differ from {type(est).__name__}'s by up to "
            f"{diffs[worst]:.3g} (max abs{', relative' if worst == 'activation_maps' else ''}, "
            f"{len(X)} images), more than atol={atol:g}; nothing "
            f"was written. Report this with the skreid, Keras and tf2onnx versions."
        )
    if kind == "embedder":  # ranked neighbours must not change either
        e_got, e_ref = got["embeddings"], expected["embeddings"]
        order = np.argsort(-(e_got @ e_got.T), axis=1, kind="stable")
        ref = np.argsort(-(e_ref @ e_ref.T), axis=1, kind="stable")
        diffs["same_rank1"] = bool((order[:, :2] == ref[:, :2]).all())
    return diffs


# ---------------------------------------------------------------- metadata
def _fitted_range(est):
    """The pixel scale the graph's input is on: the estimator's ``pixel_range_`` (None for a
    TripletEmbedder fitted on feature vectors, whose scale ``input_scale_`` decided)."""
    if getattr(est, "pixel_range_", None) is not None:
        return float(est.pixel_range_)
    return None if hasattr(est, "pixel_range_") and hasattr(est, "input_scale_") else 255.0


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


def _metadata(est, kind, shape, opset, check, outputs):
    import tf2onnx

    from skreid import __version__

    module = type(est).__module__.split("._")[0]
    fitted = _fitted_range(est)
    scale = float(getattr(est, "input_scale_", 255.0 / (fitted or 255.0)))
    meta = {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "estimator": f"{module}.{type(est).__name__}",
        "params": _json_safe(est.get_params(deep=False)),
        "versions": {"skreid": __version__, "keras": keras.__version__,
                     "tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__,
                     "numpy": np.__version__, "python": platform.python_version()},
        "opset": opset,
        "input": {
            "name": INPUT_NAME, "layout": "NHWC", "dtype": "float32", "shape": list(shape),
            "scale": ("pixels in [0, 1] (the fit data's range; the graph multiplies by 255)"
                      if scale != 1.0 else "pixels in [0, 255]"),
            # skreid's pixel rule in the runtime (skreid.utils.onnx_metadata.fitted_pixel_range)
            "pixel_range": fitted,
        },
        "outputs": list(outputs),
        "verification": check,
    }
    if kind == "embedder":
        meta.update(image_size=_json_safe(est.image_size), flip_test=bool(est.flip_test),
                    metric=est.metric, n_identities=int(len(est.identities_)),
                    preprocessing="in the graph: scaling, resize (as two matrices), flip "
                                  "averaging, L2 normalisation")
    else:
        meta.update(image_size=list(est._image_size()), segmentation=est.segmentation,
                    classes=_json_safe(est.classes_.tolist()),
                    classes_dtype=est.classes_.dtype.str if est.classes_.dtype != object
                    else None,
                    test_time_flip=bool(getattr(est, "test_time_flip", False)),
                    preprocessing="in the graph: resize to image_size, flip averaging, the "
                                  "mask resized back to the input size (bilinear)")
    return meta


# ---------------------------------------------------------------- public
def export_onnx(estimator, path, *, opset=DEFAULT_OPSET, atol=1e-4, X_check=None, n_check=4,
                overwrite=False, random_state=0):
    """Export a fitted Keras estimator to ONNX, checked against it with onnxruntime.

    Parameters
    ----------
    estimator : TripletEmbedder, MultiTaskPetNet or FineTunedPetNet
        Fitted. A ``TripletEmbedder`` becomes ``images -> embeddings`` (its scaling,
        resize, flip averaging and L2 normalisation in the graph, augmentation left out),
        plus ``activation_maps`` (its ``activation_maps(X, upsample=False)``: the energy of
        the trunk's last feature map) unless the trunk returns a vector; a pets network
        ``images -> (breed_proba, mask_proba)`` with ``mask_proba`` at the image's size,
        as ``predict_proba`` / ``predict_mask(return_proba=True)``.
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
    kind = export_kind(estimator)
    check_is_fitted(estimator, "model_")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path!r} is a directory: pass the path of the .onnx file to "
                                f"write, e.g. {os.path.join(path, 'model.onnx')!r}.")
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path!r} exists; pass overwrite=True to replace it.")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"folder {folder!r} does not exist; create it first.")
    tf2onnx = _import_tf2onnx()
    fn, shape = (_embedder_function if kind == "embedder" else _petnet_function)(estimator)
    spec = (tf.TensorSpec(shape, tf.float32, name=INPUT_NAME),)
    model_proto, _ = tf2onnx.convert.from_function(
        tf.function(fn), input_signature=spec, opset=int(opset))
    randoms = sorted({n.op_type for n in model_proto.graph.node if "Random" in n.op_type})
    if randoms:  # an augmentation layer that _inference_clone does not know
        raise ExportVerificationError(f"the exported graph holds random ops {randoms}.")
    rng = np.random.default_rng(random_state)
    X = _check_images(estimator, kind, X_check, n_check, rng)
    check = _verify(model_proto.SerializeToString(), estimator, kind, X, atol)
    check.update(atol=float(atol), n_images=int(len(X)))
    outputs = [o.name for o in model_proto.graph.output]
    meta = _metadata(estimator, kind, shape, int(opset), check, outputs)
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
