"""The re-ID estimators' query methods with cameras, tracklets and camera normalisation
(ReIDMixin), on PCAReID: every estimator shares this code path."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose

import skreid
from skreid.datasets import make_people
from skreid.metrics import evaluate_reid
from skreid.metrics.pairwise import CameraStatistics, UnseenCameraWarning, pool_tracklets
from skreid.reid import PCAReID


@pytest.fixture(scope="module")
def people():
    """12 identities x 6 images over 3 cameras, each camera tinted differently."""
    p = make_people(n_identities=12, n_images_per_identity=6, image_shape=(16, 8, 3),
                    random_state=0)
    cams = np.tile([1, 2, 3], 24)
    tint = np.array([[0, 0, 0], [60, 0, 0], [0, 0, 60]])
    images = np.clip(p.images.astype(int) + tint[cams - 1][:, None, None, :], 0, 255)
    return images.astype(np.uint8), p.person_ids, cams


def _pca(**params):
    return PCAReID(n_components=10, random_state=0, **params)


def _fitted(people, **params):
    images, ids, cams = people
    return _pca(**params).fit(images, ids).set_gallery(images, ids, cameras=cams)


def test_score_with_cameras_is_the_market_rank1(people):
    images, ids, cams = people
    est = _fitted(people)
    want = evaluate_reid(est.transform(images), ids, query_cameras=cams)
    assert est.score(images, ids, cameras=cams) == pytest.approx(want["rank1"])
    # without cameras every query finds itself (the same image is in the gallery)
    assert est.score(images, ids) == 1.0


def test_kneighbors_searches_other_cameras_only(people):
    images, ids, cams = people
    est = _fitted(people)
    dist, idx = est.kneighbors(images[:10], 8, cameras=cams[:10], exclude_same_camera=True)
    assert (cams[idx] != cams[:10, None]).all()
    full_d, full_i = est.kneighbors(images[:10], cameras=cams[:10])
    for row in range(10):  # the same order as the full ranking without the query's camera
        keep = cams[full_i[row]] != cams[row]
        assert np.array_equal(full_i[row][keep][:8], idx[row])
        assert_allclose(full_d[row][keep][:8], dist[row])


def test_predict_and_decision_function_with_exclusion(people):
    images, ids, cams = people
    est = _fitted(people)
    dist = est.gallery_distances(images, cameras=cams, exclude_same_camera=True)
    assert np.isinf(dist[cams[:, None] == cams[None, :]]).all()
    assert np.isfinite(dist[cams[:, None] != cams[None, :]]).all()
    nearest = np.argmin(dist, axis=1)
    assert np.array_equal(est.predict(images, cameras=cams, exclude_same_camera=True),
                          ids[nearest])
    scores = est.decision_function(images, cameras=cams, exclude_same_camera=True)
    assert np.array_equal(est.classes_[np.argmax(scores, axis=1)], ids[nearest])


def test_exclusion_leaving_nothing_is_an_error(people):
    images, ids, cams = people
    est = _pca().fit(images, ids).set_gallery(images[cams == 1], ids[cams == 1],
                                              cameras=cams[cams == 1])
    with pytest.raises(ValueError, match=r"left query 0 \(camera 1\) without any gallery"):
        est.predict(images[:3], cameras=cams[:3], exclude_same_camera=True)
    d, i = est.kneighbors(images[:1], 2, cameras=[1], exclude_same_camera=True)
    assert np.isinf(d).all() and (i == -1).all()


def test_string_cameras(people):
    images, ids, cams = people
    names = np.array(["lobby", "door", "street"])[cams - 1]
    est = _pca().fit(images, ids).set_gallery(images, ids, cameras=names)
    assert est.score(images, ids, cameras=names) == _fitted(people).score(images, ids,
                                                                          cameras=cams)
    with pytest.raises(ValueError, match=r"cannot be compared with the gallery's cameras"):
        est.score(images, ids, cameras=cams)


@pytest.mark.parametrize("mode", ["center", "whiten"])
def test_camera_normalization_parameter(people, mode):
    images, ids, cams = people
    est = _fitted(people, camera_normalization=mode)
    stats = CameraStatistics.from_dict(est.camera_statistics_)
    assert stats.mode == mode and stats.cameras_.tolist() == [1, 2, 3]
    raw = _pca().fit(images, ids).transform(images)
    assert_allclose(est.gallery_embeddings_, stats.transform(raw, cams), atol=1e-4)
    want = evaluate_reid(stats.transform(raw, cams), ids, query_cameras=cams)
    assert est.score(images, ids, cameras=cams) == pytest.approx(want["rank1"])
    for c in (1, 2, 3):  # the gallery is centred per camera
        assert_allclose(est.gallery_embeddings_[cams == c].mean(0), 0, atol=1e-3)


def test_camera_normalization_lifts_the_tinted_cameras(people):
    images, ids, cams = people
    plain = _fitted(people).score(images, ids, cameras=cams)
    normed = _fitted(people, camera_normalization="center").score(images, ids, cameras=cams)
    assert normed > plain


def test_unseen_query_cameras_warn_and_use_the_global_statistics(people):
    images, ids, cams = people
    est = _fitted(people, camera_normalization="center")
    stats = CameraStatistics.from_dict(est.camera_statistics_)
    with pytest.warns(UnseenCameraWarning, match=r"cameras holds camera\(s\) \[7\]"):
        d = est.gallery_distances(images[:2], cameras=[7, 7])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d_none = est.gallery_distances(images[:2])  # no cameras: global, silently
    assert_allclose(d, d_none)
    q = stats.transform(_pca().fit(images, ids).transform(images[:2]))
    assert_allclose(d_none[0], np.linalg.norm(est.gallery_embeddings_ - q[0], axis=1),
                    rtol=1e-4, atol=1e-3)


def test_changing_camera_normalization_after_the_gallery_is_an_error(people):
    images, ids, cams = people
    est = _fitted(people, camera_normalization="center").set_params(camera_normalization=None)
    with pytest.raises(ValueError, match=r"camera_normalization was changed to None"):
        est.predict(images[:2])


def test_gallery_tracklets(people):
    images, ids, cams = people
    tracklets = ids * 10 + cams
    est = _pca().fit(images, ids).set_gallery(images, ids, cameras=cams, tracklets=tracklets)
    assert est.gallery_tracklets_.tolist() == sorted(set(tracklets.tolist()))
    pooled, _, inverse = pool_tracklets(est.transform(images), tracklets)
    assert_allclose(est.gallery_embeddings_, pooled, atol=1e-6)
    first = np.unique(inverse, return_index=True)[1]
    assert np.array_equal(est.gallery_ids_, ids[first])
    assert np.array_equal(est.gallery_cameras_, cams[first])


def test_query_tracklets_are_one_row_each(people):
    images, ids, cams = people
    tracklets = ids * 10 + cams
    est = _pca().fit(images, ids).set_gallery(images, ids, cameras=cams, tracklets=tracklets)
    n = len(np.unique(tracklets))
    assert est.kneighbors(images, 3, tracklets=tracklets)[1].shape == (n, 3)
    assert est.gallery_distances(images, tracklets=tracklets).shape == (n, n)
    assert est.decision_function(images, tracklets=tracklets).shape == (n, 12)
    assert est.predict(images, tracklets=tracklets).shape == (n,)
    emb = est.transform(images)
    want = evaluate_reid(emb, ids, query_cameras=cams, query_tracklets=tracklets)
    assert est.score(images, ids, cameras=cams, tracklets=tracklets) == pytest.approx(
        want["rank1"])
    # sample weights add up per tracklet
    weights = np.where(cams == 1, 1.0, 0.0)
    assert est.score(images, ids, weights, tracklets=tracklets) == 1.0


def test_tracklets_mixing_cameras_or_identities_are_refused(people):
    images, ids, cams = people
    est = _pca().fit(images, ids)
    with pytest.raises(ValueError, match=r"tracklets: tracklet 1 mixes camera values \[1, 2, 3\]"):
        est.set_gallery(images, ids, cameras=cams, tracklets=ids)
    with pytest.raises(ValueError, match=r"tracklet 0 mixes identity values"):
        est.predict(images, tracklets=np.zeros(len(ids), int))  # no ids: fine
        est.score(images, ids, tracklets=np.zeros(len(ids), int))
    with pytest.raises(ValueError, match=r"tracklets has 3 entries but X has 72"):
        est.kneighbors(images, 2, tracklets=[1, 2, 3])


def test_query_cameras_of_the_wrong_length_are_named(people):
    images, ids, cams = people
    est = _fitted(people)
    for call in (lambda: est.kneighbors(images, 2, cameras=cams[:5]),
                 lambda: est.predict(images, cameras=cams[:5]),
                 lambda: est.score(images, ids, cameras=cams[:5]),
                 lambda: est.gallery_distances(images, cameras=cams[:5]),
                 lambda: est.decision_function(images, cameras=cams[:5])):
        with pytest.raises(ValueError, match=r"cameras has 5 entries but X has 72"):
            call()
    with pytest.raises(ValueError, match=r"exclude_same_camera=True needs the queries' "
                                         r"cameras="):
        est.kneighbors(images, 2, exclude_same_camera=True)
    no_cams = _pca().fit(images, ids)
    with pytest.raises(ValueError, match=r"the gallery has none"):
        no_cams.score(images, ids, cameras=cams)


def test_save_and_load_keep_the_camera_statistics_and_tracklets(people, tmp_path):
    images, ids, cams = people
    est = _pca(camera_normalization="whiten").fit(images, ids)
    est.set_gallery(images, ids, cameras=cams, tracklets=ids * 10 + cams)
    skreid.save(est, tmp_path / "model.skreid")
    loaded = skreid.load(tmp_path / "model.skreid")
    assert_allclose(loaded.gallery_distances(images, cameras=cams),
                    est.gallery_distances(images, cameras=cams))
    assert np.array_equal(loaded.gallery_tracklets_, est.gallery_tracklets_)


def test_evaluate_transformer_uses_the_estimators_camera_normalization(people):
    from skreid.reid import evaluate_transformer

    images, ids, cams = people
    est = _pca(camera_normalization="center").fit(images, ids)
    emb = est.transform(images)
    got = evaluate_transformer(est, images, ids, images, ids, cams, cams)
    want = evaluate_reid(emb, ids, emb.copy(), ids, cams, cams, camera_normalization="center")
    assert got["mAP"] == pytest.approx(want["mAP"])
    off = evaluate_transformer(est, images, ids, images, ids, cams, cams,
                               camera_normalization=None)
    assert off["mAP"] == pytest.approx(evaluate_reid(emb, ids, emb.copy(), ids, cams,
                                                     cams)["mAP"])
