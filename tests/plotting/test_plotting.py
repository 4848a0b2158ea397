"""skreid.plotting: every function draws on Agg from synthetic inputs and returns its figure."""

import subprocess
import sys

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from skreid.plotting import (  # noqa: E402
    plot_cmc_curves,
    plot_confusion_matrix,
    plot_embedding_tsne,
    plot_image_samples,
    plot_pca_reconstructions,
    plot_ranked_matches,
    plot_segmentation_overlays,
    plot_training_history,
    plot_triplets,
)
from skreid.plotting._common import MATCH_COLOR, MISMATCH_COLOR  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def images():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(12, 16, 8, 3), dtype=np.uint8)


def test_import_does_not_load_keras_or_pyplot():
    code = (
        "import sys, skreid.plotting; "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('keras', 'tensorflow')"
        " or m == 'matplotlib.pyplot']; print(bad); assert not bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_image_samples(images):
    labels = np.arange(12) % 4
    fig = plot_image_samples(images, labels, n_images=6, n_cols=4, label_names=list("abcd"),
                             title="t")
    assert isinstance(fig, Figure)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titled == ["a", "b", "c", "d", "a", "b"]
    # grayscale float images in [0, 1] and a random sample
    fig = plot_image_samples(np.random.default_rng(0).random((5, 8, 4)), n_images=3,
                             random_state=0)
    assert len([ax for ax in fig.axes if ax.images]) == 3


def test_image_samples_bad_input(images):
    with pytest.raises(ValueError, match="labels"):
        plot_image_samples(images, [1, 2])
    with pytest.raises(ValueError, match="n_images"):
        plot_image_samples(images, n_images=0)
    with pytest.raises(ValueError, match="images"):
        plot_image_samples(np.zeros((0, 4, 4, 3)))


def test_triplets(images):
    labels = np.repeat([1, 2, 3, 4], 3)
    fig = plot_triplets(images, labels, n_triplets=3, random_state=0)
    assert isinstance(fig, Figure)
    titles = [ax.get_title() for ax in fig.axes]
    assert len(titles) == 9
    for row in range(3):
        a, p, n = (t.split(": ")[1] for t in titles[3 * row: 3 * row + 3])
        assert a == p and a != n
    fig = plot_triplets(images, labels, triplets=[[0, 1, 4]])
    assert len(fig.axes) == 3
    with pytest.raises(ValueError, match="triplets"):
        plot_triplets(images, labels, triplets=[[0, 1, 40]])
    with pytest.raises(ValueError, match="2\\+ images"):
        plot_triplets(images, np.arange(12))


def test_pca_reconstructions():
    rng = np.random.default_rng(0)
    imgs = rng.random((30, 8, 4, 1))
    from sklearn.decomposition import PCA

    fitted = PCA(n_components=3).fit(imgs.reshape(30, -1))
    fig = plot_pca_reconstructions(imgs, (0.5, 0.9, 5, fitted), n_images=3)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 5 * 3
    labels = [fig.axes[3 * r].get_ylabel() for r in range(5)]
    assert labels[0] == "original" and labels[1].startswith("50% var")
    assert labels[4] == "PCA"
    with pytest.raises(ValueError, match="n_components"):
        plot_pca_reconstructions(imgs, (1.5,))


def test_cmc_curves():
    results = {
        "pca": np.linspace(0.1, 0.5, 30),
        "triplet": {"cmc": np.linspace(0.6, 1.0, 30), "rank1": 0.6},
    }
    ax = plot_cmc_curves(results, max_rank=10)
    assert isinstance(ax, Axes)
    assert len(ax.lines) == 2
    assert len(ax.lines[0].get_xdata()) == 10
    assert ax.lines[1].get_ydata()[0] == pytest.approx(60)
    _, given = plt.subplots()
    assert plot_cmc_curves({"a": [0.5, 1.0]}, ax=given) is given
    with pytest.raises(ValueError, match="cmc"):
        plot_cmc_curves({"a": {"rank1": 0.3}})
    with pytest.raises(ValueError, match="results"):
        plot_cmc_curves({})


def _frame_color(ax):
    return to_rgba(ax.spines["top"].get_edgecolor())


def test_ranked_matches_frames_the_right_images_green():
    rng = np.random.default_rng(0)
    query = rng.integers(0, 256, (2, 16, 8, 3), dtype=np.uint8)
    gallery = rng.integers(0, 256, (6, 16, 8, 3), dtype=np.uint8)
    query_ids = np.array([1, 2])
    gallery_ids = np.array([1, 2, 3, 1, 2, 3])
    # query 0 ranks gallery 3 (id 1), 1 (id 2), 0 (id 1); query 1 ranks 2, 4, 5
    distances = np.array([[0.3, 0.2, 0.9, 0.1, 0.8, 0.7], [0.9, 0.8, 0.1, 0.7, 0.2, 0.3]])
    fig = plot_ranked_matches(query, query_ids, gallery, gallery_ids, distances=distances,
                              n_matches=3)
    assert isinstance(fig, Figure)
    axes = np.array(fig.axes).reshape(2, 4)
    green, red = to_rgba(MATCH_COLOR), to_rgba(MISMATCH_COLOR)
    assert [_frame_color(ax) for ax in axes[0, 1:]] == [green, red, green]
    assert [_frame_color(ax) for ax in axes[1, 1:]] == [red, green, red]
    # the images drawn are the ranked gallery images
    np.testing.assert_array_equal(axes[0, 1].images[0].get_array(), gallery[3])
    np.testing.assert_array_equal(axes[1, 2].images[0].get_array(), gallery[4])
    # the same through kneighbors-style indices
    fig = plot_ranked_matches(query, query_ids, gallery, gallery_ids,
                              indices=np.array([[3, 1], [2, 4]]), n_matches=2)
    axes = np.array(fig.axes).reshape(2, 3)
    assert [_frame_color(ax) for ax in axes[:, 1:].ravel()] == [green, red, red, green]


def test_ranked_matches_camera_rule_hides_same_camera_matches():
    rng = np.random.default_rng(1)
    query = rng.random((1, 8, 4))
    gallery = rng.random((3, 8, 4))
    distances = np.array([[0.1, 0.2, 0.3]])
    fig = plot_ranked_matches(query, [5], gallery, [5, 5, 6], distances=distances,
                              query_cameras=[1], gallery_cameras=[1, 2, 1], n_matches=3)
    axes = fig.axes
    # gallery 0 (same id, same camera) is junk: the row shows 1 then 2, the third cell is empty
    assert axes[1].get_title() == "#1: 5" and _frame_color(axes[1]) == to_rgba(MATCH_COLOR)
    assert axes[2].get_title() == "#2: 6"
    assert not axes[3].axison


def test_ranked_matches_bad_input(images):
    with pytest.raises(ValueError, match="exactly one"):
        plot_ranked_matches(images[:2], [1, 2], images, np.arange(12))
    with pytest.raises(ValueError, match="distances"):
        plot_ranked_matches(images[:2], [1, 2], images, np.arange(12), distances=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="indices"):
        plot_ranked_matches(images[:2], [1, 2], images, np.arange(12), indices=[[0], [99]])


def test_embedding_tsne():
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 6)), rng.normal(5, 1, (10, 6))])
    y = np.repeat([0, 1], 10)
    ax = plot_embedding_tsne(X, y, label_names=["cat", "dog"], random_state=0)
    assert isinstance(ax, Axes)
    assert len(ax.collections) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["cat", "dog"]
    with pytest.raises(ValueError, match="labels"):
        plot_embedding_tsne(X, y[:3])
    with pytest.raises(ValueError, match="NaN"):
        plot_embedding_tsne(np.full((3, 2), np.nan), [0, 1, 2])


def test_confusion_matrix():
    ax = plot_confusion_matrix([0, 1, 2, 2, 1], [0, 2, 2, 2, 1], display_labels=["a", "b", "c"],
                               title="breeds")
    assert isinstance(ax, Axes)
    assert ax.get_title() == "breeds"
    np.testing.assert_array_equal(ax.images[0].get_array(), [[1, 0, 0], [0, 1, 1], [0, 0, 2]])
    with pytest.raises(ValueError, match="y_true"):
        plot_confusion_matrix([0, 1], [0])


def test_segmentation_overlays():
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    masks = rng.integers(0, 2, (3, 16, 16)).astype(np.uint8)
    masks[2] = 255  # an image without a trimap
    fig = plot_segmentation_overlays(imgs, masks, masks, n_images=3, labels=[0, 1, 0],
                                     label_names=["cat", "dog"])
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 9
    # the ignore value is not drawn
    assert fig.axes[7].images[1].get_array().mask.all()
    fig = plot_segmentation_overlays(imgs, masks, n_images=1)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="pred_masks"):
        plot_segmentation_overlays(imgs, masks, masks[:, :8])


def test_training_history():
    history = {"loss": [1.0, 0.5, 0.3], "val_loss": [1.2, 0.9, 0.8], "val_rank1": [0.1, 0.3, 0.4]}
    fig = plot_training_history(history, title="t")
    assert isinstance(fig, Figure)
    loss_ax, metric_ax = fig.axes
    assert [line.get_label() for line in loss_ax.lines] == ["loss", "val_loss"]
    assert [line.get_label() for line in metric_ax.lines] == ["val_rank1"]

    class Fitted:
        history_ = {"loss": [2.0, 1.0]}

    assert len(plot_training_history(Fitted()).axes) == 1
    with pytest.raises(ValueError, match="history"):
        plot_training_history({})
    with pytest.raises(ValueError, match="metrics"):
        plot_training_history(history, metrics=["acc"])
