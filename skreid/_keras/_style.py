"""Style invariance for a pretrained backbone: layers inserted into its early blocks so that
what a camera changes (exposure, contrast, colour cast) matters less to the embedding.

* IBN-a (Pan et al., ECCV 2018): instance normalisation of half the channels after the
  expansion of each block up to stride 16 (the registry's ``instance_norm_layers``), the
  analogue of IN on half the channels after the first convolution of a ResNet bottleneck in
  ``conv2_x``-``conv4_x``. Its scale and offset start from the pretrained activations'
  average per-image statistics (:func:`calibrate_instance_norm`), so the folded-BatchNorm
  ImageNet weights keep working from the first step.
* MixStyle (Zhou et al., ICLR 2021): in training, feature statistics mixed between the
  images of a batch after the stride-4 and stride-8 blocks; the identity in inference.

This module imports Keras: import it only when a Keras estimator is used.
"""

import numpy as np

from skreid._keras._base import import_keras
from skreid._keras._layers import MixStyle, PartialInstanceNormalization
from skreid._keras._registry import backbone as backbone_spec

#: output strides after which MixStyle is inserted (the paper's "after res1 and res2")
MIXSTYLE_STRIDES = (4, 8)


def style_layer_positions(name, ibn=False, mixstyle=0.0):
    """``{layer name: kind}`` of the layers to insert after, ``kind`` "ibn" or "mixstyle"."""
    spec = backbone_spec(name)
    positions = {}
    if ibn:
        if not spec.instance_norm_layers:
            raise ValueError(f"ibn=True is not available for backbone={name!r} (no "
                             f"instance-normalisation positions registered); use ibn=False.")
        positions.update(dict.fromkeys(spec.instance_norm_layers, "ibn"))
    if mixstyle:
        for stride in MIXSTYLE_STRIDES:
            layer, end = spec.stride_layers[stride]
            if end != "output":
                raise ValueError(f"{name}: MixStyle needs a block output at stride {stride}.")
            positions[layer] = "mixstyle"
    return positions


def add_style_layers(backbone, name, *, ibn=False, mixstyle=0.0):
    """Copy of ``backbone`` (sharing its layers and weights) with IBN-a instance
    normalisation and/or MixStyle (per-batch probability ``mixstyle``) inserted.

    Returns ``backbone`` itself when neither is asked for.
    """
    positions = style_layer_positions(name, ibn, mixstyle)
    if not positions:
        return backbone
    keras = import_keras()
    missing = sorted(set(positions) - {layer.name for layer in backbone.layers})
    if missing:
        raise ValueError(f"{backbone.name} has no layers {missing}: not a {name} backbone.")

    def call(layer, *args, **kwargs):
        out = layer(*args, **kwargs)
        kind = positions.get(layer.name)
        if kind == "ibn":  # the first half of the channels, as IBN-a
            half = max(1, out.shape[-1] // 2)
            out = PartialInstanceNormalization(half, name=f"{layer.name}_ibn")(out)
        elif kind == "mixstyle":
            out = MixStyle(mixstyle, name=f"{layer.name}_mixstyle")(out)
        return out

    return keras.models.clone_model(backbone, clone_function=lambda layer: layer,
                                    call_function=call)


def calibrate_instance_norm(backbone, inputs):
    """Set each IBN layer's ``gamma``/``beta`` in ``backbone`` to the mean per-image spread
    and mean of its input channels over ``inputs`` (a sample of training images as the
    backbone receives them: scaled and resized, not augmented).

    Instance normalisation discards each image's channel statistics; replacing them with
    their average over the data keeps the activations where the pretrained layers that
    follow expect them. Layers are calibrated in network order, each after those before it.
    Returns the number of layers calibrated.
    """
    keras = import_keras()
    layers = [layer for layer in backbone.layers
              if isinstance(layer, PartialInstanceNormalization)]
    if not layers or len(inputs) == 0:
        return 0
    for layer in layers:  # topological order: earlier layers are calibrated first
        probe = keras.Model(backbone.input, layer.input)
        # eager calls: a predict function per probe would be traced once each
        part = np.concatenate([np.asarray(probe(inputs[i : i + 64], training=False))
                               for i in range(0, len(inputs), 64)]).astype(np.float64)
        part = part[..., :layer.channels]
        std = np.sqrt(part.var(axis=(1, 2)) + layer.epsilon)
        layer.gamma.assign(std.mean(axis=0).astype("float32"))
        layer.beta.assign(part.mean(axis=(1, 2)).mean(axis=0).astype("float32"))
    return len(layers)
