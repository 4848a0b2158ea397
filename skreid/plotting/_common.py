"""Helpers shared by the plotting modules: image display and figure creation.

matplotlib is imported inside functions so that ``import skreid.plotting`` stays cheap and
never changes the user's backend.
"""

import numpy as np

from skreid.utils import check_positive_int  # noqa: F401 (shared by the plotting modules)

# Frame colours of the ranked-matches grid (colour-blind safe tab10 green and red).
MATCH_COLOR = "#2ca02c"
MISMATCH_COLOR = "#d62728"


def to_display(image):
    """Return ``(array, cmap)`` ready for ``imshow`` from one image of any supported layout.

    uint8 images are shown as they are; float images in [0, 255] are scaled to [0, 1]
    (float images already in [0, 1] are left alone); one-channel images use a grey colormap.
    """
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[-1] not in (3, 4)):
        raise ValueError(
            f"an image must have shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), got {img.shape}."
        )
    if img.dtype != np.uint8:
        img = img.astype(np.float32)
        finite = img[np.isfinite(img)]
        if finite.size and finite.max() > 1.0 + 1e-6:
            img = img / 255.0
        img = np.clip(img, 0.0, 1.0)
    if img.ndim == 2:
        # vmin/vmax fixed so a dark grey image is not stretched to full contrast
        return img, {"cmap": "gray", "vmin": 0, "vmax": 255 if img.dtype == np.uint8 else 1}
    return img, {}


def show_image(ax, image, title=None, fontsize=8):
    """Draw one image on ``ax`` without ticks (spines kept so frames can be coloured)."""
    arr, kwargs = to_display(image)
    ax.imshow(arr, interpolation="nearest", **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(str(title), fontsize=fontsize)
    return ax


def as_image_batch(images, name="images"):
    """Validate a batch of images for display: ``(n, h, w)`` or ``(n, h, w, c)``, n >= 1."""
    arr = np.asarray(images)
    if arr.ndim not in (3, 4) or arr.shape[0] < 1:
        raise ValueError(
            f"{name} must be a non-empty array of shape (n, h, w) or (n, h, w, c), "
            f"got shape {arr.shape}."
        )
    return arr


def grid_figure(n_rows, n_cols, cell=(1.2, 2.0), **kwargs):
    """Create a pyplot figure with an ``n_rows`` x ``n_cols`` grid of image axes (2-D array)."""
    import matplotlib.pyplot as plt

    width, height = cell
    fig, axes = plt.subplots(
        n_rows,
        n_cols,
        figsize=(max(2.0, width * n_cols), max(1.5, height * n_rows)),
        squeeze=False,
        **kwargs,
    )
    return fig, axes


def get_ax(ax, figsize=(6, 4)):
    """Return ``ax`` or a new pyplot axes of ``figsize``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize)
    return ax


def pick(n_total, n_wanted, random_state=None):
    """Indices of ``n_wanted`` items of ``n_total``: the first ones, or a random sample."""
    n = min(n_total, n_wanted)
    if random_state is None:
        return np.arange(n)
    from sklearn.utils import check_random_state

    rng = check_random_state(random_state)
    return np.sort(rng.choice(n_total, size=n, replace=False))
