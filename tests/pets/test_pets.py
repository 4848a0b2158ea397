"""Behaviour of MultiTaskPetNet and FineTunedPetNet on synthetic pets (and the real subset)."""

import os
import pickle
import subprocess
import sys
from functools import partial

import numpy as np
import pytest
from sklearn.base import clone, is_classifier
from sklearn.model_selection import GridSearchCV

from skreid.datasets import MASK_IGNORE, make_pets

pytest.importorskip("keras")

from skreid.pets import FineTunedPetNet, MultiTaskPetNet  # noqa: E402

WEIGHTS_NAME = "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"


def tiny_multitask(**kw):
    params = dict(image_size=16, width=4, depth=2, epochs=2, batch_size=16, augment=False,
                  random_state=0)
    params.update(kw)
    return MultiTaskPetNet(**params)


def tiny_finetuned(**kw):
    params = dict(weights=None, image_size=32, epochs=2, head_epochs=1, fine_tune_blocks=2,
                  decoder_width=8, batch_size=16, augment=False, random_state=0)
    params.update(kw)
    return FineTunedPetNet(**params)


@pytest.fixture(scope="module")
def pets():
    return make_pets(n_samples=48, n_classes=3, image_size=16, random_state=0)


@pytest.fixture(scope="module")
def fake_weights(tmp_path_factory):
    """A random MobileNetV3Small weights file: exercises the pretrained (staged) code path."""
    from skreid._keras._backbones import mobilenet_v3_small

    path = tmp_path_factory.mktemp("weights") / "random_mnv3s_075.weights.h5"
    mobilenet_v3_small((32, 32, 3), weights=None).save_weights(path)
    return str(path)


def test_import_does_not_load_keras():
    code = ("import sys, skreid.pets, skreid; skreid.pets.__all__; "
            "print('keras' in sys.modules or 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("cls", [MultiTaskPetNet, FineTunedPetNet])
def test_classifier_and_transformer(cls):
    est = cls()
    assert is_classifier(est)
    assert hasattr(est, "transform") and hasattr(est, "predict_mask")
    assert clone(est).get_params() == est.get_params()


def test_seed_parameter_count():
    from skreid._keras._pet_networks import build_seed_network

    assert build_seed_network((256, 256), n_classes=37).count_params() == 640_438
    X = np.zeros((2, 20, 12, 3), dtype=np.uint8)  # resized to 256x256 inside the model
    net = MultiTaskPetNet("seed", image_size=256, n_classes=37, epochs=0).fit(X, [0, 1])
    assert net.model_.count_params() == 640_438
    assert net.transform(X).shape == (2, 32 * 32 * 16)


def test_multitask_learns_both_tasks():
    data = make_pets(n_samples=240, n_classes=3, image_size=24, random_state=1)
    X, y, M = data.images, data.labels, data.masks
    net = MultiTaskPetNet(image_size=24, width=8, depth=2, epochs=20, batch_size=32,
                          learning_rate=3e-3, augment=False, random_state=0)
    net.fit(X[:180], y[:180], masks=M[:180])
    accuracy = net.score(X[180:], y[180:])
    masks = net.predict_mask(X[180:])
    pixel_accuracy = (masks == M[180:]).mean()
    background = (M[180:] == 1).mean()
    assert accuracy > 0.55, accuracy  # chance: 1/3
    assert pixel_accuracy > background + 0.03, (pixel_accuracy, background)
    assert net.history_["loss"][-1] < net.history_["loss"][0]


def test_predict_shapes_and_codings(pets):
    X, y, M = pets.images, pets.labels, pets.masks
    net = tiny_multitask(segmentation="trimap", epochs=1).fit(X, y, masks=M)
    other = np.random.default_rng(0).integers(0, 255, (3, 20, 12, 3)).astype(np.uint8)
    pred = net.predict_mask(other)  # another size: resized inside, answered at input size
    assert pred.shape == (3, 20, 12) and pred.dtype == np.uint8
    assert set(np.unique(pred)) <= {0, 1, 2}
    assert net.predict_mask(other, return_proba=True).shape == (3, 20, 12, 3)
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1, rtol=1e-5)
    assert set(net.predict(X)) <= set(net.classes_)
    assert net.transform(X).shape == (len(X), 16)
    assert 0 <= net.score(X, y) <= 1


def test_masks_optional_per_sample(pets):
    X, y, M = pets.images, pets.labels, pets.masks.copy()
    M[::2] = MASK_IGNORE  # half the images without annotation
    net = tiny_multitask().fit(X, y, masks=M)
    assert np.isfinite(net.history_["mask_loss"]).all()
    net = tiny_multitask().fit(X, y)  # no masks at all: the mask head just does not learn
    assert net.history_["mask_loss"] == [0.0, 0.0]
    assert net.predict_mask(X[:2]).shape == (2, 16, 16)


def test_n_classes_keeps_absent_breeds(pets):
    net = tiny_multitask(n_classes=5, epochs=1).fit(pets.images, pets.labels)
    np.testing.assert_array_equal(net.classes_, np.arange(5))
    assert net.predict_proba(pets.images[:2]).shape == (2, 5)


@pytest.mark.parametrize("factory", [tiny_multitask, tiny_finetuned])
def test_determinism_and_pickle(pets, factory, fake_weights):
    X, y, M = pets.images, pets.labels, pets.masks
    if factory is tiny_finetuned:  # the staged path: head epoch, then fine-tuning
        factory = partial(tiny_finetuned, weights=fake_weights)
    a = factory().fit(X, y, masks=M)
    b = factory().fit(X, y, masks=M)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    np.testing.assert_array_equal(a.predict_mask(X), b.predict_mask(X))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.predict_proba(X), c.predict_proba(X))
    np.testing.assert_array_equal(a.transform(X), c.transform(X))
    c.partial_fit(X, y, masks=M)  # the unpickled network is compiled and keeps training
    assert c.n_epochs_ == a.n_epochs_ + 1
    if isinstance(a, FineTunedPetNet):
        _check_finetuned_stages(a)


def test_grid_search_routes_masks(pets):
    grid = GridSearchCV(tiny_multitask(epochs=1), {"task_weights": [(1.0, 1.0), (1.0, 0.2)]},
                        cv=2, refit=False)
    # masks are sample-aligned: a wrong slicing would fail the mask shape check in fit
    grid.fit(pets.images, pets.labels, masks=pets.masks)
    assert len(grid.cv_results_["mean_test_score"]) == 2


def _check_finetuned_stages(net):
    from skreid._keras._pet_training import set_backbone_trainable

    assert net._stage == "fine_tune"
    backbone = net.model_.get_layer("backbone")
    trainable = [layer for layer in backbone.layers if layer.trainable_weights]
    assert trainable and not any("BatchNorm" in type(la).__name__ for la in trainable)
    assert set_backbone_trainable(net.model_, 0) == 0


def _batchnorm_layers(net):
    backbone = net.model_.get_layer("backbone")
    return [la for la in backbone.layers if "BatchNorm" in type(la).__name__]


def test_finetuned_from_scratch_learns_both_tasks():
    # regression: with weights=None the backbone's BatchNorm used to be frozen at its
    # initial identity statistics, and the random backbone learnt nothing (breed loss
    # stayed at ln 3, masks all background)
    data = make_pets(n_samples=240, n_classes=3, image_size=32, random_state=1)
    X, y, M = data.images, data.labels, data.masks
    net = tiny_finetuned(epochs=20, batch_size=32, learning_rate=3e-3, task_weights=(1.0, 3.0))
    net.fit(X[:180], y[:180], masks=M[:180])
    assert net._stage == "scratch"
    assert all(la.trainable for la in _batchnorm_layers(net))
    assert net.history_["breed_loss"][-1] < 0.5 * np.log(3)
    assert net.score(X[:180], y[:180]) > 0.8  # inference mode: moving statistics learnt
    assert net.score(X[180:], y[180:]) > 0.4  # chance: 1/3
    pixel_accuracy = (net.predict_mask(X[180:]) == M[180:]).mean()
    background = (M[180:] == 1).mean()
    assert pixel_accuracy > background + 0.02, (pixel_accuracy, background)

    # test_time_flip (default) averages the image and its mirror
    x = X[180:184]
    net.set_params(test_time_flip=False)
    proba = (net.predict_proba(x) + net.predict_proba(x[:, :, ::-1])) / 2
    mask = (net.predict_mask(x, return_proba=True)
            + net.predict_mask(x[:, :, ::-1], return_proba=True)[:, :, ::-1]) / 2
    net.set_params(test_time_flip=True)
    np.testing.assert_allclose(net.predict_proba(x), proba, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(net.predict_mask(x, return_proba=True), mask, rtol=1e-5,
                               atol=1e-6)


@pytest.mark.parametrize("flip, n_views", [(True, 2), (False, 1)])
def test_linear_probe_sees_mirrored_images_when_flips_are_used(pets, fake_weights, monkeypatch,
                                                                flip, n_views):
    # the network trains on mirrored pets and averages both views at prediction: its
    # linear-probe start must learn from both views, and only from the originals otherwise
    from sklearn.linear_model import LogisticRegression

    seen = []
    original_fit = LogisticRegression.fit

    def spy(self, X, y, *args, **kwargs):
        seen.append(len(X))
        return original_fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    net = tiny_finetuned(weights=fake_weights, epochs=0, augment=flip, test_time_flip=flip)
    net.fit(pets.images, pets.labels)
    assert seen == [n_views * len(pets.images)]


def test_class_weight_balanced():
    net = tiny_multitask(class_weight="balanced")
    net.classes_ = np.arange(3)
    weights = net._sample_weights(np.array([0, 0, 0, 1, 2, 2]))
    np.testing.assert_allclose(weights, [2 / 3] * 3 + [2] + [1, 1])
    net.class_weight = {1: 5.0}
    np.testing.assert_allclose(net._sample_weights(np.array([0, 1])), [1, 5])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(y=[0, 1, 5] * 16, n_classes=3), "outside 0..2"),
        (dict(masks=np.zeros((48, 8, 8), np.uint8)), "masks must have shape"),
        (dict(masks=np.full((48, 16, 16), 7, np.uint8)), "masks hold values"),
        (dict(nan=True), "NaN"),
        (dict(segmentation="pixels"), r"'segmentation' parameter of MultiTaskPetNet must be "
                                      r"a str among \{.*'trimap'.*\}\. Got 'pixels'"),
        (dict(task_weights=(1.0, -1.0)), "task_weights"),
        (dict(network="vgg"), r"'network' parameter of MultiTaskPetNet must be a "
                              r"str among \{.*'unet'.*\}\. Got 'vgg'"),
        (dict(image_size=18), "divisible by 4"),
    ],
)
def test_bad_input(pets, kwargs, match):
    X = pets.images.astype(np.float32)
    if kwargs.pop("nan", False):
        X[3, 2, 2, 0] = np.nan
    y = kwargs.pop("y", pets.labels)
    masks = kwargs.pop("masks", pets.masks)
    with pytest.raises(ValueError, match=match):
        tiny_multitask(**kwargs).fit(X, y, masks=masks)


def test_bad_weights_file(tmp_path, pets):
    with pytest.raises(ValueError, match="not found"):
        tiny_finetuned(weights=str(tmp_path / "missing.weights.h5")).fit(pets.images, pets.labels)
    from skreid._keras._pet_networks import build_seed_network

    wrong = tmp_path / "other.weights.h5"
    build_seed_network((16, 16), n_classes=3).save_weights(wrong)
    with pytest.raises(ValueError, match="other.weights.h5"):
        tiny_finetuned(weights=str(wrong)).fit(pets.images, pets.labels)


def _real_data():
    root = os.environ.get("SKREID_TEST_DATA")
    if not root:
        pytest.skip("SKREID_TEST_DATA is not set (path of the shared data folder)")
    weights = os.path.join(root, "weights", WEIGHTS_NAME)
    pets_root = os.path.join(root, "oxford_pets")
    if not (os.path.isfile(weights) and os.path.isdir(pets_root)):
        pytest.skip(f"{weights} or {pets_root} not found")
    return weights, pets_root


def test_real_frozen_features_separate_cats_and_dogs():
    weights, pets_root = _real_data()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    from skreid.datasets import load_oxford_pets

    data = load_oxford_pets(pets_root, image_size=(128, 128))
    # epochs=0: the network is built with the shared weights and not trained
    net = FineTunedPetNet(weights=weights, image_size=128, epochs=0, n_classes=37)
    features = net.fit(data.images, data.breeds).transform(data.images)
    assert features.shape == (len(data.images), 432)
    # shuffled folds: the files are sorted by breed, and unshuffled folds would hold out
    # whole breeds
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    accuracy = cross_val_score(LogisticRegression(max_iter=2000), features, data.species,
                               cv=cv).mean()
    assert accuracy > 0.85, accuracy  # chance ~0.53


@pytest.mark.slow
def test_finetuned_learns_both_tasks():
    weights, _ = _real_data()
    data = make_pets(n_samples=240, n_classes=3, image_size=64, random_state=1)
    X, y, M = data.images, data.labels, data.masks
    net = FineTunedPetNet(weights=weights, image_size=64, epochs=12, head_epochs=4,
                          batch_size=16, learning_rate=3e-3, random_state=0)
    net.fit(X[:180], y[:180], masks=M[:180])
    assert net.score(X[180:], y[180:]) > 0.6  # chance: 1/3
    assert (net.predict_mask(X[180:]) == M[180:]).mean() > (M[180:] == 1).mean() + 0.02


@pytest.fixture(scope="module")
def calibrated_weights(tmp_path_factory, pets):
    """Random MobileNetV3Small weights whose BatchNorm statistics were measured on the pets
    images (training-mode calls), so frozen-BatchNorm features are not vanishingly small as
    they are with a fresh network's statistics (mean 0, variance 1)."""
    from skreid._keras._backbones import build_backbone

    net = build_backbone("mobilenet_v3_small", (32, 32, 3))  # random: BatchNorm learns
    x = np.repeat(np.repeat(pets.images.astype(np.float32), 2, axis=1), 2, axis=2)
    for _ in range(40):
        net(x, training=True)
    path = tmp_path_factory.mktemp("weights") / "calibrated_mnv3s_075.weights.h5"
    net.save_weights(path)
    return str(path)


def test_probe_C_sets_the_breed_head_from_a_logistic_regression(pets, calibrated_weights):
    """probe_C exists for linear probing then fine-tuning (the probe is what the default's
    frozen backbone relies on): it sets the breed layer before any epoch, more strongly
    regularised for a smaller C; None leaves the random initialisation."""
    X = pets.images.astype(np.float32)

    def breed_layer(probe_C):
        net = tiny_finetuned(weights=calibrated_weights, probe_C=probe_C, epochs=0,
                             head_epochs=0, test_time_flip=False).fit(X, pets.labels)
        return net.model_.get_layer("breed").get_weights(), net

    (weak, probed), (strong, _), (none, _) = (breed_layer(c) for c in (100.0, 0.01, None))
    assert 0 < np.abs(strong[0]).sum() < np.abs(weak[0]).sum()
    assert not np.allclose(none[0], weak[0]) and (none[1] == 0).all()
    # the probe alone classifies the training images better than chance
    assert probed.score(X, pets.labels) > 0.5
