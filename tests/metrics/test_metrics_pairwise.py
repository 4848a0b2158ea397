"""skreid.metrics.pairwise: the engine's public functions, its one metric list and its
validate-once options; skreid.search still offers the names it had."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.metrics import pairwise_distances as sklearn_distances

import skreid.metrics.pairwise as pairwise
import skreid.metrics.pairwise._validation as validation
from skreid.metrics import evaluate_reid
from skreid.metrics.pairwise import (
    BlockedDistances,
    check_metric,
    check_query_expansion,
    check_rerank,
    metric_names,
    pairwise_distances,
    pairwise_distances_chunked,
)
from skreid.reid import PCAReID
from skreid.utils import check_features, skip_nested_validation


def test_search_still_exports_the_engine():
    import skreid.search as search

    for name in ("BlockedDistances", "l2_normalize", "rerank_k_reciprocal", "check_rerank",
                 "average_query_expansion", "check_query_expansion"):
        assert getattr(search, name) is getattr(pairwise, name)
    assert search.SEARCH_METRICS == ("euclidean", "cosine")


@pytest.mark.parametrize("metric", ["euclidean", "sqeuclidean", "cosine", "cityblock"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_distances_equal_sklearn(metric, dtype):
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((30, 7)).astype(dtype), rng.standard_normal((45, 7)).astype(dtype)
    got = pairwise_distances(X, Y, metric=metric)
    assert got.dtype == dtype
    assert_allclose(got, sklearn_distances(X, Y, metric=metric), rtol=1e-4, atol=1e-4)
    same = pairwise_distances(X, metric=metric)
    assert_array_equal(np.diag(same), 0)
    assert_allclose(same, sklearn_distances(X, metric=metric), rtol=1e-4, atol=1e-4)


def test_pairwise_distances_chunked_is_blocked_and_equals_the_whole():
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((23, 4)), rng.standard_normal((10, 4))
    blocks = list(pairwise_distances_chunked(X, Y, max_elements=30))
    assert [b.shape for _, b in blocks] == [(3, 10)] * 7 + [(2, 10)]
    assert_array_equal(np.concatenate([b for _, b in blocks]), pairwise_distances(X, Y))


def test_pair_ranking_agrees_with_the_blocks():
    rng = np.random.default_rng(2)
    q, g = rng.standard_normal((6, 5)), rng.standard_normal((9, 5))
    rows, cols = np.repeat(np.arange(6), 9), np.tile(np.arange(9), 6)
    for metric in ("euclidean", "sqeuclidean", "cosine"):
        blocked = BlockedDistances(q, g, metric)
        assert_allclose(blocked.pair_ranking(rows, cols),
                        blocked.ranking(slice(None)).ravel(), atol=1e-12)


def test_one_metric_list():
    assert pairwise.DISTANCE_METRICS == ("euclidean", "cosine", "sqeuclidean")
    assert metric_names(squared=False) == ("euclidean", "cosine")
    assert metric_names(precomputed=True)[-1] == "precomputed"
    assert "cityblock" in metric_names(sklearn=True)
    with pytest.raises(ValueError, match=r"metric must be one of \['euclidean', 'cosine'\], "
                                         r"got 'sqeuclidean'"):
        check_metric("sqeuclidean", squared=False)
    with pytest.raises(ValueError, match="must be one of"):
        pairwise_distances(np.eye(2), metric="nope")


def test_bad_features_name_the_argument():
    with pytest.raises(ValueError, match="Y has 3 features but X has 2"):
        pairwise_distances(np.eye(2), np.eye(3))
    with pytest.raises(ValueError, match="X contains NaN"):
        pairwise_distances(np.array([[np.nan, 1.0]]))
    with pytest.raises(ValueError, match="X must be a non-empty 2-D array"):
        pairwise_distances(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="X must hold real numbers"):
        check_features(np.ones((2, 2), complex))


def test_validated_options_are_read_only_and_pass_through():
    params = check_rerank({"k1": 8})
    assert params == {"k1": 8, "k2": 6, "lambda_value": 0.3}
    assert check_rerank(params) is params
    with pytest.raises(TypeError, match="read-only"):
        params["k1"] = 0
    assert type(pickle.loads(pickle.dumps(params))) is dict
    qe = check_query_expansion(True)
    assert check_query_expansion(qe) is qe


def test_skip_nested_validation_trusts_checked_values():
    X = np.full((2, 2), np.nan, np.float32)
    with skip_nested_validation():
        assert check_features(X) is X  # the caller checked it (here, on purpose, it did not)
        assert check_rerank({"k1": 8})["k1"] == 8
    with pytest.raises(ValueError, match="NaN"):
        check_features(X)


def _count_checks(monkeypatch):
    calls = []
    real = validation.resolve_options

    def counting(value, name, defaults, check):
        def counted(params):
            calls.append(name)
            check(params)
        return real(value, name, defaults, counted)

    for module in ("_rerank", "_query_expansion"):
        monkeypatch.setattr(f"skreid.metrics.pairwise.{module}.resolve_options", counting)
    return calls


def test_rerank_is_validated_once_per_call(monkeypatch):
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(6), 4)
    X = rng.standard_normal((6, 10))[ids] + 0.1 * rng.standard_normal((24, 10))
    est = PCAReID(n_components=5, rerank={"k1": 4, "k2": 2}).fit(X, ids)
    calls = _count_checks(monkeypatch)
    assert est.score(X, ids) == 1.0
    assert calls == ["rerank"]
    calls.clear()
    evaluate_reid(X, ids, rerank={"k1": 4}, query_expansion={"k": 2})
    assert sorted(calls) == ["query_expansion", "rerank"]
