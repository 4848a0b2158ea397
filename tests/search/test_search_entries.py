"""GalleryIndex beyond single crops: tracklet entries updated as crops arrive, and per-camera
normalisation saved with the index."""

import json
import warnings
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose

from skreid.metrics.pairwise import (
    CameraStatistics,
    UnseenCameraWarning,
    l2_normalize,
    pairwise_distances,
    pool_tracklets,
)
from skreid.search import GalleryIndex


def _crops(n=60, d=8, n_tracklets=10, seed=0):
    rng = np.random.default_rng(seed)
    tracklets = np.repeat(np.arange(n_tracklets), n // n_tracklets)
    cams = tracklets % 3
    ids = tracklets // 2
    X = rng.normal(size=(n, d)) + 4 * rng.normal(size=(3, d))[cams]
    return X.astype(np.float32), tracklets, cams, ids


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 6), st.sampled_from(["mean", "max"]),
       st.sampled_from(["euclidean", "cosine"]))
def test_crops_arriving_in_batches_give_the_pooled_entries(seed, n_batches, pooling, metric):
    X, tracklets, cams, ids = _crops(seed=seed)
    rng = np.random.default_rng(seed)
    index = GalleryIndex(metric, tracklet_pooling=pooling)
    for part in np.array_split(rng.permutation(len(X)), n_batches):
        if len(part):
            index.add(X[part], ids=ids[part], cameras=cams[part], tracklets=tracklets[part])
    pooled, unique, inverse = pool_tracklets(X, tracklets, pooling=pooling)
    if metric == "cosine":
        pooled = l2_normalize(pooled)
    order = np.argsort(index.keys.astype(int))
    assert index.keys[order].tolist() == [str(t) for t in unique]
    assert_allclose(index.embeddings[order], pooled, atol=1e-6)
    assert index.tracklet_counts[order].tolist() == np.bincount(inverse).tolist()
    first = np.unique(inverse, return_index=True)[1]
    assert index.cameras[order].tolist() == cams[first].tolist()
    assert index.ids[order].tolist() == ids[first].tolist()


def test_search_by_tracklet_equals_brute_force():
    X, tracklets, cams, ids = _crops()
    index = GalleryIndex().add(X, ids=ids, cameras=cams, tracklets=tracklets)
    pooled, _, _ = pool_tracklets(X, tracklets)
    result = index.search(pooled[:3], k=4)
    want = np.argsort(pairwise_distances(pooled[:3], pooled), axis=1, kind="stable")[:, :4]
    assert np.array_equal(result.positions, want)
    assert result.keys[:, 0].tolist() == ["0", "1", "2"]


def test_tracklet_index_rules():
    X, tracklets, cams, ids = _crops()
    index = GalleryIndex().add(X[:12], cameras=cams[:12], tracklets=tracklets[:12])
    with pytest.raises(ValueError, match=r"tracklet '0' is in the index with camera 0, and "
                                         r"these crops have camera 1"):
        index.add(X[:2], cameras=[1, 1], tracklets=[0, 0])
    with pytest.raises(ValueError, match=r"tracklet 5 mixes camera values \[1, 2\]"):
        index.add(X[:2], cameras=[1, 2], tracklets=[5, 5])
    with pytest.raises(ValueError, match=r"this index pools tracklets"):
        index.add(X[:2], cameras=[1, 2])
    with pytest.raises(ValueError, match=r"keys= and tracklets= cannot be combined"):
        index.add(X[:2], keys=["a", "b"], tracklets=[7, 7])
    with pytest.raises(ValueError, match=r"tracklets has 1 entries but embeddings has 2"):
        index.add(X[:2], tracklets=[7])
    assert len(index) == 2 and index.tracklet_counts.tolist() == [6, 6]  # nothing changed
    images = GalleryIndex().add(X[:2], keys=["a", "b"])
    with pytest.raises(ValueError, match=r"this index holds single images"):
        images.add(X[:2], tracklets=[1, 1])
    ids_index = GalleryIndex().add(X[:6], ids=ids[:6], tracklets=tracklets[:6])
    with pytest.raises(ValueError, match=r"tracklet '0' is in the index with identity 0"):
        ids_index.add(X[:1], ids=[3], tracklets=[0])
    with pytest.raises(ValueError, match=r"tracklet_pooling must be one of \['mean', 'max'\]"):
        GalleryIndex(tracklet_pooling="median")


def test_removing_a_tracklet_drops_its_entry_and_sums():
    X, tracklets, cams, ids = _crops()
    index = GalleryIndex().add(X, cameras=cams, tracklets=tracklets)
    assert index.remove(["3", "7"]) == 2
    assert index.keys.tolist() == ["0", "1", "2", "4", "5", "6", "8", "9"]
    index.add(X[tracklets == 4][:1], cameras=cams[tracklets == 4][:1], tracklets=[4])
    keep = (tracklets != 3) & (tracklets != 7)
    extra = np.concatenate([X[keep], X[tracklets == 4][:1]])
    pooled, _, _ = pool_tracklets(extra, np.concatenate([tracklets[keep], [4]]))
    assert_allclose(index.embeddings, pooled, atol=1e-6)
    assert index.tracklet_counts.tolist() == [6, 6, 6, 7, 6, 6, 6, 6]


@pytest.mark.parametrize("mode", ["center", "whiten"])
def test_camera_normalised_search_equals_normalising_by_hand(mode):
    X, _, cams, _ = _crops(n=90, seed=1)
    index = GalleryIndex(camera_normalization=mode).add(X, cameras=cams)
    stats = CameraStatistics(mode).fit(X, cams)
    queries, qcams = X[:5] + 0.1, cams[:5]
    got = index.search(queries, k=10, query_cameras=qcams)
    G, Q = stats.transform(X, cams), stats.transform(queries, qcams)
    want = np.argsort(pairwise_distances(Q, G), axis=1, kind="stable")[:, :10]
    assert np.array_equal(got.positions, want)
    assert_allclose(index.camera_statistics.means_, stats.means_, atol=1e-5)
    # the stored embeddings stay as added
    assert_allclose(index.embeddings, X)


def test_camera_statistics_follow_every_change_and_fall_back_for_unseen_cameras():
    X, _, cams, _ = _crops(n=90, seed=2)
    keys = [f"k{i}" for i in range(90)]
    index = GalleryIndex(camera_normalization="center").add(X[:60], cameras=cams[:60],
                                                            keys=keys[:60])
    before = index.camera_statistics.means_.copy()
    index.add(X[60:], cameras=cams[60:], keys=keys[60:])
    assert_allclose(index.camera_statistics.means_,
                    CameraStatistics().fit(X, cams).means_, atol=1e-5)
    assert not np.allclose(before, index.camera_statistics.means_)
    index.remove(keys[:30])
    assert_allclose(index.camera_statistics.means_,
                    CameraStatistics().fit(X[30:], cams[30:]).means_, atol=1e-5)
    with pytest.warns(UnseenCameraWarning, match=r"query_cameras holds camera\(s\) \[8\]"):
        unseen = index.search(X[:2], k=3, query_cameras=[8, 8])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unknown = index.search(X[:2], k=3, query_cameras=[-1, None])
        no_cameras = index.search(X[:2], k=3)
    assert np.array_equal(unseen.positions, unknown.positions)
    assert np.array_equal(unseen.positions, no_cameras.positions)


@pytest.mark.parametrize("mode", ["center", "whiten"])
def test_statistics_and_tracklets_are_saved_with_the_index(tmp_path, mode):
    X, tracklets, cams, ids = _crops(n=90, n_tracklets=15, seed=3)
    index = GalleryIndex("cosine", camera_normalization=mode, tracklet_pooling="max")
    index.add(X[:50], ids=ids[:50], cameras=cams[:50], tracklets=tracklets[:50])
    index.save(tmp_path / "gallery.idx")
    with zipfile.ZipFile(tmp_path / "gallery.idx") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format_version"] == 2
    assert manifest["meta"]["matching"]["camera_normalization"] == mode
    assert "camera_means" in manifest["arrays"] and "tracklet_sum" in manifest["arrays"]
    loaded = GalleryIndex.load(tmp_path / "gallery.idx")
    assert loaded.camera_normalization == mode and loaded.tracklet_pooling == "max"
    assert_allclose(loaded.camera_statistics.means_, index.camera_statistics.means_)
    q = X[:4]
    assert np.array_equal(loaded.search(q, k=5, query_cameras=cams[:4]).keys,
                          index.search(q, k=5, query_cameras=cams[:4]).keys)
    # crops arriving after the load update the saved tracklets exactly
    for target in (index, loaded):
        target.add(X[50:], ids=ids[50:], cameras=cams[50:], tracklets=tracklets[50:])
    assert_allclose(loaded.embeddings, index.embeddings)
    assert np.array_equal(loaded.tracklet_counts, index.tracklet_counts)


def test_an_index_without_the_new_features_is_still_format_1(tmp_path):
    X, _, cams, _ = _crops()
    GalleryIndex().add(X, cameras=cams).save(tmp_path / "plain.idx")
    with zipfile.ZipFile(tmp_path / "plain.idx") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert manifest["format_version"] == 1 and "matching" not in manifest["meta"]
    assert GalleryIndex.load(tmp_path / "plain.idx").camera_normalization is None


def test_damaged_saved_statistics_are_refused(tmp_path):
    X, tracklets, cams, _ = _crops()
    GalleryIndex(camera_normalization="center").add(X, cameras=cams, tracklets=tracklets).save(
        tmp_path / "g.idx")
    with zipfile.ZipFile(tmp_path / "g.idx") as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    manifest = json.loads(members["manifest.json"])
    manifest["meta"]["matching"]["tracklet_pooling"] = "median"
    members["manifest.json"] = json.dumps(manifest).encode()
    with zipfile.ZipFile(tmp_path / "bad.idx", "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"bad\.idx: not a valid gallery index.*"
                                         r"tracklet_pooling"):
        GalleryIndex.load(tmp_path / "bad.idx")


def test_faiss_searches_the_normalised_gallery():
    pytest.importorskip("faiss")
    X, _, cams, _ = _crops(n=90, seed=4)
    exact = GalleryIndex(camera_normalization="center").add(X, cameras=cams)
    approx = GalleryIndex(camera_normalization="center", backend="faiss").add(X, cameras=cams)
    got = approx.search(X[:5], k=3, query_cameras=cams[:5]).positions
    assert np.array_equal(got, exact.search(X[:5], k=3, query_cameras=cams[:5]).positions)
