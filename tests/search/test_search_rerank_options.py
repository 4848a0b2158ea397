"""The rerank= / query_expansion= options of evaluate_reid, the scorers and the estimators."""

import pickle

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import GroupKFold, cross_val_score

from skreid.metrics import evaluate_reid, make_map_scorer, make_top_n_scorer
from skreid.reid import PCAReID, TripletEmbedder
from skreid.search import average_query_expansion, rerank_k_reciprocal

RR = dict(k1=6, k2=2, lambda_value=0.3)


@pytest.fixture(scope="module")
def multishot():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 12))
    ids_g = np.repeat(np.arange(20), 6)
    g = centres[ids_g] + 0.8 * rng.standard_normal((len(ids_g), 12))
    ids_q = np.repeat(np.arange(20), 2)
    q = centres[ids_q] + 0.8 * rng.standard_normal((len(ids_q), 12))
    cams_g = np.tile(np.arange(3), 40)
    cams_q = np.tile([3, 4], 20)
    return q, ids_q, g, ids_g, cams_q, cams_g


def _keys(res):
    return {k: res[k] for k in ("rank1", "rank5", "mAP", "mINP", "n_queries")}


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_evaluate_reid_rerank_equals_precomputed(multishot, metric):
    q, ids_q, g, ids_g, cams_q, cams_g = multishot
    got = evaluate_reid(q, ids_q, g, ids_g, cams_q, cams_g, metric=metric, rerank=RR)
    d = rerank_k_reciprocal(q, g, metric=metric, **RR)
    want = evaluate_reid(d, ids_q, None, ids_g, cams_q, cams_g, metric="precomputed")
    assert _keys(got) == _keys(want)
    plain = evaluate_reid(q, ids_q, g, ids_g, cams_q, cams_g, metric=metric)
    assert got["mAP"] != plain["mAP"]
    assert evaluate_reid(q, ids_q, g, ids_g, cams_q, cams_g, metric=metric,
                         rerank=True)["n_queries"] == plain["n_queries"]


def test_evaluate_reid_query_expansion_equals_expanded_features(multishot):
    q, ids_q, g, ids_g, cams_q, cams_g = multishot
    qe = dict(k=3, alpha=2.0)
    got = evaluate_reid(q, ids_q, g, ids_g, cams_q, cams_g, query_expansion=qe)
    q2, g2 = average_query_expansion(q, g, **qe)
    assert _keys(got) == _keys(evaluate_reid(q2, ids_q, g2, ids_g, cams_q, cams_g))
    # both: QE first, then re-ranking of the expanded features
    got = evaluate_reid(q, ids_q, g, ids_g, cams_q, cams_g, query_expansion=qe, rerank=RR)
    d = rerank_k_reciprocal(q2, g2, **RR)
    want = evaluate_reid(d, ids_q, None, ids_g, cams_q, cams_g, metric="precomputed")
    assert _keys(got) == _keys(want)


def test_evaluate_reid_leave_one_out_rerank(multishot):
    _, _, g, ids_g, _, cams_g = multishot
    got = evaluate_reid(g, ids_g, query_cameras=cams_g, rerank=RR, query_expansion=True)
    g2, _ = average_query_expansion(g, None)
    d = rerank_k_reciprocal(g2, None, **RR)
    want = evaluate_reid(d, ids_g, query_cameras=cams_g, metric="precomputed",
                         query_is_gallery=True)
    assert _keys(got) == _keys(want)


def test_evaluate_reid_rerank_bad_input(multishot):
    q, ids_q, g, ids_g, _, _ = multishot
    with pytest.raises(ValueError, match="need features, not metric='precomputed'"):
        evaluate_reid(np.ones((2, 3)), [1, 2], None, [1, 2, 3], metric="precomputed",
                      rerank=True)
    with pytest.raises(ValueError, match="rerank supports metric in"):
        evaluate_reid(q, ids_q, g, ids_g, metric="manhattan", rerank=True)
    with pytest.raises(ValueError, match="rerank got unknown keys"):
        evaluate_reid(q, ids_q, g, ids_g, rerank={"k3": 1})
    with pytest.raises(ValueError, match="query_expansion must be None, a bool or a dict"):
        evaluate_reid(q, ids_q, g, ids_g, query_expansion=5)


def test_scorers_rerank(multishot):
    _, _, g, ids_g, _, _ = multishot
    pca = PCA(8).fit(g)
    scorer = make_map_scorer(rerank=RR, query_expansion=dict(k=2))
    want = evaluate_reid(pca.transform(g), ids_g, rerank=RR, query_expansion=dict(k=2),
                         query_is_gallery=True)
    assert scorer(pca, g, ids_g) == pytest.approx(want["mAP"])
    top1 = make_top_n_scorer(1, rerank=True)
    assert top1(pca, g, ids_g) == pytest.approx(
        evaluate_reid(pca.transform(g), ids_g, rerank=True)["rank1"])
    assert "rerank=" in repr(scorer) and "rerank" not in repr(make_map_scorer())
    scores = cross_val_score(PCA(6), g, ids_g, groups=ids_g, cv=GroupKFold(2),
                             scoring=make_map_scorer(rerank=RR))
    assert np.all((scores > 0) & (scores <= 1))
    assert pickle.loads(pickle.dumps(scorer)).rerank == RR


def test_scorers_rerank_bad_input():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match="rerank k1 must be an int >= 1"):
        make_map_scorer(rerank={"k1": 0})
    with pytest.raises(ValueError, match="query_expansion alpha"):
        make_top_n_scorer(query_expansion={"alpha": -1})
    X = np.random.default_rng(0).standard_normal((20, 3))
    y = np.repeat([0, 1], 10)
    clf = LogisticRegression().fit(X, y)
    with pytest.raises(ValueError, match="only apply to re-ID estimators"):
        make_top_n_scorer(1, kind="classifier", rerank=True)(clf, X, y)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_pcareid_rerank(multishot, metric):
    q, ids_q, g, ids_g, _, _ = multishot
    est = PCAReID(n_components=8, metric=metric, rerank=RR).fit(g, ids_g)
    plain = clone(est).set_params(rerank=None).fit(g, ids_g)
    want = rerank_k_reciprocal(est.transform(q), est.gallery_embeddings_, metric=metric, **RR)
    assert_allclose(est.gallery_distances(q), want.astype(np.float32), atol=1e-6)
    dist, idx = est.kneighbors(q, n_neighbors=5)
    assert_allclose(dist, np.take_along_axis(want, idx, 1), atol=1e-6)
    assert not np.array_equal(est.gallery_distances(q), plain.gallery_distances(q))
    # predict / score follow the re-ranked distances
    nearest = est.gallery_ids_[np.argmin(want, axis=1)]
    assert np.array_equal(est.predict(q), nearest)
    assert est.score(q, ids_q) == pytest.approx(np.mean(nearest == ids_q))
    assert clone(est).get_params()["rerank"] == RR
    assert_allclose(pickle.loads(pickle.dumps(est)).gallery_distances(q),
                    est.gallery_distances(q))


def test_estimators_validate_rerank_in_fit(multishot):
    _, _, g, ids_g, _, _ = multishot
    # sklearn's parameter constraints (InvalidParameterError, a ValueError) word it
    with pytest.raises(ValueError, match="rerank.* must be None"):
        PCAReID(rerank="fast").fit(g, ids_g)
    with pytest.raises(ValueError, match="rerank lambda_value"):
        TripletEmbedder(weights=None, rerank={"lambda_value": 2}).fit(
            np.zeros((8, 32, 16, 3), np.float32), np.repeat([0, 1], 4))
    assert TripletEmbedder().get_params()["rerank"] is None


@pytest.mark.parametrize("backend", ["exact", "faiss"])
def test_gallery_index_search_rerank(multishot, backend):
    from skreid.search import GalleryIndex

    if backend == "faiss":
        pytest.importorskip("faiss")
    q, ids_q, g, ids_g, cams_q, cams_g = multishot
    cams_q = np.where(np.arange(len(cams_q)) % 2, cams_q, 0)  # some queries share camera 0
    index = GalleryIndex("euclidean", backend=backend).add(
        g.astype(np.float32), ids=ids_g, cameras=cams_g)
    q32 = q.astype(np.float32)
    want = rerank_k_reciprocal(q32, g.astype(np.float32), **RR)
    res = index.search(q32, 7, rerank=RR)
    order = np.argsort(want, axis=1, kind="stable")[:, :7]
    assert np.array_equal(res.positions, order)
    assert_allclose(res.distances, np.take_along_axis(want, order, 1), atol=1e-6)
    # the same-camera rule applies to the re-ranked distances
    res = index.search(q32, 7, rerank=RR, exclude_same_camera=True, query_cameras=cams_q,
                       query_ids=ids_q)
    masked = np.where((cams_q[:, None] == cams_g) & (ids_q[:, None] == ids_g), np.inf, want)
    assert np.array_equal(res.positions, np.argsort(masked, axis=1, kind="stable")[:, :7])
    blocks = np.concatenate([d for _, d in index.distance_blocks(q32, rerank=RR)])
    assert_allclose(blocks, want, atol=1e-6)
    with pytest.raises(ValueError, match="rerank must be None, a bool or a dict"):
        index.search(q32, 3, rerank=[20])
