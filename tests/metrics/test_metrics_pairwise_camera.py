"""Per-camera normalisation: CameraStatistics and camera_normalize."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skreid.metrics.pairwise import (
    CameraStatistics,
    UnseenCameraWarning,
    camera_normalize,
    check_camera_normalization,
)


def _biased(n_per_camera=(20, 30, 25), d=6, seed=0):
    """Embeddings whose cameras are shifted (and stretched) differently."""
    rng = np.random.default_rng(seed)
    X, cams = [], []
    for c, n in enumerate(n_per_camera):
        scale = rng.uniform(0.5, 2.0, d)
        X.append(rng.normal(size=(n, d)) * scale + rng.normal(scale=5.0, size=d))
        cams += [c + 1] * n
    return np.concatenate(X), np.asarray(cams)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(5, 12), min_size=1, max_size=4), st.integers(1, 5),
       st.sampled_from(["center", "whiten"]), st.integers(0, 2**16))
def test_normalised_means_are_zero_per_camera(sizes, d, mode, seed):
    X, cams = _biased(sizes, d, seed)
    Z = camera_normalize(X, cams, mode=mode)
    for c in np.unique(cams):
        assert_allclose(Z[cams == c].mean(axis=0), 0, atol=1e-8)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**16), st.sampled_from(["center", "whiten"]))
def test_normalisation_does_not_depend_on_row_order(seed, mode):
    X, cams = _biased(seed=seed)
    perm = np.random.default_rng(seed).permutation(len(X))
    assert_allclose(camera_normalize(X, cams, mode=mode)[perm],
                    camera_normalize(X[perm], cams[perm], mode=mode), atol=1e-9)


@pytest.mark.parametrize("shrinkage, bound", [(0.0, 0.02), (0.5, 0.6)])
def test_whiten_gives_every_camera_the_shared_covariance(shrinkage, bound):
    X, cams = _biased((400, 500, 450), d=3, seed=1)
    stats = CameraStatistics("whiten", shrinkage=shrinkage).fit(X, cams)
    Z = stats.transform(X, cams)
    covs = [np.cov(Z[cams == c].T) for c in (1, 2, 3)]
    # the cameras' covariances differ by factors of up to 16 before; alike after
    before = [np.cov(X[cams == c].T) for c in (1, 2, 3)]
    spread = lambda cs: max(np.abs(a - b).max() for a in cs for b in cs)  # noqa: E731
    assert spread(covs) < bound * spread(before)
    assert stats.whitening_.shape == (3, 3, 3)
    assert_allclose(stats.global_whitening_, np.eye(3))


def test_center_is_the_camera_mean_subtracted():
    X, cams = _biased()
    Z = camera_normalize(X, cams)
    for c in (1, 2, 3):
        assert_allclose(Z[cams == c], X[cams == c] - X[cams == c].mean(0))


def test_unseen_cameras_get_the_global_statistics_with_a_warning():
    X, cams = _biased()
    stats = CameraStatistics().fit(X, cams)
    with pytest.warns(UnseenCameraWarning, match=r"camera\(s\) \[9\].*fitted on \[1, 2, 3\]"):
        Z = stats.transform(X[:4], [9, 9, 1, 1])
    assert_allclose(Z[:2], X[:2] - X.mean(0))
    assert_allclose(Z[2:], X[2:4] - X[cams == 1].mean(0))


@pytest.mark.parametrize("cameras", [None, [-1, -1, -1, -1]])
def test_unknown_or_missing_cameras_get_the_global_statistics_silently(cameras):
    X, cams = _biased()
    stats = CameraStatistics("whiten").fit(X, cams)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Z = stats.transform(X[:4], cameras)
    assert_allclose(Z, X[:4] - X.mean(0))  # the global map is the identity


def test_unknown_camera_rows_count_only_in_the_global_mean():
    X, cams = _biased()
    cams = cams.copy()
    cams[:5] = -1
    stats = CameraStatistics().fit(X, cams)
    assert stats.cameras_.tolist() == [1, 2, 3]
    assert stats.counts_.tolist() == [15, 30, 25]
    assert_allclose(stats.global_mean_, X.mean(0))


def test_small_cameras_use_the_global_statistics():
    X, cams = _biased((20, 3))
    stats = CameraStatistics("whiten", min_samples=5).fit(X, cams)
    assert_allclose(stats.means_[1], X.mean(0))
    assert_allclose(stats.whitening_[1], np.eye(X.shape[1]))
    assert not np.allclose(stats.means_[0], X.mean(0))


def test_string_cameras_and_float32():
    X, cams = _biased()
    names = np.array(["lobby", "door", "car park"])[cams - 1]
    Z = camera_normalize(X.astype(np.float32), names)
    assert Z.dtype == np.float32
    assert_allclose(Z, camera_normalize(X, cams), atol=1e-4)
    stats = CameraStatistics().fit(X, names)
    with pytest.raises(ValueError, match=r"cameras \(int64\) cannot be compared"):
        stats.transform(X, cams)


@pytest.mark.parametrize("mode", ["center", "whiten"])
def test_dict_round_trip(mode):
    X, cams = _biased()
    stats = CameraStatistics(mode).fit(X, cams)
    again = CameraStatistics.from_dict(stats.to_dict())
    assert_allclose(again.transform(X, cams), stats.transform(X, cams))
    assert repr(again) == f"CameraStatistics(mode={mode!r}, 3 cameras, 6-d)"


@pytest.mark.parametrize("change, pattern", [
    (lambda d: d.pop("means"), "means"),
    (lambda d: d.update(means=np.zeros((2, 6))), "inconsistent shapes"),
    (lambda d: d.update(mode="sharpen"), "mode must be one of"),
    (lambda d: d.update(global_mean=np.full(6, np.nan)), "non-finite"),
])
def test_from_dict_refuses_damaged_statistics(change, pattern):
    values = CameraStatistics().fit(*_biased()).to_dict()
    change(values)
    with pytest.raises(ValueError, match=pattern):
        CameraStatistics.from_dict(values)


def test_checks():
    X, cams = _biased()
    with pytest.raises(ValueError, match=r"cameras has 3 entries but X has 75"):
        CameraStatistics().fit(X, cams[:3])
    with pytest.raises(ValueError, match=r"min_samples must be an int >= 1, got 0"):
        CameraStatistics(min_samples=0).fit(X, cams)
    with pytest.raises(ValueError, match=r"shrinkage must be a number in \[0, 1\], got 1.5"):
        CameraStatistics("whiten", shrinkage=1.5).fit(X, cams)
    with pytest.raises(ValueError, match="not fitted"):
        CameraStatistics().transform(X, cams)
    stats = CameraStatistics().fit(X, cams)
    with pytest.raises(ValueError, match=r"X has 2 features but .* fitted on 6"):
        stats.transform(X[:, :2], cams)
    with pytest.raises(ValueError, match=r"cameras has 2 entries but X has 75"):
        stats.transform(X, cams[:2])
    assert check_camera_normalization(None) is None
    assert check_camera_normalization(stats, fitted=True) is stats
    with pytest.raises(ValueError, match=r"camera_normalization must be one of \[None, "
                                         r"'center', 'whiten'\], got 'zca'"):
        check_camera_normalization("zca")
    with pytest.raises(ValueError, match="must be one of"):
        check_camera_normalization(stats)  # a fitted object only where fitted=True
