"""ONNX export (skreid.export_onnx) checked against the Keras estimators with onnxruntime.

The exported files are run by skreid.runtime; the runtime's own checks (bad files, bad
shapes, no TensorFlow) are in tests/runtime/test_runtime.py, which reuses the files made here.
"""

import json
import os

import numpy as np
import pytest

import skreid
from skreid.datasets import make_people, make_pets

keras = pytest.importorskip("keras")
onnx = pytest.importorskip("onnx")
pytest.importorskip("tf2onnx")
pytest.importorskip("onnxruntime")

from skreid.reid import ReIDMixin, TripletEmbedder  # noqa: E402
from skreid.runtime import OnnxEmbedder, OnnxPetNet  # noqa: E402


def _people(shape, n_ids=8, seed=0):
    return make_people(n_identities=n_ids, n_images_per_identity=4, n_cameras=2,
                       image_shape=shape, random_state=seed)


@pytest.fixture(scope="module")
def seed_export(tmp_path_factory):
    """Seed branch with everything the export must get right: augmentation on (it sits
    before the resize when upsampling), an antialiased in-graph resize 32x16 -> 48x24,
    grayscale, flip averaging."""
    people = _people((32, 16, 3))
    est = TripletEmbedder(backbone="seed", image_size=(48, 24), grayscale=True,
                          augment=True, test_time_flip=True, epochs=1, batch_size=8,
                          images_per_identity=2, run_eagerly=True, random_state=0)
    est.fit(people.images, people.person_ids)
    path = tmp_path_factory.mktemp("onnx") / "seed.onnx"
    meta = skreid.export_onnx(est, path)
    return est, str(path), meta


@pytest.fixture(scope="module")
def pets_export(tmp_path_factory):
    data = make_pets(n_samples=16, n_classes=3, image_size=32, random_state=0)
    est = skreid.MultiTaskPetNet(image_size=32, width=4, depth=2, epochs=1, random_state=0)
    est.fit(data.images, data.labels, masks=data.masks)
    path = tmp_path_factory.mktemp("onnx") / "pets.onnx"
    meta = skreid.export_onnx(est, path)
    return est, str(path), meta


# ------------------------------------------------------------------ embedder
def test_runtime_embeddings_match_keras(seed_export):
    est, path, meta = seed_export
    other = _people((32, 16, 3), n_ids=6, seed=1)  # images the export check never saw
    runtime = OnnxEmbedder(path).fit()
    expected = est.transform(other.images)
    got = runtime.transform(other.images)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-4
    assert meta["verification"]["embeddings"] <= 1e-4


def test_runtime_ranks_like_keras(seed_export):
    est, path, _ = seed_export
    data = _people((32, 16, 3), n_ids=6, seed=2)
    gallery, query = slice(0, None, 2), slice(1, None, 2)
    runtime = OnnxEmbedder(path).fit(data.images[gallery], data.person_ids[gallery])
    est.set_gallery(data.images[gallery], data.person_ids[gallery])
    np.testing.assert_array_equal(runtime.kneighbors(data.images[query], return_distance=False),
                                  est.kneighbors(data.images[query], return_distance=False))
    np.testing.assert_array_equal(runtime.predict(data.images[query]),
                                  est.predict(data.images[query]))
    assert runtime.score(data.images[query], data.person_ids[query]) == \
        est.score(data.images[query], data.person_ids[query])


def test_runtime_shares_the_reid_mixin():
    assert issubclass(OnnxEmbedder, ReIDMixin)
    for name in ("set_gallery", "kneighbors", "predict", "score", "decision_function"):
        assert getattr(OnnxEmbedder, name) is getattr(ReIDMixin, name)


def test_export_is_an_inference_graph_with_metadata(seed_export):
    est, path, _ = seed_export
    model = onnx.load(path)
    onnx.checker.check_model(model)
    ops = {node.op_type for node in model.graph.node}
    assert not {op for op in ops if "Random" in op}, ops  # augmentation left out
    # the upsampling resize is ONNX Resize (fast), not two matrix products
    assert "Resize" in ops and "Einsum" not in ops, ops
    props = {p.key: p.value for p in model.metadata_props}
    meta = json.loads(props["skreid"])
    assert props["onnx_opset"] == "17" and meta["opset"] == 17
    assert model.opset_import[0].version == 17
    assert set(meta["versions"]) >= {"skreid", "keras", "tensorflow", "tf2onnx"}
    assert meta["estimator"] == "skreid.reid.TripletEmbedder"
    assert meta["params"]["image_size"] == [48, 24] and meta["params"]["augment"] is True
    assert meta["input"]["shape"] == [None, 32, 16, 3]
    assert meta["input"]["layout"] == "NHWC" and meta["input"]["dtype"] == "float32"
    assert meta["test_time_flip"] is True and meta["metric"] == "euclidean"


@pytest.mark.parametrize("shape_in, size_out", [((32, 16), (48, 24)), ((40, 20), (16, 8)),
                                                ((17, 9), (17, 9))])
@pytest.mark.parametrize("antialias", [True, False])
def test_exportable_resize_equals_keras_resizing(shape_in, size_out, antialias):
    from skreid._keras._inference_graph import _exportable_resize

    layer = keras.layers.Resizing(*size_out, interpolation="bilinear", antialias=antialias)
    x = np.random.default_rng(0).uniform(0, 255, (2, *shape_in, 3)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(layer(x))
    got = keras.ops.convert_to_numpy(_exportable_resize(layer, keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(got, expected, atol=2e-4)


@pytest.mark.parametrize("size_in, size_out, antialias, plain", [
    (32, 48, True, True), (128, 256, True, True),  # upsampling: the kernel is bilinear's
    (40, 16, True, False),  # antialiased downsampling widens the kernel: matrices
    (40, 16, False, True), (17, 17, True, True)])
def test_plain_bilinear_is_recognised(size_in, size_out, antialias, plain):
    from skreid._keras._inference_graph import _is_plain_bilinear, _resize_matrix

    m = _resize_matrix(size_in, size_out, "bilinear", antialias)
    assert _is_plain_bilinear(m, m) is plain


def test_export_refuses_what_it_cannot_check(seed_export, tmp_path):
    est, path, _ = seed_export
    with pytest.raises(FileExistsError, match="overwrite=True"):
        skreid.export_onnx(est, path)
    out = tmp_path / "never.onnx"
    from skreid._keras._onnx_export import ExportVerificationError

    # a tolerance no graph meets: the check must fail and leave nothing behind
    with pytest.raises(ExportVerificationError, match="differ from TripletEmbedder"):
        skreid.export_onnx(est, out, atol=-1.0)
    assert not out.exists() and os.listdir(tmp_path) == []
    with pytest.raises(TypeError, match="exports TripletEmbedder"):
        skreid.export_onnx(skreid.PCAReID(), out)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        skreid.export_onnx(TripletEmbedder(), out)


# ------------------------------------------------------------------ a new estimator
def test_a_new_keras_estimator_exports_through_its_hook(tmp_path):
    """The exporter knows no class: a Keras estimator written here, which it has never
    seen, exports by giving its inference graph (``_inference_graph``)."""
    import tensorflow as tf
    from sklearn.base import BaseEstimator, TransformerMixin

    from skreid._keras import InferenceGraph, KerasEstimatorMixin

    class TinyEmbedder(TransformerMixin, KerasEstimatorMixin, BaseEstimator):
        def __init__(self, epochs=1, random_state=0):
            self.epochs = epochs
            self.random_state = random_state

        def _build_model(self, X, y):
            self.input_shape_ = X.shape[1:]
            inputs = keras.Input(X.shape[1:])
            x = keras.layers.Dense(6)(keras.layers.Flatten()(inputs))
            model = keras.Model(inputs, keras.layers.UnitNormalization()(x))
            model.compile(optimizer="adam", loss="mse")
            return model

        def _train(self, X, y, epochs):
            return self._keras_fit(X, np.eye(6)[y % 6], epochs=epochs, batch_size=8)

        def transform(self, X):
            return keras.ops.convert_to_numpy(self.model_(np.asarray(X, np.float32)))

        def _inference_graph(self):
            model = self.model_

            def embed(images):
                return {"embeddings": tf.identity(model(images, training=False),
                                                  name="embeddings")}

            return InferenceGraph(
                kind="embedder", function=embed, input_shape=(None, *self.input_shape_),
                reference=lambda X, names: {"embeddings": self.transform(X)},
                check_shape=self.input_shape_, metadata={"note": "written in a test"})

    people = _people((8, 4, 3))
    est = TinyEmbedder().fit(people.images.astype(np.float32), people.person_ids)
    meta = skreid.export_onnx(est, tmp_path / "tiny.onnx")
    assert meta["estimator"].endswith("TinyEmbedder") and meta["note"] == "written in a test"
    assert meta["verification"]["embeddings"] <= 1e-4
    runtime = OnnxEmbedder(tmp_path / "tiny.onnx").fit()
    np.testing.assert_allclose(runtime.transform(people.images), est.transform(people.images),
                               atol=1e-5)


def test_the_exporter_names_no_estimator_class():
    """Export goes through the estimators' hook, not through a list of class names."""
    import inspect

    from skreid._keras import _inference_graph, _onnx_export

    for module in (_onnx_export, _inference_graph):
        source = inspect.getsource(module)
        assert "__name__ ==" not in source and "__name__ in" not in source


# ------------------------------------------------------------------ pets
def test_pets_runtime_matches_keras(pets_export):
    est, path, meta = pets_export
    data = make_pets(n_samples=6, n_classes=3, image_size=40, random_state=1)  # not 32 px
    runtime = OnnxPetNet(path).fit()
    np.testing.assert_array_equal(runtime.classes_, est.classes_)
    assert np.abs(runtime.predict_proba(data.images) - est.predict_proba(data.images)).max() \
        <= 1e-4
    np.testing.assert_array_equal(runtime.predict(data.images), est.predict(data.images))
    got = runtime.predict_mask(data.images, return_proba=True)
    expected = est.predict_mask(data.images, return_proba=True)
    assert got.shape == expected.shape == (6, 40, 40)
    assert np.abs(got - expected).max() <= 1e-4
    masks = runtime.predict_mask(data.images)
    assert masks.dtype == np.uint8
    # labels agree except where the probability sits on the 0.5 threshold
    assert (masks == est.predict_mask(data.images))[np.abs(expected - 0.5) > 1e-4].all()
    assert meta["classes"] == est.classes_.tolist() and meta["segmentation"] == "binary"


# ------------------------------------------------------------------ the MobileNet default
WEIGHTS = os.path.join(os.environ.get("SKREID_TEST_DATA", ""), "weights",
                       "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5")


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isfile(WEIGHTS),
                    reason="SKREID_TEST_DATA is not set (or has no weights/ folder): the "
                           "shared ImageNet MobileNetV3 weights are needed")
def test_default_mobilenet_with_resize_and_augment_exports_faithfully(tmp_path):
    """The case that broke with Keras's own export: in-graph resize 128x64 -> 256x128 and
    augment=True (RandomFlip/RandomTranslation/RandomErasing before the resize).

    From the ImageNet weights: with ``weights=None`` one epoch leaves every image at the
    same embedding (spread ~4e-9, all distances ~1e-7), where neighbour order is noise."""
    people = _people((128, 64, 3))
    est = TripletEmbedder(weights=WEIGHTS, epochs=1, batch_size=8, images_per_identity=2,
                          random_state=0).fit(people.images, people.person_ids)
    assert est.augment and est.image_size == (256, 128)
    path = tmp_path / "mobilenet.onnx"
    skreid.export_onnx(est, path)
    other = _people((128, 64, 3), n_ids=4, seed=1)
    runtime = OnnxEmbedder(path).fit(people.images, people.person_ids)
    expected = est.transform(other.images)
    assert expected.std(axis=0).mean() > 1e-3  # the images have distinct embeddings
    assert np.abs(runtime.transform(other.images) - expected).max() <= 1e-4
    np.testing.assert_array_equal(runtime.kneighbors(other.images, return_distance=False),
                                  est.kneighbors(other.images, return_distance=False))


@pytest.mark.slow
def test_finetuned_petnet_exports_with_flip_averaging(tmp_path):
    data = make_pets(n_samples=16, n_classes=3, image_size=32, random_state=0)
    est = skreid.FineTunedPetNet(image_size=32, weights=None, epochs=1, random_state=0)
    est.fit(data.images, data.labels, masks=data.masks)
    assert est.test_time_flip
    path = tmp_path / "finetuned.onnx"
    skreid.export_onnx(est, path)
    runtime = OnnxPetNet(path).fit()
    assert np.abs(runtime.predict_proba(data.images) - est.predict_proba(data.images)).max() \
        <= 1e-4
    assert np.abs(runtime.predict_mask(data.images, return_proba=True)
                  - est.predict_mask(data.images, return_proba=True)).max() <= 1e-4


# ------------------------------------------------------------------ the command line
def test_cli_export_round_trip(seed_export, tmp_path, capsys):
    from skreid.cli import main

    est, _, _ = seed_export
    model, out = tmp_path / "reid.skreid", tmp_path / "reid.onnx"
    skreid.save(est, model)
    assert main(["export", str(model), "--format", "onnx", "--out", str(out)]) == 0
    assert "TripletEmbedder" in capsys.readouterr().out
    images = _people((32, 16, 3), n_ids=3, seed=3).images
    assert np.abs(OnnxEmbedder(out).fit().transform(images) - est.transform(images)).max() \
        <= 1e-4
    assert main(["export", str(model), "--out", str(out)]) == 2  # never overwritten...
    assert "--force" in capsys.readouterr().err
    assert main(["export", str(model), "--out", str(out), "--force"]) == 0  # ...unless asked


def test_cli_export_bad_input_exits_2(tmp_path, capsys):
    from skreid.cli import main

    assert main(["export", str(tmp_path / "missing.skreid"), "--out", "x.onnx"]) == 2
    assert "model file not found" in capsys.readouterr().err
    assert main(["export", "m", "--format", "tflite", "--out", "x"]) == 2
    assert "invalid choice" in capsys.readouterr().err


def test_cli_exports_a_saved_pets_net(pets_export, tmp_path, capsys):
    from skreid.cli import main

    est, _, _ = pets_export
    model, out = tmp_path / "pets.skreid", tmp_path / "pets.onnx"
    skreid.save(est, model)
    assert main(["export", str(model), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["estimator"] == "skreid.pets.MultiTaskPetNet"
    assert result["max_abs_diff"] <= 1e-4
    images = make_pets(n_samples=3, n_classes=3, image_size=32, random_state=2).images
    assert np.abs(OnnxPetNet(out).fit().predict_proba(images)
                  - est.predict_proba(images)).max() <= 1e-4
