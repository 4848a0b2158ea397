"""Pretrained backbones of the registry (MobileNetV3-Small, MobileNetV2), usable offline.

The shared ImageNet weights are BatchNorm-folded (see ``data/weights/README.md``): every
BatchNormalization layer of the backbone is therefore set ``trainable = False``. With
Keras 3, calling the backbone with ``training=False`` is not enough: inside ``fit`` its
BatchNorm layers would still normalise with batch statistics and overwrite the folded
weights. Frozen BatchNorm layers always run in inference mode while the convolution kernels
stay trainable.
"""

import os
import re
import warnings

from skreid._keras._base import import_keras
from skreid._keras._registry import BACKBONES
from skreid._keras._registry import backbone as backbone_spec

#: name of the offline weights file shipped alongside the shared data (alpha 0.75, no top)
SHARED_WEIGHTS_NAME = BACKBONES["mobilenet_v3_small"].shared_weights


def freeze_batchnorm(model):
    """Set ``trainable = False`` on every BatchNormalization layer of ``model`` (recursively).

    Returns the number of layers frozen.
    """
    keras = import_keras()
    count = 0
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
            count += 1
    return count


def set_batchnorm_momentum(model, momentum):
    """Set the momentum of every BatchNormalization layer of ``model`` (recursively).

    Keras's applications use 0.999: their moving statistics need thousands of steps to
    settle, far more than a from-scratch fit on a small data set makes, so inference
    (which uses them) would see unnormalised activations.
    """
    keras = import_keras()
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = float(momentum)


def freeze_up_to_stride(backbone, stride, name="mobilenet_v3_small"):
    """Set ``trainable = False`` on the layers of a :func:`build_backbone` network that
    compute its feature map at ``stride`` (4, 8 or 16) and everything before it.

    The early, high-resolution layers cost most of the backward pass while their generic
    edge and texture filters transfer as they are: freezing them speeds up fine-tuning.
    Returns the number of layers frozen.
    """
    if stride not in (4, 8, 16):
        raise ValueError(f"stride must be 4, 8 or 16, got {stride!r}.")
    last = backbone_spec(name).stride_layers[stride][0]
    count = 0
    for layer in backbone.layers:  # topological order: the stem comes first
        layer.trainable = False
        count += 1
        if layer.name == last:
            return count
    raise ValueError(f"{backbone.name} has no layer {last!r}: not a {name} backbone.")


def backbone_blocks(backbone, name="mobilenet_v3_small"):
    """Index of the first layer of each block of a :func:`build_backbone` network."""
    pattern = re.compile(backbone_spec(name).block_pattern)
    starts = {}
    for i, layer in enumerate(backbone.layers):
        match = pattern.match(layer.name)
        if match:
            starts.setdefault(int(match.group(1) or 0), i)
    return [starts[k] for k in sorted(starts)]


def check_backbone_input(name, input_shape):
    """Raise ValueError unless ``input_shape`` is ``(h, w, 3)`` with sides the backbone takes."""
    spec = backbone_spec(name)
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or input_shape[2] != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3) ({spec.application} takes RGB images), "
            f"got {input_shape!r}."
        )
    if min(input_shape[:2]) < spec.min_size:
        raise ValueError(
            f"{spec.application} needs images of at least {spec.min_size}x{spec.min_size} "
            f"pixels, got input_shape={input_shape!r}; resize the images (e.g. "
            f"image_size=(128, 64))."
        )
    return input_shape


def build_backbone(name, input_shape, weights=None, *, alpha=None, freeze_bn=None,
                   last_stride=2, model_name=None, **application_kwargs):
    """A registered backbone (:data:`skreid._keras._registry.BACKBONES`) without its top.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"mobilenet_v3_small"`` or ``"mobilenet_v2"``.
    input_shape : tuple of int
        ``(height, width, 3)``; the network is fully convolutional, so ImageNet weights
        trained at 224x224 work at e.g. 128x64. It takes RGB pixels in ``[0, 255]``.
    weights : str, path-like, "imagenet" or None, default=None
        A local ``.weights.h5`` file, ``"imagenet"`` (Keras's download, cached in
        ``~/.keras/models``; needs internet the first time) or ``None`` (random).
    alpha : float, optional
        Width multiplier (default: the registry's); must match the weights file.
    freeze_bn : bool, optional
        Freeze every BatchNormalization layer; default: the registry's rule (pretrained
        weights frozen, a random backbone's BatchNorm trains with momentum 0.9).
    last_stride : {2, 1}, default=2
        ``1`` keeps the stride-16 resolution in the last stage (output stride 16), re-ID's
        "last stride" trick (Luo et al., 2019); the weights are unchanged.
    model_name : str, optional
        Name of the returned model (default ``name``).
    **application_kwargs
        Passed to the ``keras.applications`` constructor (e.g. ``minimalistic``).

    Raises
    ------
    ValueError
        Input too small or not RGB, missing weights file, a weights file for another
        architecture (the file and the expected architecture are named), or ``"imagenet"``
        when the download is impossible (the message says to pass a local file).
    """
    keras = import_keras()
    spec = backbone_spec(name)
    input_shape = check_backbone_input(name, input_shape)
    alpha = spec.alpha if alpha is None else alpha
    arch = spec.architecture(alpha)
    if application_kwargs:
        arch = arch[:-1] + "".join(f", {k}={v!r}" for k, v in application_kwargs.items()) + ")"
    application = getattr(keras.applications, spec.application)

    def make(w):
        kwargs = dict(alpha=alpha, include_top=False, name=model_name or name,
                      **application_kwargs)
        if spec.input_scale is None:  # the application rescales [0, 255] itself
            kwargs["input_shape"] = input_shape
        else:
            inputs = keras.Input(shape=input_shape, name=f"{name}_images")
            scale, offset = spec.input_scale
            kwargs["input_tensor"] = keras.layers.Rescaling(
                scale, offset=offset, name=f"{name}_rescaling")(inputs)
        return application(weights=w, **kwargs)

    if weights is None:
        model = make(None)
    elif isinstance(weights, str) and weights == "imagenet":
        model = _load_imagenet(make, arch)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            shared = f" (e.g. the shared {spec.shared_weights})" if spec.shared_weights else ""
            raise ValueError(
                f"weights file {'is a directory' if os.path.isdir(path) else 'not found'}: "
                f"{path!r}. Pass an existing .weights.h5 file for "
                f"{arch}{shared}, 'imagenet' or None."
            )
        model = make(None)
        try:
            with warnings.catch_warnings():
                # a wrong file also warns once per skipped container: the error says it all
                warnings.simplefilter("ignore")
                model.load_weights(path)
        except Exception as exc:
            shapes = [tuple(w.shape) for w in model.weights[:2]]
            raise ValueError(
                f"weights file {path!r} does not fit {arch}: the network expects "
                f"{len(model.weights)} weight arrays ({model.count_params():,} parameters; "
                f"the first kernels have shapes {shapes}). Keras said: "
                f"{str(exc).splitlines()[0][:300]}"
            ) from None
    else:
        raise ValueError(
            f"weights must be a path to a .weights.h5 file, 'imagenet' or None, got "
            f"{weights!r}."
        )
    if last_stride == 1:
        model = _with_last_stride_one(keras, model, spec)
    elif last_stride != 2:
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}.")
    if freeze_bn is None:
        freeze_bn = spec.freezes_batchnorm(weights is not None)
        if not freeze_bn:
            set_batchnorm_momentum(model, 0.9)
    if freeze_bn:
        freeze_batchnorm(model)
    return model


def mobilenet_v3_small(input_shape, weights=None, *, alpha=0.75, minimalistic=False,
                       freeze_bn=True, last_stride=2, name="mobilenet_v3_small"):
    """MobileNetV3-Small feature extractor (no classifier top), BatchNorm frozen by default.

    :func:`build_backbone` for ``"mobilenet_v3_small"``; the shared ImageNet weights are
    BatchNorm-folded, which is why ``freeze_bn`` defaults to True here.

    Returns
    -------
    model : keras.Model
        Output ``(None, ceil(h / 32), ceil(w / 32), 432 * alpha / 0.75)`` (``h / 16`` and
        ``w / 16`` with ``last_stride=1``).

    Examples
    --------
    >>> from skreid._keras._backbones import mobilenet_v3_small
    >>> net = mobilenet_v3_small((128, 64, 3), weights=None)
    >>> tuple(net.output.shape)
    (None, 4, 2, 432)
    """
    extra = {"minimalistic": True} if minimalistic else {}
    return build_backbone("mobilenet_v3_small", input_shape, weights, alpha=alpha,
                          freeze_bn=freeze_bn, last_stride=last_stride, model_name=name, **extra)


def _with_last_stride_one(keras, model, spec):
    """Copy of ``model`` whose last downsampling depthwise convolution has stride 1.

    Keras pads that convolution explicitly (``ZeroPadding2D`` then ``"valid"``), so the
    padding becomes the symmetric ``kernel // 2`` of a stride-1 "same" convolution. No
    weight changes shape: they are copied over as they are.
    """
    conv_name, pad_name = spec.last_downsampling
    config = model.get_config()
    layers = {layer["config"]["name"]: layer["config"] for layer in config["layers"]}
    conv = layers.get(conv_name)
    if conv is None:
        raise ValueError(f"{model.name} has no layer {conv_name!r}.")
    conv["strides"] = (1, 1)
    half = conv["kernel_size"][0] // 2
    layers[pad_name]["padding"] = ((half, half), (half, half))
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _load_imagenet(make, arch):
    try:
        with warnings.catch_warnings():
            # Keras warns for any non-224 input; the network is fully convolutional
            warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square")
            return make("imagenet")
    except ValueError:
        raise
    except Exception as exc:  # URL fetch failure, DNS error, bad cache...
        raise ValueError(
            f"weights='imagenet' could not download the Keras weights for {arch} ({exc}). "
            f"This machine is probably offline: pass a local weights file instead, e.g. "
            f"weights='/path/to/{SHARED_WEIGHTS_NAME}' (MobileNetV3-Small alpha 0.75), or "
            f"copy Keras's file into ~/.keras/models (or $KERAS_HOME/models)."
        ) from None


def multiscale_features(backbone, strides=(4, 8, 16, 32), name="mobilenet_v3_small"):
    """Model returning a :func:`build_backbone` network's feature maps at several strides.

    The returned model shares layers (and so weights) with ``backbone``: training one
    trains the other. Use it for a segmentation decoder (U-Net / FPN style).

    Parameters
    ----------
    backbone : keras.Model
        A model built by :func:`build_backbone` for the registered backbone ``name``.
    strides : sequence of int, default=(4, 8, 16, 32)
        Output strides wanted, among 2, 4, 8, 16 and 32.

    Returns
    -------
    model : keras.Model
        Outputs, in the order of ``strides``, of shapes ``(None, h / s, w / s, c_s)`` with
        ``c_s`` = 16, 16, 24, 40, 432 for s = 2, 4, 8, 16, 32 at alpha 0.75.

    Examples
    --------
    >>> from skreid._keras._backbones import mobilenet_v3_small, multiscale_features
    >>> net = multiscale_features(mobilenet_v3_small((64, 64, 3)))
    >>> [tuple(o.shape[1:3]) for o in net.outputs]
    [(16, 16), (8, 8), (4, 4), (2, 2)]
    """
    keras = import_keras()
    stride_layers = backbone_spec(name).stride_layers
    outputs = []
    for stride in strides:
        if stride == 32:
            outputs.append(backbone.output)
        elif stride in stride_layers:
            layer_name, end = stride_layers[stride]
            layer = backbone.get_layer(layer_name)
            outputs.append(layer.input if end == "input" else layer.output)
        else:
            raise ValueError(
                f"strides must be among (2, 4, 8, 16, 32), got {tuple(strides)!r}."
            )
    return keras.Model(backbone.input, outputs, name=f"{backbone.name}_multiscale")
