"""Pets figures: breed confusion matrix and segmentation overlays."""

import numpy as np

from skreid.plotting._common import (
    as_image_batch,
    check_positive_int,
    get_ax,
    grid_figure,
    show_image,
)

__all__ = ["plot_confusion_matrix", "plot_segmentation_overlays"]

# Mask coding shared with skreid.datasets: 0 pet, 1 background, 2 border, 255 ignore.
_MASK_COLORS = ["#ff7f0e", "#1f77b4", "#ffdd00"]
_MASK_NAMES = ["pet", "background", "border"]


def plot_confusion_matrix(
    y_true,
    y_pred,
    *,
    labels=None,
    display_labels=None,
    normalize=None,
    include_values=None,
    ax=None,
    title=None,
):
    """Confusion matrix drawn by :class:`sklearn.metrics.ConfusionMatrixDisplay`.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n,)
    labels : array-like, optional
        Label order (default: sorted union of both).
    display_labels : sequence of str, optional
        Tick text per label (e.g. breed names).
    normalize : {"true", "pred", "all"} or None, default=None
        As in :func:`sklearn.metrics.confusion_matrix`.
    include_values : bool, optional
        Write the counts in the cells; by default only when there are at most 12 classes.
    ax : matplotlib Axes, optional
    title : str, optional

    Returns
    -------
    ax : matplotlib.axes.Axes
        The axes the :class:`~sklearn.metrics.ConfusionMatrixDisplay` drew on.

    Examples
    --------
    >>> from skreid.plotting import plot_confusion_matrix
    >>> ax = plot_confusion_matrix([0, 1, 2, 2], [0, 2, 2, 2], display_labels=["a", "b", "c"])
    """
    from sklearn.metrics import ConfusionMatrixDisplay

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1 or len(y_true) == 0:
        raise ValueError(
            f"y_true and y_pred must be non-empty 1-D arrays of the same length, got shapes "
            f"{y_true.shape} and {y_pred.shape}."
        )
    n_classes = len(np.unique(np.concatenate([y_true, y_pred]))) if labels is None else len(labels)
    if include_values is None:
        include_values = n_classes <= 12
    ax = get_ax(ax, figsize=(max(4, 0.3 * n_classes + 3), max(3.5, 0.3 * n_classes + 2.5)))
    ConfusionMatrixDisplay.from_predictions(
        y_true,
        y_pred,
        labels=labels,
        display_labels=display_labels,
        normalize=normalize,
        include_values=include_values,
        values_format=".2f" if normalize else "d",
        xticks_rotation="vertical",
        colorbar=True,
        ax=ax,
    )
    if n_classes > 12:
        ax.tick_params(labelsize=6)
    if title:
        ax.set_title(title)
    return ax


def _mask_overlay(ax, image, mask, ignore_value, alpha):
    import matplotlib.colors as mcolors

    show_image(ax, image)
    mask = np.asarray(mask)
    # only the pet (and trimap border) is coloured: the background stays the image itself,
    # which keeps the outline readable whatever the image colours
    shown = np.ma.masked_where(((mask != 0) & (mask != 2)) | (mask == ignore_value), mask)
    cmap = mcolors.ListedColormap(_MASK_COLORS)
    ax.imshow(shown, cmap=cmap, vmin=-0.5, vmax=2.5, alpha=alpha, interpolation="nearest")


def plot_segmentation_overlays(
    images,
    true_masks,
    pred_masks=None,
    *,
    n_images=4,
    ignore_value=255,
    alpha=0.5,
    labels=None,
    label_names=None,
    title=None,
):
    """Draw images with their true and (optionally) predicted masks overlaid, one per row.

    Mask coding is skreid's: 0 pet (coloured orange), 1 background (not coloured), 2 border
    (yellow), ``ignore_value`` (images without a trimap) not drawn.

    Parameters
    ----------
    images : array-like of shape (n, h, w[, c])
    true_masks : array-like of shape (n, h, w)
    pred_masks : array-like of shape (n, h, w), optional
        E.g. ``estimator.predict_mask(images)``.
    n_images : int, default=4
        Rows to draw.
    ignore_value : int, default=255
    alpha : float, default=0.5
        Opacity of the mask colours.
    labels : array-like of shape (n,), optional
        Breed per image, shown in the row title.
    label_names : sequence, optional
        Breed names for ``labels``.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skreid.datasets import make_pets
    >>> from skreid.plotting import plot_segmentation_overlays
    >>> pets = make_pets(n_samples=4, image_size=(32, 32), random_state=0)
    >>> fig = plot_segmentation_overlays(pets.images, pets.masks, pets.masks, n_images=2)
    """
    images = as_image_batch(images)
    n_images = check_positive_int(n_images, "n_images")
    masks = [np.asarray(true_masks)] + ([] if pred_masks is None else [np.asarray(pred_masks)])
    for name, m in zip(("true_masks", "pred_masks"), masks, strict=False):
        if m.shape != images.shape[:3]:
            raise ValueError(f"{name} must have shape {images.shape[:3]}, got {m.shape}.")
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}.")
    n = min(n_images, len(images))
    titles = ["image", "true mask"] + (["predicted mask"] if pred_masks is not None else [])
    fig, axes = grid_figure(n, len(titles), cell=(2.0, 2.0))
    for r in range(n):
        name = None
        if labels is not None:
            name = labels[r] if label_names is None else label_names[int(labels[r])]
        show_image(axes[r, 0], images[r], None if name is None else str(name))
        for c, m in enumerate(masks, start=1):
            _mask_overlay(axes[r, c], images[r], m[r], ignore_value, alpha)
    for c, t in enumerate(titles):
        axes[0, c].set_title(t if c or labels is None else f"{t}\n{axes[0, 0].get_title()}",
                             fontsize=9)
    from matplotlib.patches import Patch

    fig.legend(
        handles=[
            Patch(color=_MASK_COLORS[k], label=_MASK_NAMES[k]) for k in (0, 2)
        ],
        loc="lower center",
        ncols=2,
        fontsize=8,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    # keep ~0.4 inch at the bottom for the legend, whatever the number of rows
    fig.tight_layout(rect=(0, min(0.3, 0.4 / fig.get_figheight()), 1, 1))
    return fig
