"""Direct tests of skreid._keras._layers (each layer against NumPy, and its config)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from skreid._keras._layers import (  # noqa: E402
    GeneralizedMeanPooling,
    Grayscale,
    RandomErasing,
    RepeatChannels,
    ScaledDense,
)

RNG = np.random.RandomState(0)


def test_grayscale_and_repeat_channels():
    x = RNG.uniform(0, 255, (2, 4, 3, 3)).astype(np.float32)
    gray = np.asarray(Grayscale()(x))
    np.testing.assert_allclose(gray[..., 0], x @ np.array([0.299, 0.587, 0.114]), rtol=1e-5)
    assert np.asarray(RepeatChannels()(gray)).shape == (2, 4, 3, 3)


def test_random_erasing_is_identity_at_inference_and_erases_in_training():
    x = np.zeros((8, 16, 8, 3), np.float32)
    layer = RandomErasing(probability=1.0, seed=0)
    np.testing.assert_array_equal(np.asarray(layer(x, training=False)), x)
    erased = np.asarray(layer(x, training=True))
    covered = (erased != 0).any(-1).mean(axis=(1, 2))
    assert ((covered > 0) & (covered <= 0.45)).all()  # one rectangle of 2-40 % per image
    assert RandomErasing.from_config(layer.get_config()).probability == 1.0


def test_generalized_mean_pooling_spans_average_to_max():
    x = RNG.uniform(0.1, 1, (2, 3, 2, 4)).astype(np.float32)
    avg = np.asarray(GeneralizedMeanPooling(p=1.0)(x))
    np.testing.assert_allclose(avg, x.mean(axis=(1, 2)), rtol=1e-4)
    big = np.asarray(GeneralizedMeanPooling(p=50.0)(x))
    np.testing.assert_allclose(big, x.max(axis=(1, 2)), rtol=0.05)


def test_scaled_dense_multiplies_the_learning_rate_not_the_output():
    x = RNG.randn(5, 6).astype(np.float32)
    layer = ScaledDense(3, lr_multiplier=10.0)
    out = np.asarray(layer(x))
    (kernel,) = layer.get_weights()
    np.testing.assert_allclose(out, x @ (10.0 * kernel), rtol=1e-5)
    # the stored variable is 10x smaller, so a gradient step moves the output 10x more
    assert np.abs(10.0 * kernel).max() < 1.5
    clone = ScaledDense.from_config(layer.get_config())
    assert clone.lr_multiplier == 10.0 and clone.units == 3
