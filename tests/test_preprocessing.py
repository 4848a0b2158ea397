import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.pipeline import make_pipeline

from skreid.preprocessing import FlattenImages, Grayscale, ResizeImages
from skreid.utils import check_images


def test_report_preprocessing_is_one_pipeline():
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, size=(4, 128, 64, 3), dtype=np.uint8)
    pipe = make_pipeline(ResizeImages((64, 32)), Grayscale(), FlattenImages())
    out = pipe.fit_transform(X)
    assert out.shape == (4, 2048)
    assert out.dtype == np.float32
    assert 0 <= out.min() and out.max() <= 255


def test_resize_keeps_constant_images_constant():
    X = np.full((2, 20, 10, 3), 7.0)
    out = ResizeImages((10, 5)).fit_transform(X)
    np.testing.assert_allclose(out, 7.0, rtol=1e-5)
    assert out.shape == (2, 10, 5, 3)


def test_grayscale_uses_luma_weights():
    X = np.zeros((1, 2, 2, 3))
    X[..., 1] = 100.0
    np.testing.assert_allclose(Grayscale().fit_transform(X), 58.7, rtol=1e-5)
    np.testing.assert_allclose(Grayscale("bt709").fit_transform(X), 71.54, rtol=1e-5)
    assert Grayscale(keep_dims=False).fit_transform(X).shape == (1, 2, 2)


@given(
    n=st.integers(1, 3),
    h=st.integers(1, 9),
    w=st.integers(1, 9),
    c=st.sampled_from([1, 3]),
)
@settings(max_examples=25, deadline=None)
def test_flatten_inverse_roundtrip(n, h, w, c):
    X = np.arange(n * h * w * c, dtype=np.float32).reshape(n, h, w, c)
    flat = FlattenImages().fit(X)
    np.testing.assert_array_equal(flat.inverse_transform(flat.transform(X)), X)


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.zeros((0, 4, 4)), {}, "empty"),
        (np.zeros((2, 0, 4)), {}, "zero-sized"),
        (np.zeros((2, 8)), {}, "image_shape"),
        (np.zeros((2, 8)), {"image_shape": (3, 3)}, "needs 9"),
        (np.zeros((2, 4, 4, 3)), {"image_shape": (4, 4, 1)}, "image_shape"),
        (np.full((2, 4, 4), np.nan), {}, "NaN"),
        (np.array([["a"]]), {}, "numbers"),
        (np.zeros((2,)), {}, "shape"),
    ],
)
def test_check_images_errors(X, kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_images(X, **kwargs)


@pytest.mark.parametrize(
    "est, match",
    [
        (ResizeImages(size=(0, 4)), "size"),
        (ResizeImages(size="big"), "size"),
        (ResizeImages(order=9), "order"),
        (Grayscale(weights="sepia"), "weights"),
        (Grayscale(weights=(1, 2)), "weights"),
    ],
)
def test_bad_parameters(est, match):
    with pytest.raises(ValueError, match=match):
        clone(est).fit(np.zeros((1, 4, 4, 3)))


def test_grayscale_rejects_four_channels():
    with pytest.raises(ValueError, match="1 or 3 channels"):
        Grayscale().fit_transform(np.zeros((1, 4, 4, 4)))


# sklearn's common checks (and these transformers' expected failures): tests/test_common.py
