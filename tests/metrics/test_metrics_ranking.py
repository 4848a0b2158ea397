"""Re-ID ranking metrics: hand-computed cases per protocol rule, a brute-force reference,
and hypothesis properties."""

import contextlib
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skreid.metrics import (
    cmc_curve,
    evaluate_reid,
    mean_average_precision,
    mean_inverse_negative_penalty,
)

# ---------------------------------------------------------------------------------------
# brute-force reference: one query at a time, a literal reading of the protocol
# ---------------------------------------------------------------------------------------


def _compute_ap_m(good, junk, index):
    """Line-by-line port of the official Market-1501 ``compute_AP.m`` (trapezoid AP)."""
    ngood = len(good)
    old_recall, old_precision, ap, intersect_size, j, good_now = 0.0, 1.0, 0.0, 0, 0, 0
    for n in index:
        flag = n in good
        if flag:
            good_now += 1
        if n in junk:
            continue
        if flag:
            intersect_size += 1
        recall = intersect_size / ngood
        precision = intersect_size / (j + 1)
        ap += (recall - old_recall) * ((old_precision + precision) / 2)
        old_recall, old_precision = recall, precision
        j += 1
        if good_now == ngood:
            break
    return ap


def reference(dist, qids, gids, qcams=None, gcams=None, *, query_is_gallery=False, max_rank=5):
    """Per-query loop; ties pessimistic (negatives before true matches at equal distance)."""
    first, ap, ap_trap, inp = [], [], [], []
    for q in range(dist.shape[0]):
        same = gids == qids[q]
        junk = gids == -1
        if qcams is not None:
            junk = junk | (same & (gcams == qcams[q]))
        if query_is_gallery:
            junk = junk.copy()
            junk[q] = True
        good = same & ~junk
        if not good.any():
            continue
        # sort by distance, negatives before true matches on ties
        index = np.lexsort((good, dist[q]))
        hits = good[index][~junk[index]]
        positions = np.flatnonzero(hits) + 1
        first.append(positions[0])
        ap.append(np.mean(np.arange(1, len(positions) + 1) / positions))
        ap_trap.append(_compute_ap_m(set(np.flatnonzero(good)), set(np.flatnonzero(junk)), index))
        inp.append(len(positions) / positions[-1])
    if not first:
        return None
    first = np.asarray(first)
    cmc = np.array([np.mean(first <= k) for k in range(1, max_rank + 1)])
    return {
        "cmc": cmc,
        "mAP": np.mean(ap),
        "mAP_trapezoid": np.mean(ap_trap),
        "mINP": np.mean(inp),
        "n_queries": len(first),
        "n_skipped": dist.shape[0] - len(first),
    }


@st.composite
def problems(draw, square=False):
    n_q = draw(st.integers(1, 7))
    n_g = n_q if square else draw(st.integers(1, 12))
    ids = st.sampled_from([-1, 0, 1, 2, 3])
    qids = np.array(draw(st.lists(ids, min_size=n_q, max_size=n_q)))
    gids = qids if square else np.array(draw(st.lists(ids, min_size=n_g, max_size=n_g)))
    cams = None
    if draw(st.booleans()):
        cam = st.integers(1, 2)
        qcams = np.array(draw(st.lists(cam, min_size=n_q, max_size=n_q)))
        gcams = qcams if square else np.array(draw(st.lists(cam, min_size=n_g, max_size=n_g)))
        cams = (qcams, gcams)
    # small integer distances make ties common; floats exercise the general case
    if draw(st.booleans()):
        dist = np.array(draw(st.lists(st.integers(0, 3), min_size=n_q * n_g, max_size=n_q * n_g)))
    else:
        dist = np.array(draw(st.lists(st.floats(0, 10), min_size=n_q * n_g, max_size=n_q * n_g)))
    return dist.reshape(n_q, n_g).astype(float), qids, gids, cams


def _run(dist, qids, gids, cams, **kwargs):
    qc, gc = cams if cams is not None else (None, None)
    return evaluate_reid(dist, qids, None, gids, qc, gc, metric="precomputed", **kwargs)


@settings(max_examples=150, deadline=None)
@given(problems(), st.integers(1, 3))
def test_matches_brute_force_reference(problem, chunk_size):
    dist, qids, gids, cams = problem
    ref = reference(dist, qids, gids, *(cams or (None, None)))
    if ref is None:
        with pytest.raises(ValueError, match="No query has a true match"):
            _run(dist, qids, gids, cams, max_rank=5, chunk_size=chunk_size)
        return
    res = _run(dist, qids, gids, cams, max_rank=5, chunk_size=chunk_size)
    trap = _run(dist, qids, gids, cams, ap_mode="trapezoid", chunk_size=chunk_size)
    # the CMC stops at the gallery size (max_rank is capped there)
    assert_allclose(res["cmc"], ref["cmc"][: min(5, dist.shape[1])])
    assert_allclose(res["mAP"], ref["mAP"])
    assert_allclose(trap["mAP"], ref["mAP_trapezoid"])
    assert_allclose(res["mINP"], ref["mINP"])
    assert (res["n_queries"], res["n_skipped"]) == (ref["n_queries"], ref["n_skipped"])
    # properties: CMC non-decreasing in [0, 1]; trapezoid AP never above non-interpolated
    assert np.all(np.diff(res["cmc"]) >= 0)
    assert 0 <= res["cmc"][0] and res["cmc"][-1] <= 1
    assert trap["mAP"] <= res["mAP"] + 1e-12
    assert 0 < res["mINP"] <= 1


@settings(max_examples=60, deadline=None)
@given(problems(square=True))
def test_leave_one_out_matches_reference(problem):
    dist, ids, _, cams = problem
    ref = reference(dist, ids, ids, *(cams or (None, None)), query_is_gallery=True)
    qc = cams[0] if cams is not None else None
    if ref is None:
        with pytest.raises(ValueError, match="No query has a true match"):
            evaluate_reid(dist, ids, metric="precomputed", query_cameras=qc)
        return
    res = evaluate_reid(dist, ids, metric="precomputed", query_cameras=qc, max_rank=5)
    # the CMC stops at the gallery size (max_rank is capped there)
    assert_allclose(res["cmc"], ref["cmc"][: min(5, dist.shape[1])])
    assert_allclose(res["mAP"], ref["mAP"])
    assert_allclose(res["mINP"], ref["mINP"])


@settings(max_examples=60, deadline=None)
@given(problems(), st.randoms(use_true_random=False))
def test_invariant_to_permutations_and_renaming(problem, random):
    dist, qids, gids, cams = problem
    if reference(dist, qids, gids, *(cams or (None, None))) is None:
        return
    base = _run(dist, qids, gids, cams, max_rank=5)
    rng = np.random.default_rng(random.randint(0, 2**32 - 1))
    pq, pg = rng.permutation(dist.shape[0]), rng.permutation(dist.shape[1])
    # rename identities with a bijection that keeps the junk id -1 fixed
    mapping = {-1: -1, 0: 17, 1: 5, 2: 0, 3: 42}
    rename = np.vectorize(mapping.get)
    perm_cams = None if cams is None else (cams[0][pq], cams[1][pg])
    other = _run(dist[pq][:, pg], rename(qids[pq]), rename(gids[pg]), perm_cams, max_rank=5)
    for key in ("cmc", "mAP", "mINP", "n_queries"):
        assert_allclose(other[key], base[key])


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 6), st.integers(2, 5), st.integers(1, 4), st.integers(0, 2**16))
def test_perfect_embeddings_score_one(n_ids, n_per_id, n_cams, seed):
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(1, n_ids + 1), n_per_id)
    cams = rng.integers(1, n_cams + 1, ids.shape[0])
    features = np.eye(n_ids)[ids - 1] * 10  # every image of an identity at the same point
    for metric in ("euclidean", "cosine"):
        res = evaluate_reid(features, ids, metric=metric)
        assert res["rank1"] == res["mAP"] == res["mINP"] == 1.0
        assert np.all(res["cmc"] == 1.0)
    try:
        res = evaluate_reid(features, ids, query_cameras=cams, ap_mode="trapezoid")
    except ValueError:  # every identity seen by a single camera: nothing left to match
        return
    assert res["rank1"] == res["mAP"] == res["mINP"] == 1.0


def test_features_match_precomputed_distances():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(0)
    q, g = rng.standard_normal((40, 8)), rng.standard_normal((90, 8))
    qids, gids = rng.integers(1, 6, 40), rng.integers(-1, 6, 90)
    qc, gc = rng.integers(1, 3, 40), rng.integers(1, 3, 90)
    for metric in ("euclidean", "cosine", "cityblock"):
        expected = evaluate_reid(
            cdist(q, g, metric=metric), qids, None, gids, qc, gc, metric="precomputed"
        )
        for chunk_size in (1, 7, 256):
            res = evaluate_reid(q, qids, g, gids, qc, gc, metric=metric, chunk_size=chunk_size)
            for key in ("cmc", "mAP", "mINP", "rank1", "rank5", "rank10", "n_queries"):
                assert_allclose(res[key], expected[key], err_msg=f"{metric} {key}")
    # similarity input is the negated distance
    sim = q @ g.T
    assert_allclose(
        cmc_curve(sim, qids, gids, qc, gc, is_similarity=True),
        cmc_curve(-sim, qids, gids, qc, gc),
    )


@contextlib.contextmanager
def _counting_path(path):
    """Force the engine's selection of the negatives before the last match ("select") or the
    sort of whole rows ("sort"); both must count exactly."""
    import skreid.metrics._ranking_engine as engine

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(engine, "_SORT_ROWS_ABOVE", 1 if path == "select" else 2**62)
        yield


@pytest.mark.parametrize("path", ["select", "sort"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@settings(max_examples=60, deadline=None)
@given(problem=problems(), chunk_size=st.integers(1, 3), shift=st.booleans())
def test_both_counting_paths_match_reference(path, dtype, problem, chunk_size, shift):
    dist, qids, gids, cams = problem
    if shift:  # negative distances and -0.0 (negated similarities) as well
        dist = np.where(dist == 0, -0.0, dist - 2)  # -0.0 ties +0.0 (from 2)
    dist = dist.astype(dtype)
    ref = reference(dist.astype(float), qids, gids, *(cams or (None, None)))
    if ref is None:
        return
    with _counting_path(path):
        res = _run(dist, qids, gids, cams, max_rank=5, chunk_size=chunk_size)
    assert_allclose(res["cmc"], ref["cmc"][: min(5, dist.shape[1])])
    assert_allclose(res["mAP"], ref["mAP"])
    assert_allclose(res["mINP"], ref["mINP"])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_selected_negatives_equal_sorted_rows_on_clustered_features(dtype):
    # a good embedding: every true match ranks early, so few negatives are selected
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((60, 16))
    gids = np.repeat(np.arange(60), 8)
    qids = np.repeat(np.arange(60), 2)
    g = (centres[gids] + 0.4 * rng.standard_normal((480, 16))).astype(dtype)
    q = (centres[qids] + 0.4 * rng.standard_normal((120, 16))).astype(dtype)
    gc, qc = rng.integers(1, 4, 480), rng.integers(1, 4, 120)
    results = {}
    for path in ("select", "sort"):
        with _counting_path(path):
            results[path] = evaluate_reid(q, qids, g, gids, qc, gc, chunk_size=32)
    assert 0.2 < results["select"]["mINP"] < 1  # matches spread over the first ranks
    for key in ("cmc", "mAP", "mINP", "n_queries"):
        np.testing.assert_array_equal(results["select"][key], results["sort"][key])


# ---------------------------------------------------------------------------------------
# hand-computed cases, one per rule
# ---------------------------------------------------------------------------------------


def test_same_camera_matches_are_removed_not_negatives():
    # gallery by distance: id1/cam1 (same camera: removed), id2, id1/cam2
    d = np.array([[0.1, 0.2, 0.3]])
    gids, gcams = [1, 2, 1], [1, 1, 2]
    assert_allclose(cmc_curve(d, [1], gids, [1], gcams, max_rank=3), [0, 1, 1])
    assert mean_average_precision(d, [1], gids, [1], gcams) == pytest.approx(1 / 2)
    # without cameras the first item is a true match
    assert_allclose(cmc_curve(d, [1], gids, max_rank=3), [1, 1, 1])
    assert mean_average_precision(d, [1], gids) == pytest.approx((1 + 2 / 3) / 2)


def test_junk_is_removed_and_distractors_are_negatives():
    d = np.array([[0.1, 0.2, 0.3, 0.4]])
    gids = [-1, 0, 5, 1]  # junk, distractor, other identity, match
    # ranking after junk removal: distractor, id5, match at rank 3
    assert_allclose(cmc_curve(d, [1], gids, max_rank=4), [0, 0, 1, 1])
    assert mean_average_precision(d, [1], gids) == pytest.approx(1 / 3)
    assert mean_inverse_negative_penalty(d, [1], gids) == pytest.approx(1 / 3)
    assert_allclose(cmc_curve(d, [1], gids, junk_id=None, max_rank=4), [0, 0, 0, 1])


def test_query_without_true_match_is_skipped_and_counted():
    d = np.array([[0.1, 0.2], [0.2, 0.1], [0.3, 0.4]])
    qids, qcams = [1, 2, 3], [1, 1, 1]
    gids, gcams = [1, 2], [2, 1]  # query 2's only match shares its camera; id 3 absent
    res = evaluate_reid(d, qids, None, gids, qcams, gcams, metric="precomputed", max_rank=2)
    assert (res["n_queries"], res["n_skipped"]) == (1, 2)
    assert res["rank1"] == res["mAP"] == 1.0


def test_trapezoid_ap_matches_compute_ap_m_by_hand():
    d = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    gids = [2, 1, 2, 2, 1]  # matches at ranks 2 and 5
    # precision 1/2 and 2/5; previous-rank precisions 0/1 and 1/4
    expected = ((0 + 1 / 2) / 2 + (1 / 4 + 2 / 5) / 2) / 2
    assert mean_average_precision(d, [1], gids, ap_mode="trapezoid") == pytest.approx(expected)
    assert mean_average_precision(d, [1], gids) == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert mean_inverse_negative_penalty(d, [1], gids) == pytest.approx(2 / 5)


def test_ties_are_pessimistic():
    d = np.zeros((1, 4))  # a collapsed embedding: every distance equal
    assert_allclose(cmc_curve(d, [1], [1, 2, 3, 1], max_rank=4), [0, 0, 1, 1])
    assert mean_average_precision(d, [1], [1, 2, 3, 1]) == pytest.approx((1 / 3 + 2 / 4) / 2)


def test_leave_one_out_excludes_only_the_query_itself():
    features = np.array([[0.0], [0.1], [5.0], [5.2]])
    ids = np.array([1, 1, 2, 2])
    res = evaluate_reid(features, ids)  # gallery_features=None: leave-one-out
    assert res["rank1"] == 1.0 and res["n_queries"] == 4
    # the same object passed twice is detected as leave-one-out too
    assert evaluate_reid(features, ids, features, ids)["mAP"] == 1.0
    # an explicit separate gallery keeps the query's copy: it is found at rank 1
    assert evaluate_reid(features, ids, features.copy(), ids)["rank1"] == 1.0
    d = np.abs(features - features.T)
    assert_allclose(cmc_curve(d, ids, None, query_is_gallery=True, max_rank=2), [1, 1])


def test_max_rank_is_capped_at_the_gallery_size():
    # ranks beyond the gallery would only repeat the last value (and 10**9 of them took
    # 15.7 GB): the curve stops at the gallery size
    cmc = cmc_curve(np.array([[0.3, 0.1]]), [1], [1, 2], max_rank=5)
    assert_allclose(cmc, [0, 1])
    rng = np.random.RandomState(0)
    res = evaluate_reid(rng.rand(20, 4), np.arange(20) % 5, rng.rand(50, 4), np.arange(50) % 5,
                        max_rank=10**9)
    assert res["cmc"].shape == (50,) and res["cmc"][-1] == 1.0


def test_string_labels():
    d = np.array([[0.1, 0.2]])
    assert mean_average_precision(d, ["bob"], ["al", "bob"], ["c1"], ["c2", "c3"]) == 0.5


@pytest.mark.skipif(
    not os.environ.get("SKREID_TEST_DATA"), reason="SKREID_TEST_DATA (real data folder) unset"
)
def test_real_market1501_subset_matches_reference():
    from scipy.spatial.distance import cdist

    from skreid.datasets import load_market1501

    root = os.path.join(os.environ["SKREID_TEST_DATA"], "market1501", "cab420_subset")
    if not os.path.isdir(root):
        pytest.skip(f"{root} not found")
    data = load_market1501(root)
    q, g = data.query, data.gallery
    # coarse colour layout as features: crude, but real images and real camera ids
    qf = q.images[:, ::8, ::8].reshape(len(q.images), -1).astype(float)
    gf = g.images[:, ::8, ::8].reshape(len(g.images), -1).astype(float)
    res = evaluate_reid(qf, q.person_ids, gf, g.person_ids, q.camera_ids, g.camera_ids)
    ref = reference(
        cdist(qf, gf, "sqeuclidean"),
        q.person_ids,
        g.person_ids,
        q.camera_ids,
        g.camera_ids,
        max_rank=50,
    )
    assert_allclose(res["cmc"], ref["cmc"])
    assert res["mAP"] == pytest.approx(ref["mAP"])
    assert res["mINP"] == pytest.approx(ref["mINP"])
    # one gallery image per identity: a query is skipped exactly when that image shares
    # its camera
    same_cam = sum(
        np.any((g.person_ids == pid) & (g.camera_ids == cam))
        for pid, cam in zip(q.person_ids, q.camera_ids, strict=True)
    )
    assert res["n_skipped"] == same_cam and res["n_queries"] == len(qf) - same_cam
    assert res["rank10"] > 10 / len(gf)  # colour layout beats chance


# ---------------------------------------------------------------------------------------
# bad input: a ValueError naming the argument
# ---------------------------------------------------------------------------------------

D = np.array([[0.1, 0.2], [0.3, 0.4]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: cmc_curve(D, [1, 2, 3], [1, 2]), "query_ids"),
        (lambda: cmc_curve(D, [1, 2], [1]), "gallery_ids"),
        (lambda: cmc_curve(np.array([[np.nan, 0.1]]), [1], [1, 2]), "distances"),
        (lambda: cmc_curve(np.array([[np.inf, 0.1]]), [1], [1, 2]), "distances"),
        (lambda: cmc_curve(np.zeros((0, 2)), [], [1, 2]), "query set is empty"),
        (lambda: cmc_curve(np.zeros((1, 0)), [1], []), "gallery is empty"),
        (lambda: cmc_curve(D, [1, 2], [1, 2], max_rank=0), "max_rank"),
        (lambda: cmc_curve(D, [1, 2], [1, 2], chunk_size=0), "chunk_size"),
        (lambda: cmc_curve(D, [1, 2], [1, 2], query_cameras=[1, 2]), "gallery_cameras"),
        (lambda: cmc_curve(D, [1, 2], [1, 2], gallery_cameras=[1, 2]), "query_cameras"),
        (lambda: cmc_curve(D, [1, 2], [1, 2], [1, 2], [1]), "gallery_cameras"),
        (lambda: mean_average_precision(D, [1, 2], [1, 2], ap_mode="11pt"), "ap_mode"),
        (lambda: evaluate_reid(D, [1, 2], D, [1, 2], metric="hamming-ish"), "metric"),
        (lambda: evaluate_reid(D, [1, 2], np.ones((2, 3)), [1, 2]), "gallery_features"),
        (lambda: evaluate_reid(np.zeros((0, 2)), [], D, [1, 2]), "query_features"),
        (lambda: evaluate_reid(D, [1, 2], np.zeros((0, 2)), []), "gallery_features"),
        (lambda: evaluate_reid(D, [1, 2], D, [1, 2], is_similarity=True), "is_similarity"),
        (lambda: evaluate_reid(D, [1, 2], D, metric="precomputed"), "gallery_features"),
        (lambda: cmc_curve(np.ones((2, 3)), [1, 2], None, query_is_gallery=True), "square"),
        (lambda: cmc_curve(np.ones((1, 2)), [7], [1, 2]), "No query has a true match"),
        (lambda: evaluate_reid(np.full((2, 2), 1e20, np.float32), [1, 2]), "overflow"),
        (
            lambda: evaluate_reid(np.full((2, 2), 1e20, np.float32), [1, 1], metric="cosine"),
            "overflow",
        ),
    ],
)
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()
