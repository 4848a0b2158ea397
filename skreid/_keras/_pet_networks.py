"""Network builders for the two-headed pet networks (breed softmax + segmentation map).

Every builder returns a functional ``keras.Model`` that takes images of any size in
``[0, 255]`` (resized inside the model to ``image_size``) and has two outputs:

- ``"breed"``: class probabilities, shape ``(n, n_classes)``;
- ``"mask"``: per-pixel probabilities at ``image_size``; one sigmoid channel (probability of
  "pet") when ``n_mask_classes == 1``, else a softmax over the trimap classes
  (0 pet, 1 background, 2 border).

One layer of every network is named ``"embedding"``: its output is the bottleneck embedding
that the estimators' ``transform`` returns.

The losses are registered with Keras (package ``"skreid"``) so pickled estimators load back
compiled. This module imports Keras: only the pets estimators import it, inside ``fit``.
"""

from skreid._keras._base import import_keras

keras = import_keras()
ops = keras.ops

MASK_OUTPUT = "mask"
BREED_OUTPUT = "breed"
EMBEDDING_LAYER = "embedding"


def _keras():
    return keras


def _input_and_resize(keras, image_size, n_channels, rescale=True):
    """Input of any spatial size, resized to ``image_size`` (no-op cost when sizes match)."""
    inputs = keras.Input(shape=(None, None, n_channels), name="images")
    x = keras.layers.Resizing(*image_size, interpolation="bilinear", name="resize")(inputs)
    if rescale:
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(x)
    return inputs, x


def _mask_head(keras, x, n_mask_classes):
    if n_mask_classes == 1:
        return keras.layers.Conv2D(1, 1, activation="sigmoid", name=MASK_OUTPUT)(x)
    return keras.layers.Conv2D(n_mask_classes, 1, activation="softmax", name=MASK_OUTPUT)(x)


def build_seed_network(image_size=(256, 256), n_classes=37, n_channels=3, n_mask_classes=1):
    """The report's from-scratch two-headed network, layer for layer.

    Encoder: Conv2D 3x3 ReLU 'same' with 64, 32 and 16 filters, each followed by 2x2
    max-pooling (the last pooling output is the bottleneck). Classifier: Dense softmax on the
    flattened bottleneck. Decoder: Conv2D 16, 16, 32, each followed by 2x2 upsampling, then a
    1x1 sigmoid (or softmax for the trimap) output.

    Parameters
    ----------
    image_size : (int, int), default=(256, 256)
        Working resolution; both sides must be divisible by 8.
    n_classes : int, default=37
    n_channels : int, default=3
    n_mask_classes : int, default=1
        1 for a sigmoid pet/background map, 3 for a softmax over the trimap.

    Returns
    -------
    model : keras.Model
        With outputs ``{"breed", "mask"}``; the layer ``"embedding"`` is the flattened bottleneck.

    Examples
    --------
    >>> from skreid._keras._pet_networks import build_seed_network
    >>> build_seed_network((256, 256), n_classes=37).count_params()
    640438
    """
    keras = _keras()
    layers = keras.layers
    inputs, x = _input_and_resize(keras, image_size, n_channels)
    for i, filters in enumerate((64, 32, 16)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"enc_conv{i}")(x)
        x = layers.MaxPooling2D(2, name=f"enc_pool{i}")(x)
    bottleneck = x
    embedding = layers.Flatten(name=EMBEDDING_LAYER)(bottleneck)
    breed = layers.Dense(n_classes, activation="softmax", name=BREED_OUTPUT)(embedding)
    x = bottleneck
    for i, filters in enumerate((16, 16, 32)):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"dec_conv{i}")(x)
        x = layers.UpSampling2D(2, name=f"dec_up{i}")(x)
    mask = _mask_head(keras, x, n_mask_classes)
    return keras.Model(inputs, {BREED_OUTPUT: breed, MASK_OUTPUT: mask}, name="seed_multitask")


def _conv_bn_relu(layers, x, filters, name):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    # momentum 0.9: small data gives few steps, the moving statistics must keep up
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def build_unet_network(
    image_size=(128, 128),
    n_classes=37,
    n_channels=3,
    n_mask_classes=1,
    width=16,
    depth=4,
    dropout=0.3,
):
    """A small U-Net for small data: batch norm, skip connections, global pooling classifier.

    Each of ``depth`` encoder stages is two 3x3 Conv-BN-ReLU with ``width * 2**stage``
    filters followed by 2x2 max-pooling; the bottleneck is two more convolutions. The breed
    head is global average pooling (the ``"embedding"``), dropout and a Dense softmax, so its
    size does not grow with the image (the seed's flattened Dense is 95 % of its parameters).
    The decoder upsamples, concatenates the encoder skip and applies two convolutions.

    Parameters
    ----------
    image_size : (int, int), default=(128, 128)
        Both sides must be divisible by ``2**depth``.
    n_classes, n_channels, n_mask_classes : int
    width : int, default=16
    depth : int, default=4
    dropout : float, default=0.3

    Returns
    -------
    model : keras.Model

    Examples
    --------
    >>> from skreid._keras._pet_networks import build_unet_network
    >>> model = build_unet_network((64, 64), n_classes=3, width=8, depth=3)
    >>> sorted(model.output)
    ['breed', 'mask']
    """
    keras = _keras()
    layers = keras.layers
    inputs, x = _input_and_resize(keras, image_size, n_channels)
    skips = []
    for stage in range(depth):
        filters = width * 2**stage
        x = _conv_bn_relu(layers, x, filters, f"enc{stage}a")
        x = _conv_bn_relu(layers, x, filters, f"enc{stage}b")
        skips.append(x)
        x = layers.MaxPooling2D(2, name=f"enc{stage}_pool")(x)
    x = _conv_bn_relu(layers, x, width * 2**depth, "mid_a")
    x = _conv_bn_relu(layers, x, width * 2**depth, "mid_b")
    embedding = layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(x)
    h = layers.Dropout(dropout, name="breed_dropout")(embedding)
    breed = layers.Dense(n_classes, activation="softmax", name=BREED_OUTPUT)(h)
    for stage in reversed(range(depth)):
        filters = width * 2**stage
        x = layers.UpSampling2D(2, name=f"dec{stage}_up")(x)
        x = layers.Concatenate(name=f"dec{stage}_cat")([x, skips[stage]])
        x = _conv_bn_relu(layers, x, filters, f"dec{stage}a")
        x = _conv_bn_relu(layers, x, filters, f"dec{stage}b")
    mask = _mask_head(keras, x, n_mask_classes)
    return keras.Model(inputs, {BREED_OUTPUT: breed, MASK_OUTPUT: mask}, name="unet_multitask")


def build_finetune_network(
    backbone,
    image_size=(224, 224),
    n_classes=37,
    n_mask_classes=1,
    head="light",
    dropout=0.2,
    decoder_width=64,
    backbone_name="mobilenet_v3_small",
):
    """Two-headed network on a pretrained backbone of the registry.

    Parameters
    ----------
    backbone : keras.Model
        Takes ``(*image_size, 3)`` RGB in ``[0, 255]`` and returns its last feature map.
        Its BatchNormalization layers must already be ``trainable = False``.
    image_size : (int, int), default=(224, 224)
    n_classes : int, default=37
    n_mask_classes : int, default=1
    head : {"light", "report"}, default="light"
        ``"report"``: global average pooling, Dense 1024-1024-512 ReLU, Dense softmax (the
        report's head). ``"light"``: global average pooling, dropout, Dense softmax.
    dropout : float, default=0.2
    decoder_width : int, default=64
        Channels of the feature-pyramid segmentation decoder, which fuses the backbone's
        feature maps at strides 32, 16, 8 and 4 (1x1 projections, upsample and add) and
        upsamples the fused stride-4 map to ``image_size``.
    backbone_name : str, default="mobilenet_v3_small"
        The registry name of ``backbone`` (where its stride 4, 8 and 16 maps are read).

    Returns
    -------
    model : keras.Model
        The layer ``"embedding"`` is the pooled backbone feature vector.
    """
    keras = _keras()
    layers = keras.layers
    if head not in ("light", "report"):
        raise ValueError(f"head must be 'light' or 'report', got {head!r}.")
    inputs, x = _input_and_resize(keras, image_size, 3, rescale=False)
    from skreid._keras._backbones import multiscale_features

    # one model with several outputs, so the backbone runs once per batch; named "backbone"
    # so the estimator finds it to freeze and unfreeze its blocks
    multi = multiscale_features(backbone, strides=(4, 8, 16, 32), name=backbone_name)
    features = keras.Model(multi.input, multi.outputs, name="backbone")
    f4, f8, f16, f32 = features(x)
    embedding = layers.GlobalAveragePooling2D(name=EMBEDDING_LAYER)(f32)
    h = embedding
    if head == "report":
        for i, units in enumerate((1024, 1024, 512)):
            h = layers.Dense(units, activation="relu", name=f"head_dense{i}")(h)
    h = layers.Dropout(dropout, name="head_dropout")(h)
    breed = layers.Dense(n_classes, activation="softmax", name=BREED_OUTPUT)(h)

    y = layers.Conv2D(decoder_width, 1, name="fpn_lat32")(f32)
    for stride, feat in ((16, f16), (8, f8), (4, f4)):
        # resize to the lateral map's size (odd sizes do not double exactly)
        y = layers.Resizing(
            feat.shape[1], feat.shape[2], interpolation="bilinear", name=f"fpn_up{stride}"
        )(y)
        lateral = layers.Conv2D(decoder_width, 1, name=f"fpn_lat{stride}")(feat)
        y = layers.Add(name=f"fpn_add{stride}")([y, lateral])
        y = layers.SeparableConv2D(
            decoder_width, 3, padding="same", activation="relu", name=f"fpn_conv{stride}"
        )(y)
    y = layers.Resizing(*image_size, interpolation="bilinear", name="fpn_full")(y)
    y = layers.SeparableConv2D(
        decoder_width // 2, 3, padding="same", activation="relu", name="fpn_refine"
    )(y)
    mask = _mask_head(keras, y, n_mask_classes)
    return keras.Model(inputs, {BREED_OUTPUT: breed, MASK_OUTPUT: mask}, name="finetune_multitask")


def embedding_model(model):
    """Sub-model from the images to the ``"embedding"`` layer (shares weights with ``model``)."""
    keras = _keras()
    return keras.Model(model.input, model.get_layer(EMBEDDING_LAYER).output)


# ---------------------------------------------------------------- losses and metrics
# Targets carry what Keras's per-output sample weights would (multi-output sample weights and
# class_weight are awkward in Keras 3): the breed target is (label, weight) per sample and
# the mask target holds -1 where a pixel is ignored (no trimap, or the border if configured).


@keras.saving.register_keras_serializable(package="skreid")
def weighted_breed_loss(y_true, y_pred):
    """Weighted mean cross-entropy; ``y_true[:, 0]`` = label, ``y_true[:, 1]`` = weight."""
    labels = ops.cast(y_true[:, 0], "int32")
    weights = ops.cast(y_true[:, 1], y_pred.dtype)
    ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred)
    return ops.sum(weights * ce) / ops.maximum(ops.sum(weights), 1e-7)


@keras.saving.register_keras_serializable(package="skreid")
def breed_accuracy(y_true, y_pred):
    """Top-1 accuracy for ``(label, weight)`` targets (weights not applied)."""
    labels = ops.cast(y_true[:, 0], "int32")
    hits = ops.equal(ops.cast(ops.argmax(y_pred, axis=-1), "int32"), labels)
    return ops.mean(ops.cast(hits, "float32"))


def _valid(y_true, dtype):
    return ops.cast(ops.greater_equal(y_true[..., 0], 0), dtype)


@keras.saving.register_keras_serializable(package="skreid")
def masked_binary_loss(y_true, y_pred):
    """Binary cross-entropy over the pixels whose target is not -1 (1 pet, 0 background)."""
    valid = _valid(y_true, y_pred.dtype)
    target = ops.clip(ops.cast(y_true[..., 0], y_pred.dtype), 0.0, 1.0)
    p = ops.clip(y_pred[..., 0], 1e-6, 1.0 - 1e-6)
    bce = -(target * ops.log(p) + (1.0 - target) * ops.log(1.0 - p))
    return ops.sum(bce * valid) / ops.maximum(ops.sum(valid), 1.0)


@keras.saving.register_keras_serializable(package="skreid")
def masked_trimap_loss(y_true, y_pred):
    """Cross-entropy over the trimap classes for the pixels whose target is not -1."""
    valid = _valid(y_true, y_pred.dtype)
    labels = ops.cast(ops.maximum(y_true[..., 0], 0), "int32")
    ce = keras.losses.sparse_categorical_crossentropy(labels, y_pred)
    return ops.sum(ce * valid) / ops.maximum(ops.sum(valid), 1.0)


@keras.saving.register_keras_serializable(package="skreid")
def masked_pixel_accuracy(y_true, y_pred):
    """Pixel accuracy over non-ignored pixels (either mask coding of the training targets)."""
    valid = _valid(y_true, "float32")
    if y_pred.shape[-1] == 1:
        pred = ops.cast(ops.greater_equal(y_pred[..., 0], 0.5), "float32")
    else:
        pred = ops.cast(ops.argmax(y_pred, axis=-1), "float32")
    hits = ops.cast(ops.equal(pred, ops.cast(y_true[..., 0], "float32")), "float32")
    return ops.sum(hits * valid) / ops.maximum(ops.sum(valid), 1.0)


def compile_network(model, learning_rate, n_mask_classes, task_weights):
    """Compile ``model`` with Adam, the masked losses and ``task_weights`` = (breed, mask)."""
    mask_loss = masked_binary_loss if n_mask_classes == 1 else masked_trimap_loss
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss={BREED_OUTPUT: weighted_breed_loss, MASK_OUTPUT: mask_loss},
        loss_weights={BREED_OUTPUT: float(task_weights[0]), MASK_OUTPUT: float(task_weights[1])},
        metrics={BREED_OUTPUT: [breed_accuracy], MASK_OUTPUT: [masked_pixel_accuracy]},
    )
    return model
