"""Tracklet pooling (pool_tracklets, tracklet_values) and set-to-set evaluation."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skreid.metrics import evaluate_reid
from skreid.metrics.pairwise import (
    CameraStatistics,
    l2_normalize,
    pool_tracklets,
    tracklet_values,
)

POOLINGS = ["mean", "max"]


@st.composite
def crops(draw):
    n = draw(st.integers(1, 25))
    d = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    tracklets = rng.integers(0, draw(st.integers(1, 6)), n)
    return X, tracklets, rng


@settings(max_examples=80, deadline=None)
@given(crops(), st.sampled_from(POOLINGS))
def test_pooling_ignores_the_order_of_the_crops(problem, pooling):
    X, tracklets, rng = problem
    perm = rng.permutation(len(X))
    a, ids_a, inv_a = pool_tracklets(X, tracklets, pooling=pooling)
    b, ids_b, inv_b = pool_tracklets(X[perm], tracklets[perm], pooling=pooling)
    assert np.array_equal(ids_a, ids_b)
    assert np.array_equal(inv_a[perm], inv_b)
    assert_allclose(a, b, atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(crops(), st.sampled_from(POOLINGS))
def test_a_one_image_tracklet_is_the_normalised_image(problem, pooling):
    X, _, _ = problem
    pooled, ids, inverse = pool_tracklets(X, np.arange(len(X))[::-1])
    assert_allclose(pooled[inverse], l2_normalize(X), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(crops())
def test_mean_and_max_equal_a_brute_force_loop(problem):
    X, tracklets, _ = problem
    mean, ids, _ = pool_tracklets(X, tracklets)
    maxed, _, _ = pool_tracklets(X, tracklets, pooling="max")
    unit = l2_normalize(X)
    for row, t in enumerate(ids):
        assert_allclose(mean[row], unit[tracklets == t].mean(axis=0), atol=1e-12)
        assert_allclose(maxed[row], unit[tracklets == t].max(axis=0), atol=1e-12)


@settings(max_examples=40, deadline=None)
@given(crops())
def test_weighted_mean_equals_a_brute_force_loop(problem):
    X, tracklets, rng = problem
    weights = rng.uniform(0.1, 2.0, len(X))
    pooled, ids, _ = pool_tracklets(X, tracklets, weights=weights)
    unit = l2_normalize(X)
    for row, t in enumerate(ids):
        m = tracklets == t
        assert_allclose(pooled[row], weights[m] @ unit[m] / weights[m].sum(), atol=1e-12)


def test_weights_filter_crops_and_an_empty_tracklet_is_named():
    X = np.array([[1.0, 0.0], [0.0, 1.0], [3.0, 4.0]])
    pooled, _, _ = pool_tracklets(X, ["a", "a", "b"], weights=[1.0, 0.0, 2.0])
    assert_allclose(pooled, [[1.0, 0.0], [0.6, 0.8]])
    maxed, _, _ = pool_tracklets(X, ["a", "a", "b"], pooling="max", weights=[0, 1, 1])
    assert_allclose(maxed[0], [0.0, 1.0])
    with pytest.raises(ValueError, match=r"tracklet 'b' is empty after filtering"):
        pool_tracklets(X, ["a", "a", "b"], weights=[1.0, 1.0, 0.0])
    with pytest.raises(ValueError, match=r"weights must be 3 finite non-negative"):
        pool_tracklets(X, ["a", "a", "b"], weights=[1.0, -1.0, 1.0])


def test_float32_stays_float32_and_pooling_is_checked():
    X = np.ones((3, 2), dtype=np.float32)
    assert pool_tracklets(X, [1, 1, 2])[0].dtype == np.float32
    with pytest.raises(ValueError, match=r"pooling must be one of \['mean', 'max'\]"):
        pool_tracklets(X, [1, 1, 2], pooling="median")
    with pytest.raises(ValueError, match=r"tracklets has 2 entries but X has 3"):
        pool_tracklets(X, [1, 1])


def test_tracklet_values_names_a_tracklet_that_mixes_cameras():
    assert tracklet_values(np.array([5, 5, 7]), np.array(["x", "x", "y"]), "camera").tolist() \
        == [5, 7]
    with pytest.raises(ValueError, match=r"tracklet 'x' mixes camera values \[5, 6\]"):
        tracklet_values(np.array([5, 6, 7]), np.array(["x", "x", "y"]), "camera")


# ------------------------------------------------------------------ evaluate_reid with tracklets
def _same(got, want):
    assert got.keys() == want.keys()
    for key in want:
        assert_allclose(got[key], want[key], atol=1e-9, err_msg=key)


def _people(n_ids=8, per_camera=3, d=8, seed=0, noise=1.0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_ids, d))
    ids = np.repeat(np.arange(n_ids), 2 * per_camera)
    cams = np.tile(np.repeat([1, 2], per_camera), n_ids)
    X = centres[ids] + noise * rng.normal(size=(len(ids), d))
    return X, ids, cams, ids * 10 + cams


def test_singleton_tracklets_equal_image_matching():
    X, ids, cams, _ = _people()
    X = l2_normalize(X)
    singletons = np.arange(len(X))
    plain = evaluate_reid(X, ids, query_cameras=cams)
    for kwargs in (dict(query_tracklets=singletons),
                   dict(query_tracklets=singletons, gallery_tracklets=singletons)):
        res = evaluate_reid(X, ids, query_cameras=cams, **kwargs)
        assert res["rank1"] == plain["rank1"] and res["mAP"] == pytest.approx(plain["mAP"])


@pytest.mark.parametrize("pooling", POOLINGS)
def test_set_to_set_equals_evaluating_the_pooled_features(pooling):
    X, ids, cams, tracklets = _people(seed=3)
    pooled, _, inverse = pool_tracklets(X, tracklets, pooling=pooling)
    first = np.unique(inverse, return_index=True)[1]
    want = evaluate_reid(pooled, ids[first], query_cameras=cams[first])
    got = evaluate_reid(X, ids, query_cameras=cams, query_tracklets=tracklets,
                        tracklet_pooling=pooling)
    _same(got, want)
    assert got["n_queries"] == len(np.unique(tracklets))


def test_the_camera_rule_applies_per_tracklet():
    # id 0: tracklets A and B in camera 1, C in camera 2; id 1: D in camera 1. Seen from A,
    # B is the same identity and camera (left out), D comes before C.
    angle = np.deg2rad([0, 2, 5, 7, 40, 42, 20, 22])
    X = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    ids = np.array([0, 0, 0, 0, 0, 0, 1, 1])
    cams = np.array([1, 1, 1, 1, 2, 2, 1, 1])
    tracklets = np.array(["A", "A", "B", "B", "C", "C", "D", "D"])
    q = tracklets == "A"
    kwargs = dict(query_tracklets=tracklets[q], gallery_tracklets=tracklets,
                  query_is_gallery=False)
    rule = evaluate_reid(X[q], ids[q], X, ids, cams[q], cams, **kwargs)
    assert rule["n_queries"] == 1 and rule["rank1"] == 0.0 and rule["cmc"][1] == 1.0
    assert rule["mAP"] == pytest.approx(0.5)  # C at rank 2 (A and B left out)
    blind = evaluate_reid(X[q], ids[q], X, ids, **kwargs)
    assert blind["rank1"] == 1.0  # without cameras, A itself and B match first


def test_image_queries_against_a_tracklet_gallery():
    X, ids, cams, tracklets = _people(seed=1)
    q = cams == 1
    res = evaluate_reid(X[q], ids[q], X[~q], ids[~q], cams[q], cams[~q],
                        gallery_tracklets=tracklets[~q])
    assert res["n_queries"] == q.sum()
    pooled, _, inverse = pool_tracklets(X[~q], tracklets[~q])
    first = np.unique(inverse, return_index=True)[1]
    want = evaluate_reid(X[q], ids[q], pooled, ids[~q][first], cams[q], cams[~q][first])
    _same(res, want)


def test_tracklets_improve_a_noisy_embedding():
    X, ids, cams, tracklets = _people(n_ids=20, per_camera=6, seed=2, noise=1.5)
    images = evaluate_reid(X, ids, query_cameras=cams)
    sets = evaluate_reid(X, ids, query_cameras=cams, query_tracklets=tracklets)
    assert sets["mAP"] > images["mAP"] + 0.1


@pytest.mark.parametrize("kwargs, pattern", [
    (dict(query_tracklets=np.arange(5)), r"query_tracklets has 5 entries but query_features "
                                         r"has 48"),
    (dict(query_tracklets=np.zeros(48, int)), r"query_tracklets: tracklet 0 mixes identity"),
    (dict(query_tracklets=np.repeat(np.arange(8), 6)), r"tracklet 0 mixes camera values"),
    (dict(query_tracklets=np.arange(48), gallery_tracklets=np.arange(48) // 2),
     r"query_tracklets and gallery_tracklets differ"),
    (dict(tracklet_pooling="median"), r"tracklet_pooling must be one of"),
    (dict(camera_normalization="zca"), r"camera_normalization must be one of"),
])
def test_evaluate_reid_bad_tracklets(kwargs, pattern):
    X, ids, cams, _ = _people()
    with pytest.raises(ValueError, match=pattern):
        evaluate_reid(X, ids, query_cameras=cams, **kwargs)


# ---------------------------------------------------------- evaluate_reid camera normalisation
def _camera_biased(seed=0):
    X, ids, cams, tracklets = _people(n_ids=15, per_camera=4, seed=seed, noise=0.5)
    shift = np.random.default_rng(seed + 1).normal(scale=3.0, size=(3, X.shape[1]))
    return X + shift[cams], ids, cams, tracklets


def test_camera_normalization_lifts_a_camera_biased_embedding():
    X, ids, cams, _ = _camera_biased()
    plain = evaluate_reid(X, ids, query_cameras=cams)
    for mode in ("center", "whiten"):
        normed = evaluate_reid(X, ids, query_cameras=cams, camera_normalization=mode)
        assert normed["rank1"] > plain["rank1"] + 0.3, mode


def test_camera_normalization_fits_queries_and_gallery_together():
    # cross-camera: the query camera appears only among the queries, yet gets its own mean
    X, ids, cams, _ = _camera_biased(1)
    q = cams == 1
    got = evaluate_reid(X[q], ids[q], X[~q], ids[~q], cams[q], cams[~q],
                        camera_normalization="center")
    Z = np.concatenate([X[q] - X[q].mean(0), X[~q] - X[~q].mean(0)])
    want = evaluate_reid(Z[: q.sum()], ids[q], Z[q.sum():], ids[~q], cams[q], cams[~q])
    _same(got, want)


def test_camera_normalization_with_fitted_statistics_and_tracklets():
    X, ids, cams, tracklets = _camera_biased(2)
    stats = CameraStatistics().fit(X, cams)
    got = evaluate_reid(X, ids, query_cameras=cams, camera_normalization=stats)
    want = evaluate_reid(stats.transform(X, cams), ids, query_cameras=cams)
    _same(got, want)
    # with tracklets the pooled features are normalised, with their own statistics
    pooled, _, inverse = pool_tracklets(X, tracklets)
    first = np.unique(inverse, return_index=True)[1]
    want = evaluate_reid(pooled, ids[first], query_cameras=cams[first],
                         camera_normalization="center")
    got = evaluate_reid(X, ids, query_cameras=cams, query_tracklets=tracklets,
                        camera_normalization="center")
    _same(got, want)


def test_camera_normalization_needs_cameras_and_features():
    X, ids, cams, _ = _camera_biased()
    with pytest.raises(ValueError, match=r"camera_normalization needs the cameras"):
        evaluate_reid(X, ids, camera_normalization="center")
    with pytest.raises(ValueError, match=r"camera_normalization needs features"):
        evaluate_reid(np.ones((3, 3)), [0, 1, 2], metric="precomputed",
                      camera_normalization="center")
    with pytest.raises(ValueError, match=r"query_tracklets needs features"):
        evaluate_reid(np.ones((3, 3)), [0, 1, 2], metric="precomputed",
                      query_tracklets=[0, 1, 2])
