"""PCAReID and the shared re-ID mixin: sklearn checks, behaviour on synthetic people, errors."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError
from sklearn.metrics import top_k_accuracy_score
from sklearn.model_selection import GridSearchCV, GroupKFold

from skreid.datasets import make_people
from skreid.metrics import evaluate_reid, make_top_n_scorer
from skreid.reid import PCAReID, evaluate_transformer, make_classical_reid

SHAPE = (32, 16, 3)


@pytest.fixture(scope="module")
def people():
    """Training identities and a disjoint set of test identities (open-set split)."""
    train = make_people(n_identities=40, n_images_per_identity=6, image_shape=SHAPE, random_state=0)
    test = make_people(n_identities=30, n_images_per_identity=4, image_shape=SHAPE, random_state=1)
    query = np.arange(len(test.images)) % 4 == 0
    return train, test, query


def _open_set_rank1(model, test, query):
    res = evaluate_transformer(
        model,
        test.images[query],
        test.person_ids[query],
        test.images[~query],
        test.person_ids[~query],
        test.camera_ids[query],
        test.camera_ids[~query],
        metric=model[-1].metric if hasattr(model, "steps") else model.metric,
    )
    return res["rank1"]


# sklearn's common checks: tests/test_common.py


# ------------------------------------------------------------------------------ behaviour
def test_beats_chance_on_unseen_identities(people):
    train, test, query = people
    model = PCAReID(n_components=0.95).fit(train.images, train.person_ids)
    chance = 1 / len(np.unique(test.person_ids))
    assert _open_set_rank1(model, test, query) > 5 * chance


def test_xqda_and_classical_pipeline_beat_plain_pca(people):
    train, test, query = people
    plain = _open_set_rank1(PCAReID(0.95).fit(train.images, train.person_ids), test, query)
    xqda = _open_set_rank1(
        PCAReID(0.9, projection="xqda").fit(train.images, train.person_ids), test, query
    )
    lomo = make_classical_reid(50, cell_size=4, n_scales=2).fit(train.images, train.person_ids)
    assert xqda > plain + 0.2
    assert _open_set_rank1(lomo, test, query) > plain


@pytest.mark.parametrize("projection", ["lda", "kissme"])
def test_supervised_projections_help(people, projection):
    train, test, query = people
    plain = _open_set_rank1(PCAReID(0.9).fit(train.images, train.person_ids), test, query)
    model = PCAReID(0.9, projection=projection).fit(train.images, train.person_ids)
    assert _open_set_rank1(model, test, query) > plain


def test_grid_search_with_identity_folds_and_top_n_scorer(people):
    train, _, _ = people
    X = train.images[:, ::2, ::2]  # 16x8: keeps the 3 x 4 fits fast
    search = GridSearchCV(
        PCAReID(grayscale=True),
        {"n_components": [2, 0.9], "whiten": [False, True]},
        scoring=make_top_n_scorer(1),
        cv=GroupKFold(n_splits=3),
    )
    search.fit(X, train.person_ids, groups=train.person_ids)
    assert search.best_params_["n_components"] in (2, 0.9)
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    # 2 components cannot separate 40 people as well as 90 % of the variance
    res = search.cv_results_
    scores = {
        (p["n_components"], p["whiten"]): s
        for p, s in zip(res["params"], res["mean_test_score"], strict=True)
    }
    assert scores[(0.9, False)] > scores[(2, False)]


@pytest.mark.parametrize("projection", [None, "xqda"])
def test_pickle_round_trip_gives_identical_embeddings(people, projection):
    train, test, _ = people
    model = PCAReID(0.9, projection=projection, random_state=0).fit(train.images, train.person_ids)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(model.transform(test.images), clone.transform(test.images))
    np.testing.assert_array_equal(model.predict(test.images), clone.predict(test.images))


def test_decision_function_top_k_equals_cmc(people):
    # single-shot gallery (one image per identity, as in the CAB420 and VIPeR protocols):
    # ranking identities by decision_function is ranking gallery images
    train, test, query = people
    gallery = np.arange(len(test.images)) % 4 == 1
    model = PCAReID(0.9).fit(train.images, train.person_ids)
    model.set_gallery(test.images[gallery], test.person_ids[gallery])
    assert set(model.classes_) == set(test.person_ids)
    scores = model.decision_function(test.images[query])
    assert scores.shape == (query.sum(), len(model.classes_))
    res = evaluate_reid(
        model.transform(test.images[query]),
        test.person_ids[query],
        model.transform(test.images[gallery]),
        test.person_ids[gallery],
        max_rank=10,
    )
    for n in (1, 3, 5, 10):
        top_k = top_k_accuracy_score(test.person_ids[query], scores, k=n, labels=model.classes_)
        assert top_k == pytest.approx(res["cmc"][n - 1])
    assert model.score(test.images[query], test.person_ids[query]) == pytest.approx(res["rank1"])
    # multi-shot gallery: rank-1 still agrees (higher ranks count identities, not images)
    model.set_gallery(test.images[~query], test.person_ids[~query])
    res = evaluate_reid(
        model.transform(test.images[query]),
        test.person_ids[query],
        model.transform(test.images[~query]),
        test.person_ids[~query],
    )
    top_1 = top_k_accuracy_score(
        test.person_ids[query],
        model.decision_function(test.images[query]),
        k=1,
        labels=model.classes_,
    )
    assert top_1 == pytest.approx(res["rank1"])


def test_kneighbors_best_first_and_predict(people):
    train, test, query = people
    model = PCAReID(0.9, metric="cosine").fit(train.images, train.person_ids)
    model.set_gallery(test.images[~query], test.person_ids[~query], test.camera_ids[~query])
    dist, idx = model.kneighbors(test.images[query], n_neighbors=5)
    assert dist.shape == idx.shape == (query.sum(), 5)
    assert np.all(np.diff(dist, axis=1) >= 0)
    full = model.gallery_distances(test.images[query])
    np.testing.assert_allclose(np.take_along_axis(full, idx, 1), dist, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(test.images[query]), model.gallery_ids_[idx[:, 0]])
    assert model.kneighbors(test.images[query], return_distance=False).shape[1] == (~query).sum()


def test_closed_set_default_gallery_is_training_set(people):
    train, _, _ = people
    model = PCAReID(0.9).fit(train.images, train.person_ids)
    np.testing.assert_array_equal(model.gallery_ids_, train.person_ids)
    assert model.score(train.images, train.person_ids) == 1.0  # each image finds itself


def test_one_image_per_identity_gallery_does_not_warn(people, recwarn):
    _, test, query = people
    first = np.unique(test.person_ids, return_index=True)[1]
    model = PCAReID(5).fit(test.images, test.person_ids)
    model.set_gallery(test.images[first], test.person_ids[first])
    model.predict(test.images)
    assert not [w for w in recwarn if "unique classes" in str(w.message)]


def test_inputs_flat_gray_and_inverse_transform(people):
    train, _, _ = people
    flat = train.images.reshape(len(train.images), -1)
    a = PCAReID(10, image_shape=SHAPE, random_state=0).fit(flat, train.person_ids)
    b = PCAReID(10, random_state=0).fit(train.images, train.person_ids)
    np.testing.assert_allclose(a.transform(flat), b.transform(train.images), rtol=1e-4, atol=1e-3)
    gray = PCAReID(1.0, grayscale=True, image_size=(16, 8)).fit(train.images, train.person_ids)
    rec = gray.inverse_transform(gray.transform(train.images[:3]))
    assert rec.shape == (3, 16, 8, 1) and gray.working_shape_ == (16, 8, 1)
    small = gray.inverse_transform(np.zeros((1, gray.n_components_)))
    np.testing.assert_allclose(small[0, ..., 0], gray.pca_.mean_.reshape(16, 8), atol=1e-4)
    assert gray.explained_variance_ratio_.sum() == pytest.approx(1.0, abs=1e-4)
    frac = PCAReID(0.9).fit(train.images, train.person_ids)
    assert frac.explained_variance_ratio_.sum() >= 0.9


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 0}, "n_components"),
        ({"n_components": 1.5}, r"n_components.*\(0(\.0)?, 1(\.0)?\]"),
        ({"n_components": 10_000}, "n_components=10000 is larger than possible"),
        ({"n_components": "all"}, "n_components"),
        ({"metric": "manhattan"}, r"'metric' parameter of PCAReID must be a str among "
                                  r"\{.*'cosine'.*\}\. Got 'manhattan'"),
        ({"projection": "pls"}, r"'projection' parameter of PCAReID must be a str among "
                                r"\{.*'xqda'.*\} or None\. Got 'pls'"),
        ({"image_shape": (16, 16, 3)}, r"image_shape=\(16, 16, 3\)"),
        ({"image_size": 0}, "image_size"),
    ],
)
def test_bad_parameters(people, params, match):
    train, _, _ = people
    with pytest.raises(ValueError, match=match):
        PCAReID(**params).fit(train.images, train.person_ids)


def test_bad_data(people):
    train, _, _ = people
    X = train.images.astype(np.float32)
    X[3, 2, 1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PCAReID(2).fit(X, train.person_ids)
    with pytest.raises(ValueError, match="1 class"):
        PCAReID(2).fit(train.images, np.ones(len(train.images)))
    with pytest.raises(ValueError, match="image_size and grayscale need images"):
        PCAReID(2, grayscale=True).fit(train.images.reshape(len(X), -1), train.person_ids)
    model = PCAReID(2).fit(train.images, train.person_ids)
    with pytest.raises(ValueError, match="shape"):
        model.transform(train.images[:, :16])
    with pytest.raises(ValueError, match="n_neighbors"):
        model.kneighbors(train.images[:2], n_neighbors=0)
    with pytest.raises(ValueError, match="projection=None"):
        PCAReID(2, projection="lda").fit(train.images, train.person_ids).inverse_transform(
            np.zeros((1, 2))
        )


def test_set_gallery_before_fit():
    with pytest.raises(NotFittedError, match="call fit"):
        PCAReID().set_gallery(np.zeros((2, 8, 4, 3)), [1, 2])


def test_import_does_not_load_keras():
    code = (
        "import sys; from skreid.reid import PCAReID, make_classical_reid; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_evaluate_transformer_on_pipeline_and_errors(people):
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline

    from skreid.preprocessing import FlattenImages

    train, test, query = people
    pipe = make_pipeline(FlattenImages(), PCA(10, random_state=0)).fit(train.images)
    res = evaluate_transformer(
        pipe,
        test.images[query],
        test.person_ids[query],
        test.images[~query],
        test.person_ids[~query],
    )
    assert res["n_queries"] == query.sum() and 0 < res["rank1"] <= 1
    with pytest.raises(ValueError, match="query_cameras and gallery_cameras"):
        evaluate_transformer(
            pipe,
            test.images,
            test.person_ids,
            test.images,
            test.person_ids,
            query_cameras=test.camera_ids,
        )
    with pytest.raises(ValueError, match="transform"):
        evaluate_transformer(object(), test.images, test.person_ids, test.images, test.person_ids)


def test_evaluate_transformer_uses_the_models_own_metric():
    from skreid.datasets import make_people

    train = make_people(n_identities=8, image_shape=(32, 16, 3), random_state=0)
    test = make_people(n_identities=6, n_images_per_identity=2, image_shape=(32, 16, 3),
                       random_state=1)
    model = PCAReID(0.9, metric="cosine").fit(train.images, train.person_ids)
    args = (test.images[::2], test.person_ids[::2], test.images[1::2], test.person_ids[1::2])
    default = evaluate_transformer(model, *args)
    cosine = evaluate_transformer(model, *args, metric="cosine")
    euclidean = evaluate_transformer(model, *args, metric="euclidean")
    assert default["mAP"] == cosine["mAP"]
    np.testing.assert_array_equal(default["cmc"], cosine["cmc"])
    # the two distances really rank differently here, so the default made a difference
    assert default["mAP"] != euclidean["mAP"]
