"""TripletEmbedder's camera-generalisation recipe: ``color_augment``, ``ibn``, ``mixstyle``
(validated, built into the network as stated, training-only where they should be, seeded,
exported to ONNX faithfully). Fast: a MobileNetV3 on 64x32 images for one epoch."""

import numpy as np
import pytest
from _tiny import tiny_style_triplet, tiny_triplet

import skreid
from skreid.datasets import make_people

keras = pytest.importorskip("keras")


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=8, n_images_per_identity=4, n_cameras=2,
                       image_shape=(64, 32, 3), random_state=0)


@pytest.fixture(scope="module")
def fitted(people, tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    est = tiny_style_triplet(str(folder))
    return est.fit(people.images, people.person_ids, cameras=people.camera_ids), folder


@pytest.mark.parametrize("param, value, accepted", [
    ("color_augment", 1.5, r"a float in the range \[0.0, 1.0\]"),
    ("color_augment", "strong", r"a float in the range \[0.0, 1.0\]"),
    ("mixstyle", -0.1, r"a float in the range \[0.0, 1.0\]"),
    ("ibn", "yes", r"an instance of 'bool'"),
])
def test_recipe_parameters_are_validated(param, value, accepted):
    X, y = np.zeros((8, 8, 4, 3)), np.repeat([0, 1], 4)
    with pytest.raises(ValueError, match=rf"'{param}' parameter of TripletEmbedder must be "
                                         rf"{accepted}.*Got {value!r}"):
        tiny_triplet(**{param: value}).fit(X, y)


def test_the_recipe_layers_are_in_the_network(fitted):
    est, _ = fitted
    names = [layer.name for layer in est.model_.layers]
    backbone = est.model_.get_layer("mobilenet_v3_small")
    inner = [layer.name for layer in backbone.layers]
    assert "color_augmentation" in names
    assert sum(n.endswith("_ibn") for n in inner) == 7
    assert sum(n.endswith("_mixstyle") for n in inner) == 2
    # calibrated from the training images, then trained: no longer the neutral 1 / 0
    first = backbone.get_layer("expanded_conv_1_expand_bn_ibn")
    assert not np.allclose(np.asarray(first.gamma), 1.0)
    assert not np.allclose(np.asarray(first.beta), 0.0)
    # BatchNorm of the (file-loaded) backbone stays frozen around the inserted layers
    assert not any(layer.trainable for layer in backbone.layers
                   if isinstance(layer, keras.layers.BatchNormalization))


def test_augmentation_and_mixstyle_act_in_training_only(fitted, people):
    est, _ = fitted
    X = people.images[:8].astype(np.float32)
    np.testing.assert_array_equal(est.transform(X), est.transform(X))
    model = est.model_
    infer = np.asarray(model(X, training=False)["triplet"])
    np.testing.assert_array_equal(infer, np.asarray(model(X, training=False)["triplet"]))
    weights = model.get_weights()  # a training-mode call moves the BN neck's statistics
    train = np.asarray(model(X, training=True)["triplet"])
    model.set_weights(weights)
    assert np.abs(train - infer).max() > 1e-4  # colour, flips, erasing, MixStyle


def test_same_seed_gives_the_same_recipe_model(fitted, people):
    est, folder = fitted
    again = tiny_style_triplet(str(folder)).fit(people.images, people.person_ids,
                                                cameras=people.camera_ids)
    np.testing.assert_array_equal(again.transform(people.images), est.transform(people.images))


def test_the_recipe_exports_to_onnx_and_back(fitted, people, tmp_path):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    from skreid.runtime import OnnxEmbedder

    est, _ = fitted
    path = tmp_path / "recipe.onnx"
    meta = skreid.export_onnx(est, path)
    assert meta["params"]["ibn"] is True and meta["params"]["color_augment"] == 1.0
    runtime = OnnxEmbedder(path).fit(people.images, people.person_ids)
    expected, got = est.transform(people.images), runtime.transform(people.images)
    assert np.abs(got - expected).max() <= 1e-4
    # A one-epoch net on random weights gives embeddings that differ between people by only
    # ~1e-4, so an absolute tolerance alone would pass a runtime that lost them: the
    # person-to-person part (each embedding minus the mean) must agree to 0.1 % of its size.
    spread = expected - expected.mean(axis=0)
    assert np.abs(spread).max() > 0  # distinct embeddings, not a collapsed net
    assert np.abs((got - got.mean(axis=0)) - spread).max() <= 1e-3 * np.abs(spread).max()
    import onnx

    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert not any("Random" in op for op in ops)  # augmentation and MixStyle left out
