"""Scorers (re-ID and classifier paths, metadata routing), top-n accuracy, segmentation."""

import numpy as np
import pytest
import sklearn
from numpy.testing import assert_allclose
from sklearn.datasets import make_classification
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score, cross_validate
from sklearn.neighbors import NeighborhoodComponentsAnalysis
from sklearn.pipeline import make_pipeline
from threadpoolctl import threadpool_limits

from skreid.datasets import make_people
from skreid.metrics import (
    evaluate_reid,
    iou_score,
    make_map_scorer,
    make_top_n_scorer,
    pixel_accuracy_score,
    top_n_accuracy_score,
)
from skreid.metrics._scorers import _resolve_kind
from skreid.preprocessing import FlattenImages


@pytest.fixture(autouse=True, scope="module")
def _single_blas_thread():
    # Tiny SVDs run ~10x slower with multi-threaded BLAS on the shared 2-core CI machine.
    with threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def people():
    return make_people(
        n_identities=24,
        n_images_per_identity=6,
        n_cameras=3,
        image_shape=(16, 8, 3),
        random_state=0,
    )


@pytest.fixture
def routing():
    with sklearn.config_context(enable_metadata_routing=True):
        yield


# ---------------------------------------------------------------------------------------
# scorers
# ---------------------------------------------------------------------------------------


def test_grid_search_selects_parameter_with_top_n_scorer(people):
    pipe = make_pipeline(FlattenImages(), PCA(random_state=0))
    search = GridSearchCV(
        pipe,
        {"pca__n_components": [1, 16]},
        scoring=make_top_n_scorer(n=1),
        cv=GroupKFold(n_splits=3),
        error_score="raise",
    )
    search.fit(people.images, people.person_ids, groups=people.person_ids)
    scores = search.cv_results_["mean_test_score"]
    assert np.all((0 <= scores) & (scores <= 1))
    assert scores[1] > scores[0]  # one component cannot tell 8 identities apart
    assert search.best_params_ == {"pca__n_components": 16}


def test_reid_scorer_equals_evaluate_reid_on_the_fold(people):
    X, ids, cams = people.images, people.person_ids, people.camera_ids
    est = make_pipeline(FlattenImages(), PCA(8, random_state=0)).fit(X[ids > 12])
    fold = ids <= 12
    feats = est.transform(X[fold])
    expected = evaluate_reid(feats, ids[fold], query_cameras=cams[fold], max_rank=5)
    assert make_top_n_scorer(5)(est, X[fold], ids[fold], cameras=cams[fold]) == pytest.approx(
        expected["rank5"]
    )
    assert make_map_scorer()(est, X[fold], ids[fold], cameras=cams[fold]) == pytest.approx(
        expected["mAP"]
    )
    no_cams = evaluate_reid(feats, ids[fold])
    assert make_top_n_scorer(1)(est, X[fold], ids[fold]) == pytest.approx(no_cams["rank1"])


def test_camera_routing_end_to_end(people, routing):
    X, ids, cams = people.images, people.person_ids, people.camera_ids
    pipe = make_pipeline(FlattenImages(), PCA(8, random_state=0))
    cv = list(GroupKFold(n_splits=3).split(X, ids, ids))
    scorer = make_map_scorer().set_score_request(cameras=True)
    routed = cross_validate(
        pipe, X, ids, cv=cv, scoring=scorer, params={"cameras": cams}, error_score="raise"
    )["test_score"]
    # the same numbers, computed by hand fold by fold with the camera rule
    for (train, test), score in zip(cv, routed, strict=True):
        feats = pipe.fit(X[train]).transform(X[test])
        expected = evaluate_reid(feats, ids[test], query_cameras=cams[test])["mAP"]
        assert score == pytest.approx(expected)
    # multi-metric scoring routes to every scorer that requests cameras
    both = cross_validate(
        pipe,
        X,
        ids,
        cv=cv,
        params={"cameras": cams},
        scoring={"map": scorer, "top1": make_top_n_scorer(1).set_score_request(cameras=True)},
    )
    assert_allclose(both["test_map"], routed)
    unrouted = cross_validate(pipe, X, ids, cv=cv, scoring=make_map_scorer())["test_score"]
    assert not np.allclose(routed, unrouted)  # the camera rule changed the rankings
    # GridSearchCV routes cameras (and groups to the splitter) too
    search = GridSearchCV(
        pipe,
        {"pca__n_components": [2, 8]},
        scoring=scorer,
        cv=GroupKFold(3),
        error_score="raise",
    ).fit(X, ids, groups=ids, cameras=cams)
    assert search.cv_results_["mean_test_score"][1] == pytest.approx(routed.mean())


def test_unrequested_cameras_raise(people, routing):
    with pytest.raises(ValueError, match="cameras"):
        cross_validate(
            PCA(4),
            people.images.reshape(len(people.images), -1),
            people.person_ids,
            cv=GroupKFold(2),
            scoring=make_top_n_scorer(),
            params={"cameras": people.camera_ids, "groups": people.person_ids},
        )


def test_set_score_request_needs_routing():
    with pytest.raises(RuntimeError, match="enable_metadata_routing"):
        make_top_n_scorer().set_score_request(cameras=True)


def test_classifier_path_is_top_n_accuracy():
    X, y = make_classification(200, n_classes=4, n_informative=6, random_state=0)
    clf = LogisticRegression(max_iter=500).fit(X[:150], y[:150])
    for n in (1, 2):
        expected = top_n_accuracy_score(y[150:], clf.predict_proba(X[150:]), n=n)
        assert make_top_n_scorer(n)(clf, X[150:], y[150:]) == pytest.approx(expected)
    # a classifier pipeline has no transform: classifier path, usable in cross_val_score
    pipe = make_pipeline(PCA(5), LogisticRegression(max_iter=500))
    assert cross_val_score(pipe, X, y, scoring=make_top_n_scorer(2)).mean() > 0.5
    with pytest.raises(ValueError, match="re-ID estimator"):
        make_map_scorer()(clf, X, y)


class _PetNetLike:
    """Classifier + transformer + segmenter, like skreid's pets nets."""

    classes_ = np.array([0, 1, 2])

    def transform(self, X):
        return X

    def predict_proba(self, X):
        return np.tile([0.2, 0.5, 0.3], (len(X), 1))

    def predict_mask(self, X):
        return np.zeros((len(X), 2, 2), dtype=int)


def test_kind_resolution():
    assert _resolve_kind(PCA(), "auto") == "reid"
    assert _resolve_kind(make_pipeline(PCA(), NeighborhoodComponentsAnalysis()), "auto") == "reid"
    assert _resolve_kind(make_pipeline(PCA(), LogisticRegression()), "auto") == "classifier"
    assert _resolve_kind(_PetNetLike(), "auto") == "classifier"
    assert _resolve_kind(make_pipeline(PCA(), _PetNetLike()), "auto") == "classifier"
    X, y = np.zeros((4, 3)), np.array([1, 2, 2, 0])
    assert make_top_n_scorer(1)(_PetNetLike(), X, y) == pytest.approx(0.25)
    assert make_top_n_scorer(2, kind="classifier")(_PetNetLike(), X, y) == pytest.approx(0.75)


def test_nca_pipeline_and_estimator_metric():
    rng = np.random.default_rng(0)
    ids = np.repeat(np.arange(10), 4)
    X = rng.standard_normal((10, 6))[ids] + 0.2 * rng.standard_normal((40, 6))
    pipe = make_pipeline(PCA(4), NeighborhoodComponentsAnalysis(random_state=0))
    scores = cross_val_score(
        pipe, X, ids, groups=ids, cv=GroupKFold(2), scoring=make_top_n_scorer(1)
    )
    assert scores.min() > 0.8
    est = PCA(4).fit(X)
    est.metric = "cosine"  # an estimator's own metric is followed unless overridden
    feats = est.transform(X)
    assert make_map_scorer()(est, X, ids) == pytest.approx(
        evaluate_reid(feats, ids, metric="cosine")["mAP"]
    )


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: make_top_n_scorer(0), "n must be"),
        (lambda: make_top_n_scorer(1, kind="knn"), "kind"),
        (lambda: make_top_n_scorer(1, metric="nope"), "metric"),
        (lambda: make_map_scorer(ap_mode="nope"), "ap_mode"),
    ],
)
def test_scorer_factories_validate(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()


def test_scorer_is_picklable_and_has_repr():
    import pickle

    scorer = make_top_n_scorer(3)
    assert "n=3" in repr(pickle.loads(pickle.dumps(scorer)))


# ---------------------------------------------------------------------------------------
# top-n accuracy and segmentation
# ---------------------------------------------------------------------------------------


def test_top_n_accuracy_score():
    y_score = np.array([[0.5, 0.3, 0.2], [0.1, 0.3, 0.6], [0.2, 0.5, 0.3]])
    assert top_n_accuracy_score([0, 1, 2], y_score, n=1) == pytest.approx(1 / 3)
    assert top_n_accuracy_score([0, 1, 2], y_score, n=2) == 1.0
    assert top_n_accuracy_score([1, 0], [[0.3, 0.7], [0.8, 0.2]], n=1) == 1.0  # binary
    with pytest.raises(ValueError, match="n must be"):
        top_n_accuracy_score([0, 1, 2], y_score, n=0)


def test_pixel_accuracy_and_iou_by_hand():
    y_true = np.array([[[0, 0, 1, 255], [1, 1, 2, 2]]])
    y_pred = np.array([[[0, 1, 1, 0], [1, 1, 2, 0]]])
    # 7 scored pixels, 5 correct
    assert pixel_accuracy_score(y_true, y_pred, ignore_label=255) == pytest.approx(5 / 7)
    assert pixel_accuracy_score(y_true, y_pred) == pytest.approx(5 / 8)
    # class 0: I=1, U=3 (true {0,1}, pred {0,6}); class 1: I=3, U=4; class 2: I=1, U=2
    per_class = iou_score(y_true, y_pred, ignore_label=255, average=None)
    assert_allclose(per_class, [1 / 3, 3 / 4, 1 / 2])
    assert iou_score(y_true, y_pred, ignore_label=255) == pytest.approx((1 / 3 + 3 / 4 + 1 / 2) / 3)
    # an absent class is NaN per class and skipped by the mean
    per_class = iou_score(y_true, y_pred, labels=[0, 1, 2, 7], ignore_label=255, average=None)
    assert np.isnan(per_class[3])
    assert iou_score(y_true, y_pred, labels=[0, 1, 2, 7], ignore_label=255) == pytest.approx(
        (1 / 3 + 3 / 4 + 1 / 2) / 3
    )
    assert iou_score(y_true, y_true) == 1.0
    assert pixel_accuracy_score([255], [1], ignore_label=255) != pixel_accuracy_score([1], [1])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: pixel_accuracy_score([[0, 1]], [[0, 1, 1]]), "same shape"),
        (lambda: iou_score([0.5], [0.5]), "integer class labels"),
        (lambda: iou_score([0], [0], average="micro"), "average"),
        (lambda: iou_score([], []), "empty"),
        (lambda: iou_score([0], [0], ignore_label="x"), "ignore_label"),
    ],
)
def test_segmentation_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
