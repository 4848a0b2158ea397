"""k-reciprocal re-ranking and alpha-QE (skreid.metrics.pairwise), against dense references."""

import tracemalloc

import numpy as np
import pytest
from _rerank_reference import dense_distances, re_ranking_reference
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

import skreid.metrics.pairwise._rerank as rerank_module
from skreid.metrics import evaluate_reid
from skreid.metrics.pairwise import average_query_expansion, rerank_k_reciprocal


def _problem(seed, n_query, n_gallery, dim, n_ids=None, dtype=np.float64):
    rng = np.random.default_rng(seed)
    if n_ids is None:  # plain random features
        return (rng.standard_normal((n_query, dim)).astype(dtype),
                rng.standard_normal((n_gallery, dim)).astype(dtype))
    centres = rng.standard_normal((n_ids, dim))
    q = centres[rng.integers(0, n_ids, n_query)] + 0.5 * rng.standard_normal((n_query, dim))
    g = centres[rng.integers(0, n_ids, n_gallery)] + 0.5 * rng.standard_normal((n_gallery, dim))
    return q.astype(dtype), g.astype(dtype)


def _reference(q, g, metric="euclidean", **params):
    dtype = np.float64 if q.dtype == np.float64 else np.float32
    return re_ranking_reference(*dense_distances(q, g, metric), dtype=dtype,
                                leave_one_out=g is None, **params)


@pytest.fixture
def small_blocks(monkeypatch):
    """Force many distance blocks, Jaccard blocks and the sampled top-k path."""
    monkeypatch.setattr(rerank_module, "BLOCK_ELEMENTS", 500)
    monkeypatch.setattr(rerank_module, "_PAIR_BUDGET", 300)
    monkeypatch.setattr(rerank_module, "_SAMPLE_COLUMNS", 4)


CASES = [
    # n_query, n_gallery, dim, n_ids, metric, k1, k2, lambda
    (12, 50, 8, None, "euclidean", 20, 6, 0.3),
    (10, 60, 5, 6, "euclidean", 20, 6, 0.3),
    (8, 40, 6, 5, "cosine", 5, 3, 0.5),
    (15, 45, 4, 8, "sqeuclidean", 7, 1, 0.0),
    (6, 30, 3, None, "euclidean", 3, 2, 1.0),
    (5, 20, 4, 3, "euclidean", 40, 30, 0.3),  # k1, k2 larger than the problem
    (9, 70, 16, 7, "cosine", 10, 4, 0.8),
]


@pytest.mark.parametrize("n_query, n_gallery, dim, n_ids, metric, k1, k2, lam", CASES)
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_rerank_equals_dense_reference(
    request, n_query, n_gallery, dim, n_ids, metric, k1, k2, lam, blocks
):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    q, g = _problem(n_query + k1, n_query, n_gallery, dim, n_ids)
    params = dict(k1=k1, k2=k2, lambda_value=lam)
    got = rerank_k_reciprocal(q, g, metric=metric, **params)
    want = _reference(q, g, metric, **params)
    assert got.shape == (n_query, n_gallery) and got.dtype == np.float64
    assert np.abs(got - want).max() <= 1e-6
    # leave-one-out: the queries are their own gallery
    got = rerank_k_reciprocal(g, metric=metric, **params)
    assert np.abs(got - _reference(g, None, metric, **params)).max() <= 1e-6


DUPLICATE_CASES = [
    # copies of one point, other points, k1, k2: 22+ copies raised IndexError (issue 25)
    (22, 8, 20, 6), (40, 10, 20, 6), (60, 3, 20, 6), (300, 50, 20, 6), (30, 30, 5, 3),
]


@pytest.mark.parametrize("n_same, n_other, k1, k2", DUPLICATE_CASES)
@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean"])
@pytest.mark.parametrize("blocks", ["default", "small"])
def test_rerank_many_identical_embeddings_equals_dense_reference(request, n_same, n_other, k1,
                                                                  k2, metric, blocks):
    if blocks == "small":
        request.getfixturevalue("small_blocks")
    # small integers: exact distances, so both sides see the same ties (ties go to the lower
    # index in both: the reference's argsort is stable); an item with more than k1 copies
    # before it has an empty k-reciprocal set, and its row of V stays zero
    rng = np.random.default_rng(n_same + n_other)
    X = np.concatenate([np.repeat(rng.integers(0, 5, (1, 6)), n_same, 0),
                        rng.integers(0, 5, (n_other, 6))]).astype(np.float64)
    X = X[rng.permutation(len(X))]
    q, g = X[:5], X[5:]
    assert_allclose(rerank_k_reciprocal(q, g, metric=metric, k1=k1, k2=k2),
                    _reference(q, g, metric, k1=k1, k2=k2), atol=1e-12)
    assert_allclose(rerank_k_reciprocal(X, metric=metric, k1=k1, k2=k2),
                    _reference(X, None, metric, k1=k1, k2=k2), atol=1e-12)


def test_rerank_all_identical_embeddings_gives_finite_equal_distances():
    # the reference divides 0 by 0 here (NaN); skreid keeps the rows finite
    X = np.ones((25, 4), np.float32)
    d = rerank_k_reciprocal(X[:3], X[3:])
    assert d.shape == (3, 22) and np.isfinite(d).all()


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n_query=st.integers(1, 12),
    n_gallery=st.integers(1, 40),
    dim=st.integers(1, 6),
    k1=st.integers(1, 25),
    k2=st.integers(1, 8),
    lam=st.floats(0, 1),
    clustered=st.booleans(),
)
def test_rerank_equals_reference_hypothesis(seed, n_query, n_gallery, dim, k1, k2, lam,
                                            clustered):
    q, g = _problem(seed, n_query, n_gallery, dim, n_ids=3 if clustered else None)
    params = dict(k1=k1, k2=k2, lambda_value=lam)
    got = rerank_k_reciprocal(q, g, **params)
    assert np.abs(got - _reference(q, g, **params)).max() <= 1e-6


def test_rerank_float32_matches_float32_reference():
    q, g = _problem(3, 20, 80, 32, n_ids=10, dtype=np.float32)
    got = rerank_k_reciprocal(q, g)
    assert got.dtype == np.float32
    assert np.abs(got - _reference(q, g)).max() <= 1e-5


def test_rerank_mixed_dtypes_use_float64():
    q, g = _problem(4, 5, 30, 4, n_ids=3)
    got = rerank_k_reciprocal(q.astype(np.float32), g)
    assert got.dtype == np.float64


def test_rerank_gallery_order_invariant():
    q, g = _problem(5, 10, 60, 6, n_ids=6)
    perm = np.random.default_rng(0).permutation(len(g))
    assert_allclose(rerank_k_reciprocal(q, g)[:, perm], rerank_k_reciprocal(q, g[perm]),
                    atol=1e-12)


def test_rerank_lambda_one_is_normalised_original_distance():
    q, g = _problem(6, 7, 25, 5)
    got = rerank_k_reciprocal(q, g, lambda_value=1.0)
    d = np.concatenate([((q[:, None] - np.concatenate([q, g])[None]) ** 2).sum(-1)])
    assert_allclose(got, d[:, len(q):] / d.max(axis=1, keepdims=True), atol=1e-12)


def test_rerank_helps_a_multi_shot_problem():
    # several images per identity: the k-reciprocal neighbourhoods hold the true matches
    rng = np.random.default_rng(0)
    ids_g = np.repeat(np.arange(30), 8)
    centres = rng.standard_normal((30, 16))
    g = centres[ids_g] + 0.9 * rng.standard_normal((len(ids_g), 16))
    ids_q = np.arange(30)
    q = centres + 0.9 * rng.standard_normal((30, 16))
    plain = evaluate_reid(q, ids_q, g, ids_g)["mAP"]
    reranked = evaluate_reid(q, ids_q, g, ids_g, rerank=dict(k1=10, k2=3))["mAP"]
    assert reranked > plain + 0.05


def test_rerank_memory_is_blocked(monkeypatch):
    # 300 queries x 2,700 gallery: one dense (3,000 x 3,000) float32 matrix is 36 MB and the
    # reference holds about five; the blocked version needs the 3.2 MB result, the sparse
    # matrices and its blocks (made small here: their default sizes are ~100 MB, for speed)
    monkeypatch.setattr(rerank_module, "BLOCK_ELEMENTS", 2**18)
    monkeypatch.setattr(rerank_module, "_PAIR_BUDGET", 2**17)
    q, g = _problem(7, 300, 2700, 16, n_ids=250, dtype=np.float32)
    tracemalloc.start()
    try:
        out = rerank_k_reciprocal(q, g, k1=10, k2=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    dense_one = 3000**2 * 4
    assert out.shape == (300, 2700)
    assert peak < 0.4 * dense_one, f"peak {peak / 2**20:.0f} MB"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(k1=0), "k1 must be an int >= 1"),
        (dict(k1=2.5), "k1 must be an int"),
        (dict(k2=True), "k2 must be an int"),
        (dict(lambda_value=1.5), r"lambda_value must be a number in \[0, 1\]"),
        (dict(metric="manhattan"), "metric must be one of"),
    ],
)
def test_rerank_bad_parameters(kwargs, match):
    q, g = _problem(0, 3, 5, 2)
    with pytest.raises(ValueError, match=match):
        rerank_k_reciprocal(q, g, **kwargs)


def test_rerank_bad_features():
    q, g = _problem(0, 3, 5, 2)
    with pytest.raises(ValueError, match="gallery_features has 3 features"):
        rerank_k_reciprocal(q, np.ones((4, 3)))
    with pytest.raises(ValueError, match="query_features contains NaN"):
        rerank_k_reciprocal(np.full((2, 2), np.nan), g)
    with pytest.raises(ValueError, match="non-empty 2-D"):
        rerank_k_reciprocal(np.ones(3), g)


def test_check_rerank_option():
    from skreid.metrics.pairwise import check_rerank

    assert check_rerank(None) is None and check_rerank(False) is None
    assert check_rerank(True) == {"k1": 20, "k2": 6, "lambda_value": 0.3}
    assert check_rerank({"k1": 8}) == {"k1": 8, "k2": 6, "lambda_value": 0.3}
    with pytest.raises(ValueError, match="unknown keys"):
        check_rerank({"k": 3})
    with pytest.raises(ValueError, match="rerank must be None, a bool or a dict"):
        check_rerank("yes")


# ------------------------------------------------------------------------- alpha-QE
def _qe_brute(q, g, k, alpha):
    unit = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)  # noqa: E731
    q, g = unit(q), unit(g)
    out = []
    for row in q:
        s = g @ row
        top = np.argsort(-s, kind="stable")[:k]
        out.append(row + (np.maximum(s[top], 0) ** alpha) @ g[top])
    return unit(np.array(out)), g


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n_query=st.integers(1, 10), n_gallery=st.integers(1, 30),
       dim=st.integers(2, 6), k=st.integers(0, 8), alpha=st.floats(0, 6))
def test_qe_equals_brute_force(seed, n_query, n_gallery, dim, k, alpha):
    q, g = _problem(seed, n_query, n_gallery, dim)
    got_q, got_g = average_query_expansion(q, g, k=k, alpha=alpha)
    want_q, want_g = _qe_brute(q, g, min(k, n_gallery), alpha)
    assert_allclose(got_q, want_q, atol=1e-10)
    assert_allclose(got_g, want_g, atol=1e-12)
    assert_allclose(np.linalg.norm(got_q, axis=1), 1)


def test_qe_k0_only_normalises_and_gallery_order_does_not_matter():
    q, g = _problem(1, 6, 20, 5)
    got, _ = average_query_expansion(q, g, k=0)
    assert_allclose(got, q / np.linalg.norm(q, axis=1, keepdims=True))
    perm = np.random.default_rng(1).permutation(20)
    assert_allclose(average_query_expansion(q, g, k=3)[0],
                    average_query_expansion(q, g[perm], k=3)[0], atol=1e-12)


def test_qe_leave_one_out_never_uses_self():
    # two identical pairs: with k=1 each item's neighbour is its twin, never itself
    X = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    got, same = average_query_expansion(X, k=1, alpha=1.0)
    assert same is got
    assert_allclose(got[0], [1.0, 0.0])
    want = np.array([0.0, 1.0]) + 0.8 * np.array([0.6, 0.8])
    assert_allclose(got[2], want / np.linalg.norm(want))


def test_qe_expand_gallery_expands_the_gallery_first():
    q, g = _problem(2, 4, 12, 3)
    got_q, got_g = average_query_expansion(q, g, k=2, alpha=3.0, expand_gallery=True)
    g_exp, _ = average_query_expansion(g, k=2, alpha=3.0)
    assert_allclose(got_g, g_exp)
    assert_allclose(got_q, _qe_brute(q, g_exp, 2, 3.0)[0], atol=1e-12)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(k=-1), "k must be an int >= 0"), (dict(alpha=-1.0), "alpha must be a number >= 0"),
     (dict(expand_gallery="no"), "expand_gallery must be a bool")],
)
def test_qe_bad_parameters(kwargs, match):
    q, g = _problem(0, 3, 5, 2)
    with pytest.raises(ValueError, match=match):
        average_query_expansion(q, g, **kwargs)
