"""Inference graphs of the Keras networks for :func:`skreid.export_onnx`, built from values.

A Keras estimator's ``_inference_graph()`` (the protocol of
:class:`~skreid._keras.KerasEstimatorMixin`) calls :func:`embedder_graph` or
:func:`petnet_graph` here, or builds its own :class:`~skreid._keras.InferenceGraph` with
:func:`inference_clone`; the exporter converts whatever graph it gets.

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
* Test-time flip averaging (``test_time_flip``) runs in NumPy in the estimators; here it is
  part of the graph, and so is the pets mask's resize back to the image size.

This module imports TensorFlow and Keras: only the export loads it.
"""

import inspect

import numpy as np

from skreid._keras._base import import_keras
from skreid._keras._export_protocol import InferenceGraph

keras = import_keras()
import tensorflow as tf  # noqa: E402  (after import_keras, which silences TF's C++ logs)

__all__ = ["embedder_graph", "inference_clone", "petnet_graph"]

_AUGMENTATION = (keras.layers.RandomFlip, keras.layers.RandomTranslation)


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


def inference_clone(model):
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


def embedder_graph(model, input_shape, *, flip, reference, input_scale=1.0, metadata=None):
    """``images -> embeddings`` (and ``activation_maps`` when the trunk has a feature map) of
    a :mod:`skreid._keras._reid_networks` training network.

    Parameters
    ----------
    model : keras.Model
        The training network (``build_reid_network``).
    input_shape : tuple of int
        One image's fitted shape.
    flip : bool
        Average each embedding with its mirror image's, as the estimator's ``transform``
        (and the activation map with its mirror's, mirrored back).
    reference : callable
        ``(X, names) -> {name: array}``: the estimator's own outputs (``"embeddings"``,
        ``"activation_maps"`` when asked).
    input_scale : float, default=1.0
        Factor the network applies to the pixels (255 for [0, 1] images).
    metadata : dict, optional
        Facts for the file's metadata.
    """
    from skreid._keras._activation import feature_map_tensor
    from skreid._keras._reid_networks import embedding_model

    embedder = embedding_model(model)
    feature_map = feature_map_tensor(model)  # None: the trunk returns a vector
    if feature_map is not None:  # the activation map's feature map as a second output
        embedder = keras.Model(embedder.input, [embedder.output, feature_map])
    net = inference_clone(embedder)
    flip = bool(flip) and input_shape[1] > 1
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

    return InferenceGraph(
        kind="embedder", function=embed, input_shape=(None, *input_shape),
        reference=reference, check_shape=tuple(input_shape), input_scale=input_scale,
        relative=("activation_maps",), metadata=dict(metadata or {}),
    )


def petnet_graph(model, n_channels, *, network_channels, flip, image_size, reference,
                 input_scale=1.0, metadata=None):
    """``images -> (breed_proba, mask_proba)`` of a :mod:`skreid._keras._pet_networks`
    network, the mask resized back to the input's size (as ``predict_mask``).

    Parameters
    ----------
    model : keras.Model
        The two-headed network (outputs ``"breed"`` and ``"mask"``).
    n_channels : int
        Channels of the fitted images.
    network_channels : int
        Channels the network takes: grayscale images are repeated to them.
    flip : bool
        Average the outputs over each image and its mirror (the mirrored mask flipped back).
    image_size : (int, int)
        The working size (verification images are of another size, so both resizes run).
    reference : callable
        ``(X, names) -> {name: array}``: the estimator's own ``"breed_proba"`` and
        ``"mask_proba"``.
    input_scale : float, default=1.0
        Factor bringing the images to the network's [0, 255]: 255 for a network fitted on
        [0, 1] floats (as the estimator's ``_pixels``).
    metadata : dict, optional
        Facts for the file's metadata.
    """
    repeat = n_channels == 1 and network_channels == 3

    def predict(images):
        x = images * float(input_scale) if input_scale != 1.0 else images
        x = tf.concat([x] * 3, axis=-1) if repeat else x
        out = model(x, training=False)
        breed, mask = out["breed"], out["mask"]
        if flip:
            out_flip = model(tf.reverse(x, axis=[2]), training=False)
            breed = 0.5 * (breed + out_flip["breed"])
            mask = 0.5 * (mask + tf.reverse(out_flip["mask"], axis=[2]))
        # predict_mask's resize back to the image size (bilinear, Keras's resize_batch)
        mask = tf.image.resize(mask, tf.shape(images)[1:3], method="bilinear")
        return {"breed_proba": tf.identity(breed, name="breed_proba"),
                "mask_proba": tf.identity(mask, name="mask_proba")}

    h, w = image_size
    return InferenceGraph(
        kind="petnet", function=predict, input_shape=(None, None, None, n_channels),
        reference=reference, check_shape=(h + h // 4 + 1, max(1, w - w // 4), n_channels),
        input_scale=float(input_scale), metadata=dict(metadata or {}),
    )
