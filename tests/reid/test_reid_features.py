"""LOMOFeatures: shapes, invariances, parameter and input errors."""

import numpy as np
import pytest
from sklearn.base import clone

from skreid.reid import LOMOFeatures


@pytest.fixture(scope="module")
def images():
    return np.random.RandomState(0).randint(0, 256, (5, 40, 20, 3)).astype(np.uint8)


def test_shape_and_normalisation(images):
    lomo = LOMOFeatures(cell_size=4, n_scales=2, texture_weight=1.0)
    F = lomo.fit_transform(images)
    # scale 1: 10x5 cells -> 9 window rows; scale 2 (20x10): 5x2 cells -> 4 rows
    rows = 9 + 4
    assert F.shape == (5, rows * (512 + 2 * 81)) == (5, lomo.n_features_out_)
    assert F.dtype == np.float32 and np.all(F >= 0)
    colour = F[:, : rows * 512]
    np.testing.assert_allclose(np.linalg.norm(colour, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(F, axis=1), np.sqrt(2), rtol=1e-5)


def test_uint8_and_unit_float_agree_and_deterministic(images):
    lomo = LOMOFeatures(cell_size=4, n_scales=2).fit(images)
    a = lomo.transform(images)
    unit = LOMOFeatures(cell_size=4, n_scales=2).fit(images / 255.0)
    assert (lomo.pixel_range_, unit.pixel_range_) == (255.0, 1.0)
    np.testing.assert_allclose(a, unit.transform(images / 255.0), atol=1e-6)
    np.testing.assert_allclose(a, unit.transform(images), atol=1e-6)  # uint8: always 0-255
    np.testing.assert_array_equal(a, clone(lomo).fit(images).transform(images))


def test_the_pixel_rule_of_every_estimator(images):
    # [0, 1] floats after a fit on 0-255 pixels: warned about, as by every skreid estimator
    from skreid.utils import PixelScaleWarning

    lomo = LOMOFeatures(cell_size=4, n_scales=2).fit(images)
    with pytest.warns(PixelScaleWarning, match=r"X holds float pixels in \[0, 1\]"):
        lomo.transform(images / 255.0)
    with pytest.raises(ValueError, match=r"fitted on float pixels in \[0, 1\]"):
        LOMOFeatures(cell_size=4, n_scales=2).fit(images / 255.0).transform(images * 1.0)
    with pytest.raises(ValueError, match=r"X has pixel values in \[-1"):
        lomo.transform(images - 1.0)


def test_colour_part_invariant_to_horizontal_flip(images):
    # max-pooling over each row of windows ignores where along the row a colour occurs
    lomo = LOMOFeatures(cell_size=4, n_scales=1, siltp_radii=()).fit(images)
    np.testing.assert_allclose(lomo.transform(images), lomo.transform(images[:, :, ::-1]))


def test_siltp_is_invariant_to_illumination_scale(images):
    lomo = LOMOFeatures(cell_size=4, n_scales=1, hsv_bins=1).fit(images)
    dark = images.astype(np.float32) * 0.5  # half the light, on the fitted 0-255 scale
    np.testing.assert_allclose(lomo.transform(images), lomo.transform(dark), atol=1e-6)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"cell_size": 0}, "cell_size"),
        ({"n_scales": 1.5}, "n_scales"),
        ({"hsv_bins": (8, 8)}, "hsv_bins"),
        ({"siltp_radii": (0,)}, "siltp_radii"),
        ({"siltp_tau": 1.0}, "siltp_tau"),
        ({"texture_weight": -1}, "texture_weight"),
        ({"cell_size": 8, "n_scales": 3}, "too small"),
    ],
)
def test_bad_parameters(images, params, match):
    with pytest.raises(ValueError, match=match):
        LOMOFeatures(**params).fit(images)


def test_bad_inputs(images):
    with pytest.raises(ValueError, match="RGB"):
        LOMOFeatures(cell_size=4).fit(images[..., 0])
    bad = images.astype(np.float32)
    bad[0, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        LOMOFeatures(cell_size=4).fit(bad)
    lomo = LOMOFeatures(cell_size=4, n_scales=2).fit(images)
    with pytest.raises(ValueError, match="fitted on"):
        lomo.transform(images[:, :32])
    flat = LOMOFeatures(cell_size=4, n_scales=2, image_shape=(40, 20, 3)).fit(images.reshape(5, -1))
    np.testing.assert_allclose(flat.transform(images.reshape(5, -1)), lomo.transform(images))
