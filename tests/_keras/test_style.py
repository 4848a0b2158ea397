"""The style-invariance pieces of the re-ID recipe: colour augmentation, IBN-a instance
normalisation and MixStyle (skreid._keras._layers), their insertion into a registry backbone
and the IBN calibration (skreid._keras._style), each against NumPy."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from skreid._keras._backbones import build_backbone  # noqa: E402
from skreid._keras._layers import (  # noqa: E402
    ColorAugmentation,
    MixStyle,
    PartialInstanceNormalization,
)
from skreid._keras._registry import BACKBONES  # noqa: E402
from skreid._keras._style import (  # noqa: E402
    add_style_layers,
    calibrate_instance_norm,
    style_layer_positions,
)

RNG = np.random.RandomState(0)


def _images(n=16, h=16, w=8, c=3, seed=0):
    return np.random.RandomState(seed).uniform(0, 255, (n, h, w, c)).astype(np.float32)


# ------------------------------------------------------------------ colour augmentation
def test_color_augmentation_is_identity_at_inference_and_at_strength_zero():
    x = _images()
    np.testing.assert_array_equal(np.asarray(ColorAugmentation(1.0)(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(ColorAugmentation(0.0)(x, training=True)), x)


def test_color_augmentation_changes_colour_not_geometry():
    x = _images(n=64)
    out = np.asarray(ColorAugmentation(1.0, seed=0)(x, training=True))
    assert out.shape == x.shape and out.min() >= 0 and out.max() <= 255 + 1e-3
    changed = np.abs(out - x).max(axis=(1, 2, 3)) > 1e-3
    assert 0.6 < changed.mean() < 1.0  # most images (probability 0.8 plus extras), not all
    # a photometric change only: pixel order within each image is kept for a colour-free
    # image (a gray ramp stays monotonic under gain, contrast, gamma, stretching)
    ramp = np.broadcast_to(np.linspace(10, 240, 16, dtype=np.float32)[None, :, None, None],
                           (32, 16, 8, 3)).copy()
    got = np.asarray(ColorAugmentation(1.0, seed=1)(ramp, training=True))[..., 0].mean(axis=2)
    assert (np.diff(got, axis=1) >= -1e-3).all()


def test_color_augmentation_is_reproducible_with_a_seed_and_handles_one_channel():
    x = _images(n=8)
    a = np.asarray(ColorAugmentation(0.5, seed=3)(x, training=True))
    b = np.asarray(ColorAugmentation(0.5, seed=3)(x, training=True))
    np.testing.assert_array_equal(a, b)
    gray = np.asarray(ColorAugmentation(1.0, seed=0)(x[..., :1], training=True))
    assert gray.shape == (8, 16, 8, 1) and gray.min() >= 0 and gray.max() <= 255 + 1e-3
    clone = ColorAugmentation.from_config(ColorAugmentation(0.7, seed=2).get_config())
    assert clone.strength == 0.7 and clone.seed == 2 and clone.training_only


def test_hue_rotation_keeps_grey_and_luma_scale():
    rot = np.asarray(ColorAugmentation._hue_rotation(keras.ops.convert_to_tensor(
        np.array([0.0, 0.3, 1.0], np.float32)), 0.1))
    for m in rot:  # rotations about (1, 1, 1): grey is fixed, lengths are kept
        np.testing.assert_allclose(m @ np.ones(3), np.ones(3), atol=1e-5)
        np.testing.assert_allclose(m @ m.T, np.eye(3), atol=1e-5)


# ------------------------------------------------------------------ instance normalisation
def test_partial_instance_normalization_normalises_the_first_channels_only():
    x = RNG.randn(3, 5, 4, 6).astype(np.float32) * 4 + 2
    layer = PartialInstanceNormalization(3, epsilon=1e-6)
    out = np.asarray(layer(x))
    np.testing.assert_array_equal(out[..., 3:], x[..., 3:])
    np.testing.assert_allclose(out[..., :3].mean(axis=(1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(out[..., :3].std(axis=(1, 2)), 1, atol=1e-3)
    layer.gamma.assign(np.array([2.0, 3.0, 4.0], np.float32))
    layer.beta.assign(np.array([1.0, -1.0, 0.5], np.float32))
    out = np.asarray(layer(x))
    np.testing.assert_allclose(out[..., :3].mean(axis=(1, 2)), [[1, -1, 0.5]] * 3, atol=1e-4)
    np.testing.assert_allclose(out[..., :3].std(axis=(1, 2)), [[2, 3, 4]] * 3, atol=1e-2)
    # an image's exposure (a gain and offset per channel) no longer reaches the output
    np.testing.assert_allclose(np.asarray(layer(3 * x + 7))[..., :3], out[..., :3], atol=1e-3)
    assert PartialInstanceNormalization.from_config(layer.get_config()).channels == 3
    with pytest.raises(ValueError, match="channels=9"):
        PartialInstanceNormalization(9)(x)


# ------------------------------------------------------------------ MixStyle
def test_mixstyle_mixes_statistics_in_training_only():
    x = (RNG.randn(8, 6, 4, 5) * RNG.uniform(1, 5, (8, 1, 1, 5))
         + RNG.uniform(-5, 5, (8, 1, 1, 5))).astype(np.float32)
    np.testing.assert_array_equal(np.asarray(MixStyle(1.0)(x, training=False)), x)
    np.testing.assert_array_equal(np.asarray(MixStyle(0.0)(x, training=True)), x)
    out = np.asarray(MixStyle(1.0, alpha=0.5, seed=0)(x, training=True))
    assert np.abs(out - x).max() > 1e-2
    # the content is kept: each channel map is an affine image of the input's
    for i in range(8):
        for c in range(5):
            r = np.corrcoef(x[i, ..., c].ravel(), out[i, ..., c].ravel())[0, 1]
            assert r > 0.999
    # the new means lie between the batch's smallest and largest mean, channel by channel
    means, new = x.mean(axis=(1, 2)), out.mean(axis=(1, 2))
    assert ((new >= means.min(0) - 1e-3) & (new <= means.max(0) + 1e-3)).all()
    clone = MixStyle.from_config(MixStyle(0.3, alpha=0.2).get_config())
    assert clone.probability == 0.3 and clone.alpha == 0.2 and clone.training_only


# ------------------------------------------------------------------ insertion, calibration
@pytest.fixture(scope="module")
def mobilenet():
    return build_backbone("mobilenet_v3_small", (64, 32, 3), weights=None)


def test_style_layers_go_where_the_registry_says(mobilenet):
    net = add_style_layers(mobilenet, "mobilenet_v3_small", ibn=True, mixstyle=0.5)
    names = [layer.name for layer in net.layers]
    spec = BACKBONES["mobilenet_v3_small"]
    for name in spec.instance_norm_layers:  # right after each block's expansion BN
        assert names[names.index(name) + 1] == f"{name}_ibn"
        layer = net.get_layer(f"{name}_ibn")
        assert layer.channels == net.get_layer(name).output.shape[-1] // 2
    assert [n for n in names if n.endswith("_mixstyle")] == [
        "expanded_conv_project_bn_mixstyle", "expanded_conv_2_add_mixstyle"]
    assert len(spec.instance_norm_layers) == 7
    # the pretrained layers are shared, not copied
    assert net.get_layer("conv") is mobilenet.get_layer("conv")
    assert add_style_layers(mobilenet, "mobilenet_v3_small") is mobilenet
    # MixStyle alone changes nothing at inference
    x = _images(4, 64, 32)
    mix = add_style_layers(mobilenet, "mobilenet_v3_small", mixstyle=1.0)
    np.testing.assert_allclose(np.asarray(mix(x, training=False)),
                               np.asarray(mobilenet(x, training=False)), atol=1e-5)
    positions = style_layer_positions("mobilenet_v2", ibn=True)
    assert len(positions) == 12 and set(positions.values()) == {"ibn"}


def test_calibration_sets_the_average_instance_statistics(mobilenet):
    net = add_style_layers(mobilenet, "mobilenet_v3_small", ibn=True)
    x = _images(24, 64, 32, seed=1)
    assert calibrate_instance_norm(net, x) == 7
    for name in BACKBONES["mobilenet_v3_small"].instance_norm_layers[:3]:
        layer = net.get_layer(f"{name}_ibn")
        inputs = np.asarray(keras.Model(net.input, layer.input)(x))[..., :layer.channels]
        np.testing.assert_allclose(np.asarray(layer.beta), inputs.mean(axis=(1, 2)).mean(0),
                                   rtol=1e-3, atol=1e-4)
        std = np.sqrt(inputs.var(axis=(1, 2)) + layer.epsilon).mean(0)
        np.testing.assert_allclose(np.asarray(layer.gamma), std, rtol=1e-3, atol=1e-4)
    assert calibrate_instance_norm(mobilenet, x) == 0  # nothing to calibrate


def test_ibn_needs_registered_positions(monkeypatch):
    from skreid._keras._registry import Backbone

    monkeypatch.setitem(BACKBONES, "bare", Backbone("MobileNetV3Small", "no IBN positions"))
    with pytest.raises(ValueError, match="ibn=True is not available for backbone='bare'"):
        style_layer_positions("bare", ibn=True)
