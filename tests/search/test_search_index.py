"""GalleryIndex: exact search against brute force, faiss recall, add/remove, save/load."""

import pickle
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skreid.metrics.pairwise import BlockedDistances
from skreid.search import GalleryIndex, IncompatibleIndexError, _exact, exact_search
from skreid.utils import UnsafeArchiveError


def brute_force(queries, gallery, k, metric, excluded=None):
    """Sort every row by (distance, position) in float64, one query at a time."""
    q, g = np.asarray(queries, np.float64), np.asarray(gallery, np.float64)
    if metric == "cosine":
        q = q / np.where((n := np.linalg.norm(q, axis=1, keepdims=True)) > 0, n, 1)
        g = g / np.where((n := np.linalg.norm(g, axis=1, keepdims=True)) > 0, n, 1)
    dist, pos = [], []
    for r in range(len(q)):
        d = 1 - g @ q[r] if metric == "cosine" else np.sqrt(((g - q[r]) ** 2).sum(axis=1))
        d = np.where(excluded[r], np.inf, d) if excluded is not None else d
        order = np.lexsort((np.arange(len(g)), d))[:k]
        dist.append(d[order])
        pos.append(np.where(np.isinf(d[order]), -1, order))
    return np.array(dist), np.array(pos)


@st.composite
def problems(draw):
    n_gallery = draw(st.integers(1, 40))
    n_query = draw(st.integers(1, 6))
    dim = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    # small integers: every float32 distance is exact, so ties are real ties and the order
    # must equal the brute force's (distance, position) order exactly
    gallery = rng.integers(-3, 4, (n_gallery, dim))
    queries = rng.integers(-3, 4, (n_query, dim))
    k = draw(st.integers(1, n_gallery))
    cams = rng.integers(0, 3, n_gallery)
    qcams = rng.integers(0, 3, n_query)
    ids = rng.integers(0, 4, n_gallery)
    qids = rng.integers(0, 4, n_query)
    return gallery, queries, k, cams, qcams, ids, qids


@settings(max_examples=80, deadline=None)
@given(problems(), st.sampled_from(["none", "camera", "market"]), st.sampled_from([2, 5, 2**16]))
def test_exact_search_equals_brute_force(problem, rule, columns):
    gallery, queries, k, cams, qcams, ids, qids = problem
    with pytest.MonkeyPatch.context() as mp:
        # few columns per block: the running top-k is merged over column blocks, ties included
        mp.setattr(_exact, "_COLUMNS", columns)
        check_against_brute_force(gallery, queries, k, cams, qcams, ids, qids, rule)


def check_against_brute_force(gallery, queries, k, cams, qcams, ids, qids, rule):
    index = GalleryIndex().add(gallery, ids=ids, cameras=cams, keys=[f"g{i}" for i in
                                                                      range(len(gallery))])
    excluded = None
    kwargs = {}
    if rule != "none":
        excluded = qcams[:, None] == cams[None, :]
        kwargs = {"exclude_same_camera": True, "query_cameras": qcams}
        if rule == "market":
            excluded &= qids[:, None] == ids[None, :]
            kwargs["query_ids"] = qids
    res = index.search(queries, k, **kwargs)
    dist, pos = brute_force(queries, gallery, k, "euclidean", excluded)
    np.testing.assert_array_equal(res.positions, pos)
    np.testing.assert_allclose(res.distances, dist, rtol=1e-6)
    np.testing.assert_array_equal(res.keys, np.where(pos >= 0, np.char.add("g", pos.astype(str)),
                                                     ""))


@settings(max_examples=30, deadline=None)
@given(problems(), st.integers(0, 2**16))
def test_add_remove_then_search_equals_brute_force(problem, seed):
    gallery, queries, _, cams, _, ids, _ = problem
    rng = np.random.default_rng(seed)
    keys = [f"g{i}" for i in range(len(gallery))]
    cut = rng.integers(0, len(gallery) + 1)
    index = GalleryIndex().add(gallery[:cut], ids=ids[:cut], cameras=cams[:cut], keys=keys[:cut])
    index.add(gallery[cut:], ids=ids[cut:], cameras=cams[cut:], keys=keys[cut:])
    gone = rng.random(len(gallery)) < 0.3
    if gone.all():
        gone[0] = False
    assert index.remove(np.array(keys)[gone]) == gone.sum()
    kept = np.flatnonzero(~gone)
    assert len(index) == len(kept) and index.keys.tolist() == [keys[i] for i in kept]
    assert index.cameras.tolist() == cams[kept].tolist()
    k = min(3, len(kept))
    res = index.search(queries, k)
    dist, pos = brute_force(queries, gallery[kept], k, "euclidean")
    np.testing.assert_array_equal(res.positions, pos)
    np.testing.assert_allclose(res.distances, dist, rtol=1e-6)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_blocked_search_with_many_blocks_matches_brute_force(metric, monkeypatch):
    monkeypatch.setattr(_exact, "_COLUMNS", 32)
    rng = np.random.default_rng(0)
    gallery = rng.standard_normal((300, 8)).astype(np.float32)
    queries = rng.standard_normal((37, 8)).astype(np.float32)
    for k in (1, 5, 16, 300):
        # tiny blocks: many row blocks, and a running top-k merged over column blocks
        blocked = GalleryIndex(metric).add(gallery).distances(queries)
        dist, pos = exact_search(blocked, k, max_elements=64)
        ref_d, ref_p = brute_force(queries, gallery, k, metric)
        np.testing.assert_allclose(dist, ref_d, atol=2e-5)
        np.testing.assert_array_equal(pos, ref_p)


def test_column_blocks_and_ties(monkeypatch):

    monkeypatch.setattr(_exact, "_COLUMNS", 16)  # force the column-block merge path
    gallery = np.repeat(np.arange(5.0)[:, None], 6, axis=0)  # every distance tied 6 times
    index = GalleryIndex().add(gallery)
    res = index.search(np.array([[2.0], [0.0]]), 8)
    # ties go to the earlier gallery position, across column blocks too
    np.testing.assert_array_equal(res.positions[0], [12, 13, 14, 15, 16, 17, 6, 7])
    np.testing.assert_array_equal(res.positions[1], [0, 1, 2, 3, 4, 5, 6, 7])


def test_full_matrix_and_topk_agree_to_the_bit():
    rng = np.random.default_rng(1)
    index = GalleryIndex().add(rng.standard_normal((50, 4)))
    q = rng.standard_normal((9, 4))
    full = np.concatenate([d for _, d in index.distance_blocks(q)])
    res = index.search(q, 50)
    np.testing.assert_array_equal(np.take_along_axis(full, res.positions, 1), res.distances)


def test_exclusion_leaves_fewer_than_k():
    index = GalleryIndex().add(np.eye(3), cameras=[1, 1, 2], keys=["a", "b", "c"])
    res = index.search(np.eye(3)[:1], 3, exclude_same_camera=True, query_cameras=[1])
    assert res.keys.tolist() == [["c", "", ""]]
    assert res.positions.tolist() == [[2, -1, -1]] and np.isinf(res.distances[0, 1:]).all()
    # unknown cameras are never excluded
    index.add(np.eye(3)[:1], keys=["d"])
    res = index.search(np.eye(3)[:1], 2, exclude_same_camera=True, query_cameras=[1])
    assert res.keys.tolist() == [["d", "c"]]


def test_unknown_ids_and_cameras():
    index = GalleryIndex().add(np.eye(2), ids=[7, None], keys=["a", "b"])
    index.add(np.eye(2), keys=["c", "d"], cameras=[3, None])
    assert index.ids.tolist() == [7, None, None, None]
    assert index.cameras.tolist() == [-1, -1, 3, -1]


# ------------------------------------------------------------------------------------ faiss
def random_problem(kind, n=10_000, n_queries=200, dim=32, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "isotropic":  # no structure at all: the hardest case for an approximate index
        return rng.standard_normal((n, dim), np.float32), rng.standard_normal((n_queries, dim),
                                                                              np.float32)
    # Gaussian clusters (identities, as in re-ID embeddings); queries are new cluster members
    centres = rng.standard_normal((500, dim), np.float32)
    gallery = centres[rng.integers(0, 500, n)] + 0.4 * rng.standard_normal((n, dim), np.float32)
    queries = centres[rng.integers(0, 500, n_queries)] + 0.4 * rng.standard_normal(
        (n_queries, dim), np.float32)
    return gallery, queries


IVF = {"index_type": "ivf", "nlist": 64, "nprobe": 16}


@pytest.mark.parametrize("metric, kind, params", [
    # 10,000 items: HNSW; structureless data needs a wider search than the default
    ("euclidean", "isotropic", {"efSearch": 256}),
    ("cosine", "clustered", None),
    ("euclidean", "clustered", IVF),
    ("cosine", "clustered", IVF),
])
def test_faiss_recall_at_10(metric, kind, params):
    pytest.importorskip("faiss")
    gallery, queries = random_problem(kind)
    exact = GalleryIndex(metric).add(gallery).search(queries, 10)
    approx = GalleryIndex(metric, backend="faiss", faiss_params=params).add(gallery)
    found = approx.search(queries, 10)
    recall = np.mean([len(np.intersect1d(a, b)) / 10 for a, b in
                      zip(found.positions, exact.positions, strict=True)])
    assert recall >= 0.99, recall
    assert approx._faiss_info["index_type"] == (params or {}).get("index_type", "hnsw")
    if params:
        assert {k: approx._faiss_info[k] for k in params if k != "index_type"} == {
            k: v for k, v in params.items() if k != "index_type"}
    # faiss returns true distances of the items it found (flat storage)
    hit = found.positions == exact.positions
    np.testing.assert_allclose(found.distances[hit], exact.distances[hit], rtol=1e-4, atol=1e-4)


def test_faiss_same_camera_rule_add_remove_and_save(tmp_path):
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    gallery = rng.standard_normal((500, 8)).astype(np.float32)
    cams = rng.integers(0, 3, 500)
    keys = [f"k{i}" for i in range(500)]
    exact = GalleryIndex().add(gallery[:400], cameras=cams[:400], keys=keys[:400])
    approx = GalleryIndex(backend="faiss", faiss_params={"efSearch": 500})
    approx.add(gallery[:400], cameras=cams[:400], keys=keys[:400])
    approx.search(gallery[:1], 1)  # built now: the next add appends to the faiss index
    for idx in (exact, approx):
        idx.add(gallery[400:], cameras=cams[400:], keys=keys[400:])
        idx.remove(keys[:50])
    q, qc = gallery[:20], cams[:20]
    a = approx.search(q, 10, exclude_same_camera=True, query_cameras=qc)
    e = exact.search(q, 10, exclude_same_camera=True, query_cameras=qc)
    np.testing.assert_array_equal(a.keys, e.keys)
    assert (approx.cameras[a.positions] != qc[:, None]).all()
    approx.save(tmp_path / "g.idx")
    loaded = GalleryIndex.load(tmp_path / "g.idx")
    assert loaded._faiss is not None and loaded._faiss.ntotal == 450
    np.testing.assert_array_equal(loaded.search(q, 10).keys, approx.search(q, 10).keys)
    with zipfile.ZipFile(tmp_path / "g.idx") as zf:
        assert "files/faiss.index" in zf.namelist()
    restored = pickle.loads(pickle.dumps(approx))
    np.testing.assert_array_equal(restored.search(q, 5).keys, approx.search(q, 5).keys)


# ------------------------------------------------------------------------- save and load
def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    index = GalleryIndex("cosine", model_fingerprint="abc123").add(
        rng.standard_normal((20, 5)), ids=[str(i % 4) if i % 5 else None for i in range(20)],
        cameras=np.arange(20) % 3, keys=[f"img/{i}.jpg" for i in range(20)])
    index.meta = {"model_path": "/m.skreid"}
    index.save(tmp_path / "g.idx")
    loaded = GalleryIndex.load(tmp_path / "g.idx", n_features=5, model_fingerprint="abc123")
    assert (loaded.metric, loaded.model_fingerprint, loaded.meta) == ("cosine", "abc123",
                                                                      index.meta)
    np.testing.assert_array_equal(loaded.embeddings, index.embeddings)
    assert loaded.ids.tolist() == index.ids.tolist()
    assert loaded.keys.tolist() == index.keys.tolist()
    q = rng.standard_normal((3, 5))
    np.testing.assert_array_equal(loaded.search(q, 4).positions, index.search(q, 4).positions)
    GalleryIndex().save(tmp_path / "empty.idx")
    assert len(GalleryIndex.load(tmp_path / "empty.idx")) == 0


def test_load_refuses_another_model_and_bad_files(tmp_path):
    GalleryIndex(model_fingerprint="aaaa").add(np.eye(4)).save(tmp_path / "g.idx")
    with pytest.raises(IncompatibleIndexError, match="4-d embeddings but the model makes 8-d"):
        GalleryIndex.load(tmp_path / "g.idx", n_features=8)
    with pytest.raises(IncompatibleIndexError, match="another model|with this model"):
        GalleryIndex.load(tmp_path / "g.idx", model_fingerprint="bbbb")
    (tmp_path / "p.idx").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(UnsafeArchiveError, match="pickle"):
        GalleryIndex.load(tmp_path / "p.idx")


def test_failed_save_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "g.idx"
    GalleryIndex().add(np.eye(3), keys=list("abc")).save(path)
    before = path.read_bytes()
    bad = GalleryIndex().add(np.eye(3))
    bad.meta = {"not json": object()}
    with pytest.raises(TypeError):
        bad.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.idx"]


# ------------------------------------------------------------------------------ bad input
def test_bad_input():
    index = GalleryIndex().add(np.eye(3), keys=["a", "b", "c"])
    with pytest.raises(ValueError, match=r"duplicate key\(s\) \['b'\]"):
        index.add(np.eye(3)[:2], keys=["d", "b"])
    with pytest.raises(ValueError, match=r"duplicate key\(s\) \['e'\]"):
        index.add(np.eye(3)[:2], keys=["e", "e"])
    assert len(index) == 3  # nothing added
    with pytest.raises(IncompatibleIndexError, match="4 features but the index holds 3-d"):
        index.add(np.eye(4), keys=list("wxyz"))
    with pytest.raises(ValueError, match="k=4 is larger than the gallery"):
        index.search(np.eye(3), 4)
    with pytest.raises(ValueError, match="the gallery is empty"):
        GalleryIndex().search(np.eye(3), 1)
    with pytest.raises(ValueError, match="NaN"):
        index.search(np.full((1, 3), np.nan), 1)
    with pytest.raises(ValueError, match="needs query_cameras"):
        index.search(np.eye(3), 1, exclude_same_camera=True)
    with pytest.raises(KeyError, match="not in the index"):
        index.remove(["zz"])
    with pytest.raises(ValueError, match="needs one per embedding"):
        index.add(np.eye(3))
    with pytest.raises(ValueError, match="metric must be one of"):
        GalleryIndex("manhattan")
    with pytest.raises(ValueError, match="unknown parameter"):
        GalleryIndex(faiss_params={"efsearch": 3})


def test_blocked_distances_is_the_evaluate_path():
    # evaluate_reid ranks with the same BlockedDistances (squared euclidean ranking values)
    from skreid.metrics import _evaluate

    rng = np.random.default_rng(4)
    q, g = rng.standard_normal((5, 3)).astype(np.float32), rng.standard_normal((7, 3)).astype(
        np.float32)
    blocks = _evaluate._distance_blocks(q, g, "euclidean")
    ref = BlockedDistances(q, g, "euclidean").ranking(slice(0, 5))
    np.testing.assert_array_equal(blocks(0, 5), ref)
    np.testing.assert_allclose(np.sqrt(np.maximum(ref, 0)),
                               np.linalg.norm(q[:, None] - g[None], axis=2), atol=1e-5)
