"""The clustering step of adaptation (skreid._keras._adaptation), on synthetic embeddings."""

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from skreid._keras._adaptation import auto_eps, average_weights, cluster_pseudo_labels


def _two_cameras(seed=0, n_ids=12, per_camera=5, dim=32, shift=1.5):
    """Unit embeddings of people seen by two cameras; camera 2 adds one offset to all."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((n_ids, dim))
    ids = np.repeat(np.arange(n_ids), 2 * per_camera)
    cams = np.tile(np.repeat([1, 2], per_camera), n_ids)
    emb = centres[ids] + 0.35 * rng.standard_normal((len(ids), dim))
    emb[cams == 2] += shift * rng.standard_normal(dim)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True), ids, cams


def test_camera_centring_joins_people_across_cameras():
    emb, ids, cams = _two_cameras()
    plain, _ = cluster_pseudo_labels(emb)  # the defaults: eps="auto", k1=30, min_samples=4
    centred, eps = cluster_pseudo_labels(emb, cameras=cams)
    assert 0 < eps < 1
    # without the cameras every person splits in two (one cluster per camera); with them,
    # each cluster is one person seen by both cameras
    assert adjusted_rand_score(ids, centred) > 0.9 > 0.5 > adjusted_rand_score(ids, plain)
    assert all(len(set(cams[plain == label])) == 1 for label in set(plain) - {-1})
    for label in set(centred) - {-1}:
        assert len(set(ids[centred == label])) == 1
        assert set(cams[centred == label]) == {1, 2}


def test_auto_eps_is_a_quantile_of_the_kth_neighbour_distance():
    d = np.array([[0, .1, .2, .9], [.1, 0, .3, .8], [.2, .3, 0, .7], [.9, .8, .7, 0]])
    # second-nearest other item of each row: .2, .3, .3, .8 -> quantiles of those
    assert auto_eps(d, min_samples=3, quantile=0.5) == pytest.approx(0.3)
    assert auto_eps(d, min_samples=3, quantile=1.0) == pytest.approx(0.8)
    # the same rule at any size: 4 copies of the problem far apart give the same eps
    big = np.ones((16, 16))
    for k in range(4):
        big[4 * k:4 * k + 4, 4 * k:4 * k + 4] = d
    assert auto_eps(big, min_samples=3) == pytest.approx(auto_eps(d, min_samples=3))


def test_fixed_eps_and_noise():
    emb, ids, cams = _two_cameras(seed=1)
    labels, eps = cluster_pseudo_labels(emb, eps=0.5, min_samples=100, cameras=cams)
    assert eps == 0.5 and (labels == -1).all()  # no crop has 99 neighbours within eps
    labels, _ = cluster_pseudo_labels(emb, eps=0.25, min_samples=4, cameras=cams)
    assert adjusted_rand_score(ids, labels) > 0.9


def test_average_weights_is_a_running_mean():
    rounds = [[np.full((2, 3), v, dtype="float32"), np.array([v, -v], dtype="float32")]
              for v in (1.0, 2.0, 6.0)]
    mean = None
    for n, weights in enumerate(rounds):
        mean = average_weights(mean, weights, n)
    np.testing.assert_allclose(mean[0], 3.0)
    np.testing.assert_allclose(mean[1], [3.0, -3.0])
    assert mean[0].dtype == np.float32
    rounds[0][0][:] = 99  # the average holds copies, not the caller's arrays
    np.testing.assert_allclose(mean[0], 3.0)
