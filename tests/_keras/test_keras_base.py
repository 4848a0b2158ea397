"""Tests of the shared Keras estimator base and the MobileNetV3 backbone builder."""

import os
import pickle
import random
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin, clone

from skreid._keras._base import KerasEstimatorMixin, import_keras, keras_seeded

WEIGHTS = os.path.join(
    os.environ.get("SKREID_TEST_DATA", ""),
    "weights",
    "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5",
)
needs_weights = pytest.mark.skipif(
    not os.environ.get("SKREID_TEST_DATA") or not os.path.isfile(WEIGHTS),
    reason="SKREID_TEST_DATA is not set (or has no weights/ folder): shared weights unavailable",
)


class TinyRegressor(RegressorMixin, KerasEstimatorMixin, BaseEstimator):
    """Smallest possible user of the base: a linear model trained with SGD."""

    def __init__(self, epochs=2, batch_size=8, random_state=None, verbose=0, warm_start=False):
        self.epochs = epochs
        self.batch_size = batch_size
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    def _validate_fit_data(self, X, y, reset, **fit_params):
        return np.asarray(X, np.float32), np.asarray(y, np.float32), fit_params

    def _build_model(self, X, y):
        keras = import_keras()
        inputs = keras.Input((X.shape[1],))
        model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        return model

    def predict(self, X):
        return self.model_.predict(np.asarray(X, np.float32), verbose=0)[:, 0]


def _data(n=64):
    rng = np.random.RandomState(0)
    X = rng.randn(n, 3)
    return X, X @ np.array([1.0, -2.0, 0.5]) + 0.1


def test_seeded_fit_is_reproducible_and_restores_global_rng():
    X, y = _data()
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    expected_py, expected_np = random.random(), np.random.rand()  # noqa: NPY002
    random.seed(123)
    np.random.seed(123)  # noqa: NPY002
    a = TinyRegressor(random_state=0).fit(X, y)
    # the fit consumed no global randomness visible to the caller
    assert random.random() == expected_py
    assert np.random.rand() == expected_np  # noqa: NPY002
    b = TinyRegressor(random_state=0).fit(X, y)
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    c = TinyRegressor(random_state=1).fit(X, y)
    assert not np.array_equal(a.predict(X), c.predict(X))


def test_tf_global_seed_is_unset_after_fit():
    import tensorflow as tf

    TinyRegressor(random_state=0).fit(*_data())
    # with no global seed, two draws in a row differ and two fresh sessions are not tied
    assert not np.array_equal(tf.random.uniform((4,)).numpy(), tf.random.uniform((4,)).numpy())
    with keras_seeded(5):
        first = tf.random.uniform((3,)).numpy()
    with keras_seeded(5):
        second = tf.random.uniform((3,)).numpy()
    np.testing.assert_array_equal(first, second)


def test_history_warm_start_and_partial_fit():
    X, y = _data()
    est = TinyRegressor(epochs=3, random_state=0).fit(X, y)
    assert est.n_epochs_ == 3 and len(est.history_["loss"]) == 3
    assert len(est.history_["epoch_time"]) == 3
    assert est.history_["loss"][-1] < est.history_["loss"][0]
    model = est.model_
    est.partial_fit(X, y)
    assert est.model_ is model and len(est.history_["loss"]) == 4
    est.set_params(warm_start=True, epochs=2).fit(X, y)
    assert est.model_ is model and est.n_epochs_ == 6
    est.set_params(warm_start=False).fit(X, y)
    assert est.model_ is not model and est.n_epochs_ == 2
    # partial_fit on an unfitted estimator builds the network
    fresh = TinyRegressor(random_state=0).partial_fit(X, y)
    assert fresh.n_epochs_ == 1


def test_pickle_round_trip_keeps_predictions_and_training_continues():
    X, y = _data()
    est = TinyRegressor(random_state=0).fit(X, y)
    blob = pickle.dumps(est)
    again = pickle.loads(blob)
    np.testing.assert_array_equal(est.predict(X), again.predict(X))
    assert again.history_ == est.history_
    again.partial_fit(X, y)  # the optimizer came back compiled
    assert again.n_epochs_ == 3
    assert clone(est).get_params() == est.get_params()


def test_import_base_does_not_import_keras():
    code = (
        "import sys, skreid, skreid._keras, skreid._keras._base, skreid._keras._backbones;"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------- backbone
def test_backbone_random_init_shapes_and_frozen_bn():
    from skreid._keras._backbones import mobilenet_v3_small, multiscale_features

    keras = import_keras()
    net = mobilenet_v3_small((64, 32, 3), weights=None)
    assert tuple(net.output.shape) == (None, 2, 1, 432)
    bns = [la for la in net.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert bns and not any(la.trainable for la in bns)
    assert any(la.trainable_weights for la in net.layers)  # convolutions stay trainable
    feats = multiscale_features(net, strides=(2, 4, 8, 16, 32))
    assert [tuple(o.shape[1:3]) for o in feats.outputs] == [
        (32, 16), (16, 8), (8, 4), (4, 2), (2, 1),
    ]
    with pytest.raises(ValueError, match="strides"):
        multiscale_features(net, strides=(3,))


def test_backbone_bad_inputs(tmp_path):
    from skreid._keras._backbones import mobilenet_v3_small

    with pytest.raises(ValueError, match="at least 32x32"):
        mobilenet_v3_small((16, 16, 3))
    with pytest.raises(ValueError, match=r"\(height, width, 3\)"):
        mobilenet_v3_small((64, 64, 1))
    missing = tmp_path / "nope.weights.h5"
    with pytest.raises(ValueError, match="weights file not found.*nope.weights.h5"):
        mobilenet_v3_small((64, 64, 3), weights=missing)
    with pytest.raises(ValueError, match="weights must be"):
        mobilenet_v3_small((64, 64, 3), weights=3)


def test_backbone_wrong_architecture_file_is_named(tmp_path):
    from skreid._keras._backbones import mobilenet_v3_small

    keras = import_keras()
    other = keras.applications.MobileNetV3Small(
        input_shape=(32, 32, 3), include_top=False, weights=None, minimalistic=True, alpha=0.75
    )
    path = tmp_path / "other.weights.h5"
    other.save_weights(path)
    with pytest.raises(ValueError, match=r"other\.weights\.h5.*does not fit.*alpha=0\.75"):
        mobilenet_v3_small((32, 32, 3), weights=path)


def test_backbone_imagenet_offline_says_pass_a_local_file(tmp_path, monkeypatch):
    from keras.src.utils import file_utils

    from skreid._keras._backbones import mobilenet_v3_small

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    # keras.applications resolves get_file through this module at call time
    monkeypatch.setattr(file_utils, "get_file", offline)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(ValueError, match="pass a local weights file"):
        mobilenet_v3_small((64, 64, 3), weights="imagenet")


@needs_weights
def test_backbone_loads_shared_weights_at_reid_size_and_bn_stays_put():
    from skreid._keras._backbones import mobilenet_v3_small

    net = mobilenet_v3_small((128, 64, 3), weights=WEIGHTS)
    assert net.count_params() == 583_160
    x = np.random.RandomState(0).uniform(0, 255, (4, 128, 64, 3)).astype(np.float32)
    before = net(x, training=False).numpy()
    # a training-mode call must neither change outputs nor the folded statistics
    np.testing.assert_allclose(net(x, training=True).numpy(), before, atol=1e-5)
    np.testing.assert_allclose(net(x, training=False).numpy(), before, atol=1e-5)
    assert np.abs(before).max() > 0.1
