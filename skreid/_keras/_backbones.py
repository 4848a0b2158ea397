"""Pretrained backbones for the Keras estimators (MobileNetV3-Small), usable offline.

The shared ImageNet weights are BatchNorm-folded (see ``data/weights/README.md``): every
BatchNormalization layer of the backbone is therefore set ``trainable = False``. With
Keras 3, calling the backbone with ``training=False`` is not enough: inside ``fit`` its
BatchNorm layers would still normalise with batch statistics and overwrite the folded
weights. Frozen BatchNorm layers always run in inference mode while the convolution kernels
stay trainable.
"""

import os
import warnings

from skreid._keras._base import import_keras

#: name of the offline weights file shipped alongside the shared data (alpha 0.75, no top)
SHARED_WEIGHTS_NAME = "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"

# Layers (by their fixed Keras names) whose *input* is the last feature map at each stride of
# MobileNetV3Small; the stride-32 map is the model output. Auto-numbered names such as
# "activation_3" change with the session's name counter, so they are never used here.
_STRIDE_LAYERS = {
    2: ("expanded_conv_depthwise_pad", "input"),
    4: ("expanded_conv_project_bn", "output"),
    8: ("expanded_conv_2_add", "output"),
    16: ("expanded_conv_7_add", "output"),
}


# the depthwise convolution that takes the stride-16 map down to stride 32
_LAST_DOWNSAMPLING = "expanded_conv_8_depthwise"


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


def freeze_up_to_stride(backbone, stride):
    """Set ``trainable = False`` on the layers of a :func:`mobilenet_v3_small` backbone that
    compute its feature map at ``stride`` (4, 8 or 16) and everything before it.

    The early, high-resolution layers cost most of the backward pass while their generic
    edge and texture filters transfer as they are: freezing them speeds up fine-tuning.
    Returns the number of layers frozen.
    """
    if stride not in (4, 8, 16):
        raise ValueError(f"stride must be 4, 8 or 16, got {stride!r}.")
    last = _STRIDE_LAYERS[stride][0]
    count = 0
    for layer in backbone.layers:  # topological order: the stem comes first
        layer.trainable = False
        count += 1
        if layer.name == last:
            return count
    raise ValueError(f"{backbone.name} has no layer {last!r}: not a MobileNetV3Small backbone.")


def mobilenet_v3_small(
    input_shape,
    weights=None,
    *,
    alpha=0.75,
    minimalistic=False,
    include_preprocessing=True,
    freeze_bn=True,
    last_stride=2,
    name="mobilenet_v3_small",
):
    """MobileNetV3-Small feature extractor (no classifier top) with frozen BatchNorm.

    Parameters
    ----------
    input_shape : tuple of int
        ``(height, width, 3)``; height and width at least 32. The network is fully
        convolutional, so ImageNet weights trained at 224x224 work at e.g. 128x64.
    weights : str, path-like, "imagenet" or None, default=None
        A local ``.weights.h5`` file (for example the shared
        ``mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5``), ``"imagenet"``
        (Keras's download, cached in ``~/.keras/models``; needs internet the first time) or
        ``None`` (random initialisation).
    alpha : float, default=0.75
        Width multiplier; must match the weights file (the shared file is alpha 0.75).
    minimalistic : bool, default=False
        Keras's minimalistic variant (no squeeze-excite, no hard-swish).
    include_preprocessing : bool, default=True
        Keep Keras's rescaling layer: the model takes RGB pixels in ``[0, 255]``.
    freeze_bn : bool, default=True
        Set every BatchNormalization layer ``trainable=False`` (needed for the folded
        weights; see the module docstring).
    last_stride : {2, 1}, default=2
        Stride of the last stage's downsampling block. ``1`` keeps the stride-16 resolution
        in the last stage (output stride 16, twice the height and width), like re-ID's
        "last stride" trick (Luo et al., 2019); the weights are unchanged.
    name : str, default="mobilenet_v3_small"
        Name of the returned model.

    Returns
    -------
    model : keras.Model
        Output ``(None, ceil(h / 32), ceil(w / 32), 432 * alpha / 0.75)`` (``h / 16`` and
        ``w / 16`` with ``last_stride=1``).

    Raises
    ------
    ValueError
        Input too small or not RGB, missing weights file, a weights file for another
        architecture (the file and the expected architecture are named), or ``"imagenet"``
        when the download is impossible (the message says to pass a local file).

    Examples
    --------
    >>> from skreid._keras._backbones import mobilenet_v3_small
    >>> net = mobilenet_v3_small((128, 64, 3), weights=None)
    >>> tuple(net.output.shape)
    (None, 4, 2, 432)
    """
    keras = import_keras()
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) != 3 or input_shape[2] != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3) (MobileNetV3 takes RGB images), got "
            f"{input_shape!r}."
        )
    if min(input_shape[:2]) < 32:
        raise ValueError(
            f"MobileNetV3Small needs images of at least 32x32 pixels, got input_shape="
            f"{input_shape!r}; resize the images (e.g. image_size=(128, 64))."
        )
    arch = (
        f"keras.applications.MobileNetV3Small(alpha={alpha}, minimalistic={minimalistic}, "
        f"include_top=False)"
    )
    kwargs = dict(
        input_shape=input_shape, alpha=alpha, minimalistic=minimalistic, include_top=False,
        include_preprocessing=include_preprocessing, name=name,
    )
    if weights is None:
        model = keras.applications.MobileNetV3Small(weights=None, **kwargs)
    elif isinstance(weights, str) and weights == "imagenet":
        model = _load_imagenet(keras, kwargs, arch)
    elif isinstance(weights, (str, os.PathLike)):
        path = os.fspath(weights)
        if not os.path.isfile(path):
            raise ValueError(
                f"weights file not found: {path!r}. Pass an existing .weights.h5 file for "
                f"{arch} (e.g. the shared {SHARED_WEIGHTS_NAME}), 'imagenet' or None."
            )
        model = keras.applications.MobileNetV3Small(weights=None, **kwargs)
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
        model = _with_last_stride_one(keras, model)
    elif last_stride != 2:
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}.")
    if freeze_bn:
        freeze_batchnorm(model)
    return model


def _with_last_stride_one(keras, model):
    """Copy of ``model`` whose last downsampling depthwise convolution has stride 1.

    Keras pads that convolution explicitly (``ZeroPadding2D`` then ``"valid"``), so the
    padding becomes the symmetric ``kernel // 2`` of a stride-1 "same" convolution. No
    weight changes shape: they are copied over as they are.
    """
    config = model.get_config()
    layers = {layer["config"]["name"]: layer["config"] for layer in config["layers"]}
    conv = layers.get(_LAST_DOWNSAMPLING)
    if conv is None:
        raise ValueError(f"{model.name} has no layer {_LAST_DOWNSAMPLING!r}.")
    conv["strides"] = (1, 1)
    half = conv["kernel_size"][0] // 2
    layers[_LAST_DOWNSAMPLING + "_pad"]["padding"] = ((half, half), (half, half))
    rebuilt = keras.Model.from_config(config)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _load_imagenet(keras, kwargs, arch):
    try:
        with warnings.catch_warnings():
            # Keras warns for any non-224 input; the network is fully convolutional
            warnings.filterwarnings("ignore", message=".*input_shape. is undefined or non-square")
            return keras.applications.MobileNetV3Small(weights="imagenet", **kwargs)
    except ValueError:
        raise
    except Exception as exc:  # URL fetch failure, DNS error, bad cache...
        raise ValueError(
            f"weights='imagenet' could not download the Keras weights for {arch} ({exc}). "
            f"This machine is probably offline: pass a local weights file instead, e.g. "
            f"weights='/path/to/{SHARED_WEIGHTS_NAME}' (alpha 0.75), or copy Keras's file "
            f"into ~/.keras/models (or $KERAS_HOME/models)."
        ) from None


def multiscale_features(backbone, strides=(4, 8, 16, 32)):
    """Model returning a MobileNetV3-Small backbone's feature maps at several strides.

    The returned model shares layers (and so weights) with ``backbone``: training one
    trains the other. Use it for a segmentation decoder (U-Net / FPN style).

    Parameters
    ----------
    backbone : keras.Model
        A model built by :func:`mobilenet_v3_small`.
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
    outputs = []
    for stride in strides:
        if stride == 32:
            outputs.append(backbone.output)
        elif stride in _STRIDE_LAYERS:
            layer_name, end = _STRIDE_LAYERS[stride]
            layer = backbone.get_layer(layer_name)
            outputs.append(layer.input if end == "input" else layer.output)
        else:
            raise ValueError(
                f"strides must be among (2, 4, 8, 16, 32), got {tuple(strides)!r}."
            )
    return keras.Model(backbone.input, outputs, name=f"{backbone.name}_multiscale")
