"""k-reciprocal Jaccard distances (skreid.metrics.pairwise.jaccard_k_reciprocal) against brute
force."""

import numpy as np
import pytest
from _rerank_reference import dense_distances
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from sklearn.cluster import DBSCAN
from sklearn.metrics import adjusted_rand_score

from skreid.metrics.pairwise import jaccard_k_reciprocal


def _brute_force_jaccard(X, k1, k2, metric):
    """The paper's definitions with Python sets and a dense sum of minima over all items."""
    d = dense_distances(X, None, metric)[0] ** 2
    d = d / np.where(d.max(axis=1) > 0, d.max(axis=1), 1)[:, None]
    n = len(X)
    rank = np.argsort(d, axis=1, kind="stable")

    def reciprocal(i, k):
        return {int(j) for j in rank[i, : k + 1] if i in rank[j, : k + 1]}

    V = np.zeros((n, n))
    for i in range(n):
        r_i = reciprocal(i, k1)
        expanded = set(r_i)
        for c in r_i:
            r_c = reciprocal(c, int(np.around(k1 / 2)))
            if len(r_c & r_i) > 2 / 3 * len(r_c):
                expanded |= r_c
        cols = sorted(expanded)
        w = np.exp(-d[i, cols])
        V[i, cols] = w / w.sum()
    if k2 > 1:
        V = np.stack([V[rank[i, :k2]].mean(axis=0) for i in range(n)])
    shared = np.minimum(V[:, None, :], V[None, :, :]).sum(axis=-1)
    jaccard = 1 - shared / (2 - shared)
    jaccard = (jaccard + jaccard.T) / 2
    np.fill_diagonal(jaccard, 0)
    return jaccard


def _clustered(seed, n, dim, n_ids, noise=0.5):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_ids, n)
    return rng.standard_normal((n_ids, dim))[labels] + noise * rng.standard_normal((n, dim)), labels


@pytest.mark.parametrize("n, dim, n_ids, metric, k1, k2", [
    (40, 6, 5, "euclidean", 20, 6),
    (35, 4, 7, "cosine", 6, 3),
    (30, 5, 4, "sqeuclidean", 8, 1),
    (12, 3, 2, "euclidean", 30, 20),  # k1, k2 larger than the problem
])
def test_jaccard_equals_brute_force(n, dim, n_ids, metric, k1, k2):
    X, _ = _clustered(n + k1, n, dim, n_ids)
    got = jaccard_k_reciprocal(X, metric=metric, k1=k1, k2=k2)
    assert got.shape == (n, n) and got.dtype == np.float64
    assert_allclose(got, _brute_force_jaccard(X, k1, k2, metric), atol=1e-9)
    assert_allclose(got, got.T, atol=0) and not got.diagonal().any()


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 30), dim=st.integers(1, 5),
       k1=st.integers(1, 25), k2=st.integers(1, 8))
def test_jaccard_equals_brute_force_hypothesis(seed, n, dim, k1, k2):
    X = np.random.default_rng(seed).standard_normal((n, dim))
    got = jaccard_k_reciprocal(X, k1=k1, k2=k2)
    assert_allclose(got, _brute_force_jaccard(X, k1, k2, "euclidean"), atol=1e-9)
    assert got.min() >= 0 and got.max() <= 1


def test_jaccard_float32_and_clusters_with_dbscan():
    X, labels = _clustered(0, 120, 16, 6, noise=0.3)
    d = jaccard_k_reciprocal(X.astype(np.float32), k1=20, k2=6)
    assert d.dtype == np.float32
    found = DBSCAN(eps=0.6, min_samples=4, metric="precomputed").fit_predict(d)
    assert adjusted_rand_score(labels, found) > 0.9


@pytest.mark.parametrize("kwargs, match", [
    ({"metric": "manhattan"}, "metric must be one of"),
    ({"k1": 0}, "rerank k1 must be an int >= 1"),
    ({"k2": 1.5}, "rerank k2 must be an int >= 1"),
])
def test_jaccard_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        jaccard_k_reciprocal(np.zeros((4, 2)) + np.arange(4)[:, None], **kwargs)
