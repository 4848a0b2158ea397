"""The components the Keras estimators choose by name, each decided in one place.

* :data:`BACKBONES`: pretrained ``keras.applications`` trunks (builder, input rules, weights
  rule, which layers give each stride, block names, which BatchNorm layers to freeze);
* :data:`LOSSES`: the triplet losses, with the batch sampler each needs;
* :data:`OPTIMIZERS` and :data:`SCHEDULES`: learning-rule factories.

The estimators validate their parameters against these tables (``_parameter_constraints``)
and build through them; the CLI reads them for its choices and help text. Adding a backbone
is one :class:`Backbone` entry. This module imports no Keras (the factories receive the
``keras`` module), so validating a parameter never loads TensorFlow.
"""

from dataclasses import dataclass, field

__all__ = ["Backbone", "BACKBONES", "LOSSES", "OPTIMIZERS", "SCHEDULES", "TripletLoss",
           "backbone", "describe"]


@dataclass(frozen=True)
class Backbone:
    """A ``keras.applications`` feature extractor (no classifier top) and its rules.

    Attributes
    ----------
    application : str
        Name in ``keras.applications`` (called with ``include_top=False``).
    description : str
        One line for docstrings and the CLI help.
    alpha : float
        Default width multiplier; a weights file must match it.
    min_size : int
        Smallest height and width the network accepts.
    input_scale : (float, float) or None
        ``(scale, offset)`` mapping [0, 255] pixels to what the network expects, added as a
        ``Rescaling`` layer; ``None`` when the application rescales itself.
    stride_layers : dict
        ``{stride: (layer name, "input" | "output")}``: where the last feature map at each
        output stride below 32 is read (fixed Keras names, never auto-numbered ones).
    block_pattern : str
        Regular expression matching the layer names of each block; group 1 is the block
        number (absent for block 0). Fine-tuning unfreezes the top blocks by it.
    last_downsampling : (str, str)
        ``(depthwise conv, its ZeroPadding2D)`` of the last stage's stride-2 step, set to
        stride 1 by ``last_stride=1``.
    shared_weights : str or None
        File name of offline ImageNet weights shipped with the shared data.
    freeze_batchnorm : {"pretrained", "always", "never"}
        Which backbones get every BatchNormalization layer frozen: pretrained weights keep
        their ImageNet statistics (the shared MobileNetV3 file is BatchNorm-folded, so it
        breaks otherwise); a random backbone's BatchNorm must learn its statistics.
    instance_norm_layers : tuple of str
        Layers after which ``ibn=True`` inserts instance normalisation of half the channels
        (IBN-a): each block's expansion up to stride 16 (see :mod:`skreid._keras._style`).
    """

    application: str
    description: str
    alpha: float = 1.0
    min_size: int = 32
    input_scale: tuple = None
    stride_layers: dict = field(default_factory=dict)
    block_pattern: str = ""
    last_downsampling: tuple = ()
    shared_weights: str = None
    freeze_batchnorm: str = "pretrained"
    instance_norm_layers: tuple = ()

    def architecture(self, alpha=None):
        """How the expected network is named in error messages."""
        alpha = self.alpha if alpha is None else alpha
        return f"keras.applications.{self.application}(alpha={alpha}, include_top=False)"

    def weights_help(self):
        """What ``weights`` accepts, for docstrings and the CLI."""
        shared = f" (e.g. the shared {self.shared_weights})" if self.shared_weights else ""
        return (f"a local .weights.h5 file of {self.architecture()}{shared}, 'imagenet' "
                f"(Keras's download, cached in ~/.keras/models) or None (random)")

    def freezes_batchnorm(self, pretrained):
        return self.freeze_batchnorm == "always" or (
            self.freeze_batchnorm == "pretrained" and pretrained)


#: every pretrained backbone the Keras estimators accept, by name
BACKBONES = {
    "mobilenet_v3_small": Backbone(
        application="MobileNetV3Small",
        description="MobileNetV3-Small, alpha 0.75 (432 channels at stride 32)",
        alpha=0.75,
        stride_layers={
            2: ("expanded_conv_depthwise_pad", "input"),
            4: ("expanded_conv_project_bn", "output"),
            8: ("expanded_conv_2_add", "output"),
            16: ("expanded_conv_7_add", "output"),
        },
        block_pattern=r"expanded_conv(?:_(\d+))?_",
        last_downsampling=("expanded_conv_8_depthwise", "expanded_conv_8_depthwise_pad"),
        shared_weights="mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5",
        instance_norm_layers=tuple(f"expanded_conv_{i}_expand_bn" for i in range(1, 8)),
    ),
    "mobilenet_v2": Backbone(
        application="MobileNetV2",
        description="MobileNetV2, alpha 1.0 (1280 channels at stride 32)",
        input_scale=(1.0 / 127.5, -1.0),
        stride_layers={
            2: ("expanded_conv_project_BN", "output"),
            4: ("block_2_add", "output"),
            8: ("block_5_add", "output"),
            16: ("block_12_add", "output"),
        },
        block_pattern=r"(?:expanded_conv|block_(\d+))_",
        last_downsampling=("block_13_depthwise", "block_13_pad"),
        instance_norm_layers=tuple(f"block_{i}_expand_BN" for i in range(1, 13)),
    ),
}


@dataclass(frozen=True)
class TripletLoss:
    """A triplet loss: its Keras class (in :mod:`skreid._keras._losses`), the batches it
    needs (``"pk"``: P identities x K images; ``"triplets"``: anchors, positives, negatives
    stacked) and the least images an identity must have."""

    loss_class: str
    sampler: str
    description: str
    min_images_per_identity: int

    def build(self, margin):
        from skreid._keras import _losses

        return getattr(_losses, self.loss_class)(margin=margin)

    def check_identities(self, name, ids, counts):
        """ValueError unless the training identities (``ids`` with image ``counts``) suit
        this loss: P x K batches need 2 images of every identity, random triplets of one."""
        lonely = ids[counts < 2]
        if self.min_images_per_identity > 1 and lonely.size:
            raise ValueError(
                f"loss={name!r} needs at least 2 images per identity (a positive for each "
                f"anchor), but {lonely.size} identit{'y has' if lonely.size == 1 else 'ies have'}"
                f" 1 image: {lonely[:10].tolist()}{' ...' if lonely.size > 10 else ''}. Remove "
                f"them or use loss='random_triplet'."
            )
        if lonely.size == ids.size:
            raise ValueError(f"loss={name!r} needs an identity with at least 2 images.")

    def check_batch(self, batch_size, images_per_identity):
        """ValueError unless ``batch_size`` splits into P >= 2 identities x K >= 2 images
        (P x K samplers only)."""
        k = images_per_identity
        if self.sampler == "pk" and (k < 2 or batch_size % k or batch_size // k < 2):
            raise ValueError(
                f"batch_size={batch_size} must split into P identities x K="
                f"images_per_identity={k} images, with P >= 2 and K >= 2 (e.g. "
                f"batch_size={max(2, batch_size // max(k, 2)) * max(k, 2)})."
            )


#: the triplet losses of TripletEmbedder, by name
LOSSES = {
    "batch_hard": TripletLoss(
        "BatchHardTripletLoss", "pk",
        "hardest positive and negative of each anchor in a P x K batch, hinge margin", 2),
    "random_triplet": TripletLoss(
        "RandomTripletLoss", "triplets", "the report's random triplets, hinge margin", 1),
}

#: optimizer factories ``(keras, learning_rate) -> optimizer``
OPTIMIZERS = {
    "adam": lambda keras, lr: keras.optimizers.Adam(lr),
    "adamw": lambda keras, lr: keras.optimizers.AdamW(lr, weight_decay=5e-4),
    "rmsprop": lambda keras, lr: keras.optimizers.RMSprop(lr),
    "sgd": lambda keras, lr: keras.optimizers.SGD(lr, momentum=0.9, nesterov=True),
}


def _cosine(keras, lr, total_steps, warmup_steps):
    # linear warm-up from a tenth of the rate, then cosine decay to 1 % of it
    warmup_steps = int(min(warmup_steps, max(total_steps - 1, 0)))
    return keras.optimizers.schedules.CosineDecay(
        lr * (0.1 if warmup_steps else 1.0), decay_steps=max(total_steps - warmup_steps, 1),
        alpha=0.01, warmup_target=lr if warmup_steps else None, warmup_steps=warmup_steps)


#: learning-rate schedule factories ``(keras, lr, total_steps, warmup_steps) -> rate``
SCHEDULES = {
    "constant": lambda keras, lr, total_steps, warmup_steps: lr,
    "cosine": _cosine,
}


def backbone(name):
    """The :class:`Backbone` registered as ``name`` (ValueError naming the choices)."""
    try:
        return BACKBONES[name]
    except (KeyError, TypeError):
        raise ValueError(f"backbone must be one of {sorted(BACKBONES)}, got {name!r}.") from None


def describe(table):
    """``"name: description; ..."`` of a registry table, for help texts."""
    return "; ".join(f"{name}: {getattr(entry, 'description', '')}".rstrip(": ")
                     for name, entry in table.items())
