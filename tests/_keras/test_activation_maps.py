"""Activation maps (what the embedding looks at): the Keras estimators' activation_maps, the
same maps from an exported ONNX file, and plot_activation_maps.

The real-data check (a trained model's maps concentrate on the person more than an
untrained one's) is in tests/reid/test_activation_cab420.py.
"""

import pickle

import numpy as np
import pytest

from skreid.datasets import make_people

keras = pytest.importorskip("keras")

from _tiny import tiny_triplet  # noqa: E402

import skreid  # noqa: E402
from skreid.plotting import plot_activation_maps  # noqa: E402
from skreid.reid import PCAReID  # noqa: E402
from skreid.utils import resize_bilinear  # noqa: E402


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=6, n_images_per_identity=4, image_shape=(32, 16, 3),
                       random_state=0)


@pytest.fixture(scope="module")
def seed(people):
    """Seed branch with flip averaging, augmentation and an in-graph resize 32x16 -> 48x24."""
    est = tiny_triplet(image_size=(48, 24), test_time_flip=True, augment=True)
    return est.fit(people.images, people.person_ids)


def _reference_energy(est, X):
    """The last feature map read from the network by hand, squared and summed."""
    pool_input = [layer for layer in est.model_.layers
                  if type(layer).__name__ == "Flatten"][0].input
    fmap = keras.Model(est.model_.input, pool_input)(X.astype("float32"), training=False)
    return np.sum(np.square(np.asarray(fmap)), axis=-1)


def test_maps_are_the_energy_of_the_last_feature_map(seed, people):
    X = people.images[:5]
    est = seed.set_params(test_time_flip=False)
    try:
        raw = est.activation_maps(X, upsample=False)
        maps = est.activation_maps(X)
    finally:
        est.set_params(test_time_flip=True)
    # seed branch at 48x24: two 2x2 max-pools -> a 12x6 grid of 32 channels
    assert raw.shape == (5, 12, 6) and raw.dtype == np.float32
    np.testing.assert_allclose(raw, _reference_energy(est, X), rtol=1e-5, atol=1e-6)
    assert maps.shape == (5, 32, 16) and maps.dtype == np.float32 and maps.min() >= 0
    expected = keras.ops.image.resize(raw[..., None], (32, 16), interpolation="bilinear",
                                      antialias=False)[..., 0]
    np.testing.assert_allclose(maps, np.asarray(expected), rtol=1e-5, atol=1e-6)


def test_flip_test_averages_the_mirrored_map(seed, people):
    X = people.images[:4]
    maps = seed.activation_maps(X)
    # the image's map and its mirror's, mirrored back: a mirrored image has the mirrored map
    np.testing.assert_allclose(seed.activation_maps(X[:, :, ::-1]), maps[:, :, ::-1],
                               rtol=1e-5, atol=1e-6)


def test_maps_survive_pickling_saving_and_refit(seed, people, tmp_path):
    X = people.images[:3]
    clone = pickle.loads(pickle.dumps(seed))
    assert getattr(clone, "_feature_model", None) is None  # a cache, not pickled
    np.testing.assert_allclose(clone.activation_maps(X), seed.activation_maps(X), rtol=1e-5,
                               atol=1e-6)
    skreid.save(seed, tmp_path / "seed.skreid")
    loaded = skreid.load(tmp_path / "seed.skreid")
    np.testing.assert_allclose(loaded.activation_maps(X), seed.activation_maps(X), rtol=1e-5,
                               atol=1e-6)
    # a new fit builds a new network: the cached sub-model must follow it
    clone.set_params(random_state=1).fit(people.images, people.person_ids)
    assert not np.allclose(clone.activation_maps(X), seed.activation_maps(X))
    np.testing.assert_allclose(clone.activation_maps(X, upsample=False),
                               0.5 * (_reference_energy(clone, X)
                                      + _reference_energy(clone, X[:, :, ::-1])[:, :, ::-1]),
                               rtol=1e-5, atol=1e-6)


def test_resnet_trunk_and_vector_trunk(people):
    X = people.images[:2]
    resnet = tiny_triplet(backbone="resnet", n_parts=2, test_time_flip=False)
    resnet.fit(people.images, people.person_ids)
    assert resnet.activation_maps(X, upsample=False).shape == (2, 2, 1)  # stride 16
    assert resnet.activation_maps(X).shape == (2, 32, 16)

    def vector_trunk(x):
        return keras.layers.Dense(8)(keras.layers.GlobalAveragePooling2D()(x))

    flat = tiny_triplet(backbone=vector_trunk).fit(people.images, people.person_ids)
    with pytest.raises(ValueError, match=r"TripletEmbedder\(backbone=<function .*"
                                         r"has no spatial feature map.*registry backbone"):
        flat.activation_maps(X)
    with pytest.raises(ValueError, match="has no spatial feature map"):
        plot_activation_maps(flat, X)


def test_resize_bilinear_matches_keras_and_checks_its_input():
    maps = np.random.default_rng(0).random((3, 5, 3)).astype("float32")
    for size in [(40, 24), (5, 3), (7, 11)]:
        expected = keras.ops.image.resize(maps[..., None], size, interpolation="bilinear",
                                          antialias=False)[..., 0]
        np.testing.assert_allclose(resize_bilinear(maps, size), np.asarray(expected),
                                   atol=1e-6)
    with pytest.raises(ValueError, match=r"maps must have shape \(n, h, w\), got shape \(5, 3\)"):
        resize_bilinear(maps[0], (10, 6))
    with pytest.raises(ValueError, match=r"size must be positive.*size=\(0, 6\)"):
        resize_bilinear(maps, (0, 6))


# ------------------------------------------------------------------ the ONNX runtime
@pytest.fixture(scope="module")
def exported(seed, tmp_path_factory):
    pytest.importorskip("tf2onnx")
    pytest.importorskip("onnxruntime")
    path = tmp_path_factory.mktemp("actmap") / "seed.onnx"
    meta = skreid.export_onnx(seed, path)
    return str(path), meta


def test_onnx_export_carries_the_maps(seed, people, exported):
    from skreid.runtime import OnnxEmbedder

    path, meta = exported
    assert sorted(meta["outputs"]) == ["activation_maps", "embeddings"]
    assert meta["format_version"] == 2
    assert meta["verification"]["activation_maps"] <= 1e-4  # relative to the largest value
    runtime = OnnxEmbedder(path).fit()
    other = make_people(n_identities=3, n_images_per_identity=2, image_shape=(32, 16, 3),
                        random_state=5).images  # images the export check never saw
    expected = seed.activation_maps(other)
    got = runtime.activation_maps(other)
    assert got.shape == expected.shape == (6, 32, 16) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-4 * expected.max())
    assert runtime.activation_maps(other, upsample=False).shape == (6, 12, 6)
    # the embeddings are unchanged by the extra output
    np.testing.assert_allclose(runtime.transform(other), seed.transform(other), atol=1e-4)
    fig = plot_activation_maps(runtime, other, n_images=3)
    assert len(fig.axes) == 6


# ------------------------------------------------------------------ the figure
def test_plot_activation_maps_draws_images_over_maps(seed, people):
    import matplotlib

    matplotlib.use("Agg")
    fig = plot_activation_maps(seed, people.images, labels=people.person_ids, n_images=5,
                               n_cols=3)
    axes = np.array(fig.axes).reshape(4, 3)
    assert [ax.get_title() for ax in axes[0]] == ["1", "1", "1"]
    assert all(ax.get_title().startswith("centre ") for ax in axes[1])
    assert axes[3, 2].axison is False  # 5 images on two rows of 3: the last cell is empty
    overlay = axes[1, 0].images[0].get_array()
    assert overlay.shape == (32, 16, 3) and 0 <= overlay.min() and overlay.max() <= 1
    matplotlib.pyplot.close("all")


def test_plot_activation_maps_bad_input(seed, people):
    pca = PCAReID(n_components=2).fit(people.images.reshape(len(people.images), -1),
                                      people.person_ids)
    with pytest.raises(TypeError, match="PCAReID has none: it has no convolutional"):
        plot_activation_maps(pca, people.images)
    with pytest.raises(ValueError, match="labels has 2 entries for 24 images"):
        plot_activation_maps(seed, people.images, labels=[1, 2])
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\], got 2"):
        plot_activation_maps(seed, people.images, alpha=2)
