"""What the model looks at: activation maps overlaid on the images."""

import numpy as np

from skreid.plotting._common import (
    as_image_batch,
    check_positive_int,
    grid_figure,
    pick,
    show_image,
    to_display,
)

__all__ = ["plot_activation_maps"]


def _maps_of(estimator, images):
    method = getattr(estimator, "activation_maps", None)
    if not callable(method):
        raise TypeError(
            f"plot_activation_maps needs an estimator with an activation_maps(X) method: a "
            f"fitted skreid.reid.TripletEmbedder (a convolutional backbone), or a "
            f"skreid.runtime.OnnxEmbedder of a file exported with its activation maps. "
            f"{type(estimator).__name__} has none: it has no convolutional feature map."
        )
    maps = np.asarray(method(images), dtype=np.float32)
    if maps.shape != images.shape[:3]:
        raise ValueError(
            f"{type(estimator).__name__}.activation_maps returned shape {maps.shape}; expected "
            f"one map per image at the images' size, {images.shape[:3]}."
        )
    return maps


def central_share(maps):
    """Share of each map's energy in the central half of its columns (0.5 if uniform)."""
    maps = np.asarray(maps, dtype=np.float64)
    w = maps.shape[2]
    total = np.maximum(maps.sum(axis=(1, 2)), np.finfo(np.float64).tiny)
    return maps[:, :, w // 4:w - w // 4].sum(axis=(1, 2)) / total


def overlay(image, heat, alpha=0.5, cmap="jet"):
    """RGB float image in [0, 1]: ``image`` blended with ``heat`` (scaled to its maximum)."""
    from matplotlib import colormaps

    base, _ = to_display(image)
    base = np.asarray(base, dtype=np.float32)
    if base.max() > 1.0:  # uint8 as shown
        base = base / 255.0
    if base.ndim == 2:
        base = np.repeat(base[..., None], 3, axis=-1)
    base = base[..., :3]
    peak = float(np.max(heat))
    scaled = heat / peak if peak > 0 else np.zeros_like(heat)
    colour = colormaps[cmap](scaled)[..., :3]
    return np.clip((1.0 - alpha) * base + alpha * colour, 0.0, 1.0)


def plot_activation_maps(estimator, images, *, labels=None, n_images=8, n_cols=8, alpha=0.5,
                         cmap="jet", random_state=None):
    """Draw each image above its activation map: where the embedding looks.

    The map comes from ``estimator.activation_maps(images)``: for the Keras re-ID estimators
    (:class:`~skreid.reid.TripletEmbedder`) and :class:`~skreid.runtime.OnnxEmbedder`, the
    channel-wise energy of the backbone's last feature map (sum of squares over channels),
    upsampled to the image. Each map is scaled to its own maximum and overlaid with ``cmap``;
    its title gives the share of its energy in the central half of the columns, where a
    pedestrian crop has the person (0.5 for a uniform map). A model that matches people
    concentrates on the body; one that matches backgrounds lights up the sides.

    Parameters
    ----------
    estimator : fitted estimator with an ``activation_maps(X)`` method
        Returning one ``(h, w)`` map per image.
    images : array-like of shape (n, h, w[, c])
        Images as the estimator takes them.
    labels : array-like of shape (n,), optional
        Titles (e.g. identities) of the images.
    n_images : int, default=8
        Images drawn (the first ones, or a random sample with ``random_state``).
    n_cols : int, default=8
        Images per row; each row of images is followed by its row of maps.
    alpha : float, default=0.5
        Opacity of the map over the image.
    cmap : str, default="jet"
        matplotlib colormap of the map.
    random_state : int, RandomState or None, default=None
        Draw a random sample of the images instead of the first ones.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Raises
    ------
    TypeError
        The estimator has no ``activation_maps`` method (e.g. ``PCAReID``: no convolutional
        backbone).

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.plotting import plot_activation_maps
    >>> from skreid.reid import TripletEmbedder
    >>> people = make_people(n_identities=4, n_images_per_identity=4,
    ...                      image_shape=(32, 16, 3), random_state=0)
    >>> est = TripletEmbedder(backbone="seed", image_size=None, epochs=1, batch_size=8,
    ...                       images_per_identity=2, random_state=0)
    >>> fig = plot_activation_maps(est.fit(people.images, people.person_ids),
    ...                            people.images, labels=people.person_ids, n_images=4)
    """
    images = as_image_batch(images)
    n_cols = check_positive_int(n_cols, "n_cols")
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    if labels is not None and len(labels) != len(images):
        raise ValueError(f"labels has {len(labels)} entries for {len(images)} images.")
    idx = pick(len(images), check_positive_int(n_images, "n_images"), random_state)
    shown = images[idx]
    maps = _maps_of(estimator, shown)
    n_cols = min(n_cols, len(idx))
    n_rows = -(-len(idx) // n_cols)
    h, w = shown.shape[1:3]
    fig, axes = grid_figure(2 * n_rows, n_cols, cell=(1.4 * max(w / h, 0.5), 1.6))
    for ax in axes.ravel():
        ax.axis("off")
    for k, i in enumerate(idx):
        r, c = divmod(k, n_cols)
        show_image(axes[2 * r, c], shown[k], None if labels is None else labels[i])
        show_image(axes[2 * r + 1, c], overlay(shown[k], maps[k], alpha, cmap),
                   f"centre {central_share(maps[k:k + 1])[0]:.0%}")
        axes[2 * r, c].axis("on")
        axes[2 * r + 1, c].axis("on")
    fig.suptitle(f"{type(estimator).__name__}: energy of the last feature map", fontsize=9)
    fig.tight_layout()
    return fig
