"""Re-ID embedding networks: the report's seed branch, a small ResNet, a registry backbone.

Every network built here has one image input (raw pixels) and these named layers/outputs:

* the inference embedding (L2-normalised), used by ``transform``: layer ``"embedding"`` of
  the seed branch, or the L2-normalised output of layer ``"bn_neck"`` (see
  :func:`embedding_model`);
* output ``"triplet"``: what the triplet loss sees during training;
* output ``"logits"`` (only with an identity head): identity logits, training only.

Augmentation layers (flip, translation, colour, random erasing) sit after the input and are
active only in training mode; IBN-a instance normalisation and MixStyle go into a pretrained
backbone's early blocks (:mod:`skreid._keras._style`). This module imports Keras: import it
only when a Keras estimator is used.
"""

import keras
import numpy as np
from keras import layers

from skreid._keras._backbones import build_backbone, freeze_up_to_stride
from skreid._keras._layers import (
    ColorAugmentation,
    GeneralizedMeanPooling,
    Grayscale,
    RandomErasing,
    RepeatChannels,
    ScaledDense,
    StripePooling,
)
from skreid._keras._registry import BACKBONES
from skreid._keras._style import add_style_layers, calibrate_instance_norm

#: architectures :func:`build_reid_network` accepts: two built here, then the registry's
ARCHITECTURES = ("seed", "resnet", *BACKBONES)

# learning-rate multiplier of the identity head, which starts from scratch while a pretrained
# backbone needs a small rate (BoT's recipe, Luo et al. 2019)
HEAD_LR_MULTIPLIER = 10.0

# BatchNorm moving averages with Keras's default momentum (0.99) need ~500 steps to settle;
# small training sets give far fewer, and inference then uses wrong statistics
_BN_MOMENTUM = 0.9

#: the report's seed branch: (filters per VGG block, max-pool after it)
_SEED_BLOCKS = ((8, True), (16, True), (32, False))


def seed_branch(x, embedding_dim=32):
    """The report's branch: 3 VGG blocks (8, 16, 32 filters), Dense 256 + BN, L2-normalised.

    At a ``(64, 32, 1)`` input the branch has exactly 1,076,344 parameters, 624 of them
    non-trainable (BatchNorm moving statistics).
    """
    for filters, pool in _SEED_BLOCKS:
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.BatchNormalization(momentum=_BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        if pool:
            x = layers.MaxPooling2D(2)(x)
    x = layers.SpatialDropout2D(0.2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(256)(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    x = layers.Dense(embedding_dim)(x)
    return layers.UnitNormalization(name="embedding")(x)


def _basic_block(x, filters, stride):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False)(x)
    y = layers.BatchNormalization(momentum=_BN_MOMENTUM)(y)
    y = layers.Activation("relu")(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=False)(y)
    # zero-init of the last BN gamma: each block starts as the identity (Goyal et al., 2017)
    y = layers.BatchNormalization(momentum=_BN_MOMENTUM, gamma_initializer="zeros")(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False)(x)
        shortcut = layers.BatchNormalization(momentum=_BN_MOMENTUM)(shortcut)
    return layers.Activation("relu")(layers.Add()([y, shortcut]))


def resnet_trunk(x, widths=(32, 64, 128, 256)):
    """Small from-scratch ResNet (stride-2 stem, one basic block per stage, total stride 16)."""
    x = layers.Rescaling(1.0 / 127.5, offset=-1.0)(x)
    x = layers.Conv2D(widths[0], 3, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization(momentum=_BN_MOMENTUM)(x)
    x = layers.Activation("relu")(x)
    for i, width in enumerate(widths):
        x = _basic_block(x, width, 1 if i == 0 else 2)
    return x


def _augmentation(x, color_augment=0.0):
    """Training-only augmentation: horizontal flip, 10 % translation, colour (at strength
    ``color_augment``, when above 0), random erasing."""
    x = layers.RandomFlip("horizontal")(x)
    x = layers.RandomTranslation(0.1, 0.1, fill_mode="constant")(x)
    if color_augment:
        x = ColorAugmentation(color_augment, name="color_augmentation")(x)
    return RandomErasing(probability=0.5)(x)


def build_reid_network(
    architecture,
    input_shape,
    *,
    n_classes=None,
    embedding_dim=None,
    weights=None,
    image_size=None,
    grayscale=False,
    input_scale=1.0,
    augment=True,
    head_lr_multiplier=HEAD_LR_MULTIPLIER,
    pooling="avg",
    frozen_stride=None,
    last_stride=2,
    n_parts=0,
    color_augment=0.0,
    ibn=False,
    mixstyle=0.0,
    calibration_images=None,
):
    """Build the training network of a re-ID embedder (see the module docstring).

    Parameters
    ----------
    architecture : {"seed", "resnet"}, a name of the backbone registry or callable
        A callable maps the (augmented, [0, 255]) image tensor to a feature map or vector.
    input_shape : tuple of int
        ``(height, width, channels)`` of the raw input images.
    n_classes : int or None
        Number of training identities; adds the ``"logits"`` identity head when given.
    embedding_dim : int or None
        Size of a Dense projection before the BN neck (``None``: the trunk's width; 32 for
        the seed branch).
    weights : str, "imagenet" or None
        Backbone weights (registry backbones only).
    image_size : (int, int) or None
        Working size; inputs are resized inside the network.
    grayscale : bool
        Convert RGB input to one luma channel first (the report used 64x32 grayscale).
    input_scale : float
        Factor mapping the input pixels to ``[0, 255]``.
    augment : bool
        Horizontal flip, random translation (10 %) and random erasing, training only.
    head_lr_multiplier : float
        Learning-rate multiplier of the identity head (see
        :class:`~skreid._keras._layers.ScaledDense`).
    pooling : {"avg", "gem"}
        Global pooling of a feature-map trunk: average or generalised mean
        (:class:`~skreid._keras._layers.GeneralizedMeanPooling`).
    frozen_stride : {None, 4, 8, 16}
        Registry backbones only: keep the backbone frozen up to its feature map at this
        stride (see :func:`~skreid._keras._backbones.freeze_up_to_stride`).
    last_stride : {2, 1}
        Registry backbones only: stride of its last stage (1 doubles the final map).
    n_parts : int
        Horizontal body stripes pooled beside the global feature (ignored by the seed branch
        and by trunks that return a vector). Each of the ``1 + n_parts`` branches gets its
        own BN neck and identity classifier; the triplet loss and the embedding see their
        L2-normalised features concatenated (each scaled by ``1 / sqrt(1 + n_parts)``, so the
        whole is unit-norm).
    color_augment : float
        Strength of the training-only :class:`~skreid._keras._layers.ColorAugmentation`
        (0: none); only with ``augment``.
    ibn : bool
        Registry backbones only: IBN-a instance normalisation of half the channels in the
        blocks up to stride 16, calibrated on ``calibration_images``
        (:func:`~skreid._keras._style.calibrate_instance_norm`).
    mixstyle : float
        Registry backbones only: per-batch probability of MixStyle after the stride-4 and
        stride-8 blocks (0: none).
    calibration_images : array-like, optional
        A sample of training images (as fed to the network) for the IBN calibration.

    Returns
    -------
    model : keras.Model
    """
    inputs = keras.Input(shape=tuple(input_shape), name="images")
    x = inputs
    if input_scale != 1.0:
        x = layers.Rescaling(float(input_scale))(x)
    resize = image_size is not None and tuple(image_size) != tuple(input_shape[:2])
    # augment at the smaller of the two resolutions: flips, translations by a fraction of
    # the image and erased rectangles commute with resizing, and fewer pixels cost less
    # (docs/benchmarks.rst, development measurements)
    augment_first = augment and resize and (
        image_size[0] * image_size[1] > input_shape[0] * input_shape[1]
    )
    if augment_first:
        x = _augmentation(x, color_augment)
    if resize:
        x = layers.Resizing(*image_size, interpolation="bilinear", antialias=True)(x)
    if grayscale and x.shape[-1] == 3:
        x = Grayscale()(x)
    pretrained = isinstance(architecture, str) and architecture in BACKBONES
    if pretrained and x.shape[-1] == 1:
        x = RepeatChannels()(x)
    if augment and not augment_first:
        x = _augmentation(x, color_augment)

    if isinstance(architecture, str) and architecture == "seed":
        x = layers.Rescaling(1.0 / 255.0)(x)
        embedding = seed_branch(x, embedding_dim or 32)
        outputs = {"triplet": embedding}
        if n_classes:
            outputs["logits"] = layers.Dense(n_classes, name="logits")(embedding)
        return keras.Model(inputs, outputs, name="seed_reid")

    if callable(architecture):
        trunk = architecture(x)
    elif architecture == "resnet":
        trunk = resnet_trunk(x)
    elif pretrained:
        backbone = build_backbone(architecture, tuple(x.shape[1:]), weights=weights,
                                  last_stride=last_stride)
        if frozen_stride:
            freeze_up_to_stride(backbone, frozen_stride, architecture)
        backbone = add_style_layers(backbone, architecture, ibn=ibn, mixstyle=mixstyle)
        if ibn and calibration_images is not None:
            feed = keras.Model(inputs, x)
            calibrate_instance_norm(backbone, np.concatenate(
                [np.asarray(feed(calibration_images[i : i + 64], training=False))
                 for i in range(0, len(calibration_images), 64)]))
        trunk = backbone(x)
    else:
        raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {architecture!r}.")
    feature = trunk
    if len(trunk.shape) == 4:
        pool = GeneralizedMeanPooling if pooling == "gem" else layers.GlobalAveragePooling2D
        feature = pool(name="pool")(trunk)
    else:  # a trunk that returns a vector has no rows to cut into stripes
        n_parts = 0
    if n_parts:
        # (batch, 1 + n_parts, channels): the global feature, then the stripes top to bottom
        stripes = StripePooling(n_parts, name="stripes")(trunk)
        feature = layers.Concatenate(axis=1, name="branches")(
            [layers.Reshape((1, feature.shape[-1]), name="global_branch")(feature), stripes])
    if embedding_dim:
        feature = layers.Dense(embedding_dim, name="projection")(feature)
    # BNNeck (Luo et al., 2019): triplet loss before the BN, identity loss and inference after
    # (with stripes the BN runs on the flattened branches: per-branch, per-channel statistics)
    neck = layers.BatchNormalization(momentum=_BN_MOMENTUM, center=False, name="bn_neck")(
        layers.Flatten(name="neck_input")(feature) if n_parts else feature)
    # the triplet loss sees L2-normalised features: on raw features the hardest-pair hinge
    # is cheapest to satisfy by shrinking every feature, which collapses a pretrained trunk
    outputs = {"triplet": _unit_branches(feature, n_parts, name="triplet")}
    if n_parts:
        neck = layers.Reshape(tuple(feature.shape[1:]), name="neck_branches")(neck)
    if n_classes:
        outputs["logits"] = ScaledDense(n_classes, lr_multiplier=head_lr_multiplier,
                                        branches=n_parts + 1 if n_parts else None,
                                        name="logits")(neck)
    return keras.Model(inputs, outputs, name=f"{architecture}_reid")


def _unit_branches(x, n_parts, name):
    """L2-normalise a feature (or each branch of ``(batch, 1 + n_parts, c)``, concatenated
    and scaled so the result is unit-norm)."""
    if not n_parts:
        return layers.UnitNormalization(name=name)(x)
    x = layers.UnitNormalization(axis=-1, name=f"{name}_unit_branches")(x)
    x = layers.Flatten(name=f"{name}_flat")(x)
    return layers.Rescaling((n_parts + 1) ** -0.5, name=name)(x)


def embedding_model(model):
    """Inference sub-model ``images -> L2-normalised embedding`` sharing ``model``'s layers.

    The seed branch has an ``"embedding"`` layer; the BN-neck networks normalise the
    ``"bn_neck"`` output (the UnitNormalization has no weights, so it is added here rather
    than kept as an unused branch of the training network). Every layer added here is named:
    in a fresh process (a model unpickled there) Keras's automatic names start again from
    ``"reshape"``, ``"flatten"``..., which the loaded network already uses.
    """
    names = {layer.name for layer in model.layers}
    if "embedding" in names:
        return keras.Model(model.input, model.get_layer("embedding").output)
    if "bn_neck" not in names:  # no identity head: the neck is untrained, use the feature
        return keras.Model(model.input, model.get_layer("triplet").output)
    neck = model.get_layer("bn_neck").output
    if "branches" in names:  # the flattened neck back to (batch, 1 + n_parts, channels)
        n_branches = model.get_layer("branches").output.shape[1]
        neck = layers.Reshape((n_branches, neck.shape[-1] // n_branches),
                              name="embedding_branches")(neck)
        return keras.Model(model.input, _unit_branches(neck, n_branches - 1, name="embedding"))
    return keras.Model(model.input, layers.UnitNormalization(name="embedding")(neck))


def embed_images(embedder, X, *, flip=True, eager=False, batch_size=256):
    """Float32 embeddings of images ``X`` by an :func:`embedding_model`.

    With ``flip``, the L2-normalised mean of the image's and its mirror's unit embeddings:
    twice the cost, a less noisy descriptor (training flips too, so both views are
    in-distribution). ``eager`` calls the model batch by batch without tracing a predict
    function (faster for tiny problems).
    """

    def once(images):
        if eager:
            out = [np.asarray(embedder(images[i : i + batch_size], training=False))
                   for i in range(0, len(images), batch_size)]
            return np.concatenate(out).astype(np.float32, copy=False)
        return np.asarray(embedder.predict(images, batch_size=batch_size, verbose=0),
                          dtype=np.float32)

    emb = once(X)
    if flip and X.shape[2] > 1:
        emb = emb + once(np.ascontiguousarray(X[:, :, ::-1]))
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True),
                               np.finfo(np.float32).tiny)
    return emb.astype(np.float32, copy=False)
