"""Image grids: labelled samples, anchor/positive/negative triplets, PCA reconstructions."""

import numbers

import numpy as np

from skreid.plotting._common import (
    as_image_batch,
    check_positive_int,
    grid_figure,
    pick,
    show_image,
)

__all__ = ["plot_image_samples", "plot_triplets", "plot_pca_reconstructions"]


def _label_text(labels, label_names, i):
    if labels is None:
        return None
    label = labels[i]
    if label_names is not None:
        try:
            return str(label_names[int(label)])
        except (IndexError, KeyError, TypeError, ValueError):
            pass
    return str(label)


def plot_image_samples(
    images,
    labels=None,
    *,
    n_images=16,
    n_cols=8,
    label_names=None,
    random_state=None,
    title=None,
):
    """Draw a grid of images, each titled with its label.

    Parameters
    ----------
    images : array-like of shape (n, h, w) or (n, h, w, c)
        uint8 images, or floats in [0, 1] or [0, 255].
    labels : array-like of shape (n,), optional
        Identity, breed or any label shown above each image.
    n_images : int, default=16
        How many images to draw (at most ``n``).
    n_cols : int, default=8
        Images per row.
    label_names : sequence or mapping, optional
        Text shown for each label value (e.g. breed names).
    random_state : int, RandomState or None, default=None
        ``None`` draws the first ``n_images``; otherwise a random sample.
    title : str, optional
        Figure title.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.plotting import plot_image_samples
    >>> people = make_people(n_identities=4, n_images_per_identity=2, random_state=0)
    >>> fig = plot_image_samples(people.images, people.person_ids, n_images=8, n_cols=4)
    """
    images = as_image_batch(images)
    n_images = check_positive_int(n_images, "n_images")
    n_cols = check_positive_int(n_cols, "n_cols")
    if labels is not None:
        labels = np.asarray(labels)
        if len(labels) != len(images):
            raise ValueError(
                f"labels must have one entry per image ({len(images)}), got {len(labels)}."
            )
    idx = pick(len(images), n_images, random_state)
    n_cols = min(n_cols, len(idx))
    n_rows = int(np.ceil(len(idx) / n_cols))
    h, w = images.shape[1:3]
    fig, axes = grid_figure(n_rows, n_cols, cell=(1.6 * max(w / h, 0.5), 1.6 + 0.3))
    for k, ax in enumerate(axes.ravel()):
        if k < len(idx):
            show_image(ax, images[idx[k]], _label_text(labels, label_names, idx[k]))
        else:
            ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def _sample_triplets(labels, n_triplets, rng):
    """(anchor, positive, negative) index triples; anchors need a second image of their id."""
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    usable = classes[counts >= 2]
    if len(usable) == 0 or len(classes) < 2:
        raise ValueError(
            "plot_triplets needs at least one label with 2+ images and at least 2 labels, "
            f"got {len(classes)} label(s), {len(usable)} with 2+ images."
        )
    out = []
    for cls in rng.choice(usable, size=n_triplets, replace=len(usable) < n_triplets):
        same = np.flatnonzero(labels == cls)
        anchor, positive = rng.choice(same, size=2, replace=False)
        negative = rng.choice(np.flatnonzero(labels != cls))
        out.append((anchor, positive, negative))
    return np.asarray(out, dtype=int)


def plot_triplets(images, labels, *, n_triplets=4, triplets=None, random_state=None):
    """Draw anchor / positive / negative triplets, one triplet per row.

    Parameters
    ----------
    images : array-like of shape (n, h, w) or (n, h, w, c)
    labels : array-like of shape (n,)
        Identity labels; positives share the anchor's label, negatives do not.
    n_triplets : int, default=4
        Rows to draw when ``triplets`` is not given.
    triplets : array-like of shape (k, 3), optional
        Explicit (anchor, positive, negative) indices into ``images``; sampled when ``None``.
    random_state : int, RandomState or None, default=None
        Seed of the triplet sampling.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.plotting import plot_triplets
    >>> people = make_people(n_identities=5, n_images_per_identity=3, random_state=0)
    >>> fig = plot_triplets(people.images, people.person_ids, n_triplets=2, random_state=0)
    """
    from sklearn.utils import check_random_state

    images = as_image_batch(images)
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(
            f"labels must have one entry per image ({len(images)}), got {len(labels)}."
        )
    if triplets is None:
        n_triplets = check_positive_int(n_triplets, "n_triplets")
        triplets = _sample_triplets(labels, n_triplets, check_random_state(random_state))
    else:
        triplets = np.asarray(triplets)
        if (
            triplets.ndim != 2
            or triplets.shape[1] != 3
            or len(triplets) == 0
            or not np.issubdtype(triplets.dtype, np.integer)
            or triplets.min() < 0
            or triplets.max() >= len(images)
        ):
            raise ValueError(
                "triplets must be a non-empty (k, 3) int array of indices into images, "
                f"got shape {triplets.shape}."
            )
    h, w = images.shape[1:3]
    fig, axes = grid_figure(len(triplets), 3, cell=(1.8 * max(w / h, 0.5), 1.9))
    for row, (a, p, n) in enumerate(triplets):
        for col, (name, i) in enumerate((("anchor", a), ("positive", p), ("negative", n))):
            show_image(axes[row, col], images[i], f"{name}: {labels[i]}")
    fig.tight_layout()
    return fig


def _flat(images):
    return np.asarray(images, dtype=np.float64).reshape(len(images), -1)


def plot_pca_reconstructions(
    images,
    n_components=(0.90, 0.95, 0.99),
    *,
    fit_images=None,
    n_images=5,
    random_state=None,
):
    """Show images next to their PCA reconstructions at several explained-variance levels.

    The report's Figure 2: the fewer components, the blurrier the "eigen-person".

    Parameters
    ----------
    images : array-like of shape (n, h, w) or (n, h, w, c)
        Images to reconstruct (the first ``n_images`` are drawn).
    n_components : sequence, default=(0.90, 0.95, 0.99)
        One row per entry. A float in (0, 1) is an explained-variance fraction and an int a
        number of components, both fitted here with :class:`sklearn.decomposition.PCA` on
        ``fit_images``; an already fitted object with ``transform`` and ``inverse_transform``
        (a ``PCA``, a :class:`~skreid.reid.PCAReID`, a Pipeline) is used as it is.
    fit_images : array-like, optional
        Images the PCAs are fitted on (default: ``images``).
    n_images : int, default=5
        Columns to draw.
    random_state : int or None, default=None
        Passed to the PCAs fitted here.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.plotting import plot_pca_reconstructions
    >>> people = make_people(n_identities=10, n_images_per_identity=4,
    ...                      image_shape=(32, 16, 3), random_state=0)
    >>> fig = plot_pca_reconstructions(people.images, (0.5, 0.9), n_images=3)
    """
    from sklearn.decomposition import PCA

    images = as_image_batch(images)
    n_images = check_positive_int(n_images, "n_images")
    if isinstance(n_components, (numbers.Number, str)) or hasattr(n_components, "transform"):
        n_components = [n_components]
    if len(n_components) == 0:
        raise ValueError("n_components must list at least one level, got an empty sequence.")
    fit_images = images if fit_images is None else as_image_batch(fit_images, "fit_images")
    if fit_images.shape[1:] != images.shape[1:]:
        raise ValueError(
            f"fit_images have shape {fit_images.shape[1:]} per image, images {images.shape[1:]}."
        )
    shown = images[:n_images]
    rows = [("original", shown)]
    full = None  # one PCA serves every fraction and count: truncate its components
    for level in n_components:
        if hasattr(level, "transform") and hasattr(level, "inverse_transform"):
            model, label = level, type(level).__name__
            # fitted models may take images (skreid estimators) or flat vectors (sklearn PCA)
            try:
                recon = model.inverse_transform(model.transform(shown))
            except ValueError:
                recon = model.inverse_transform(model.transform(_flat(shown)))
        else:
            valid_int = isinstance(level, (int, np.integer)) and not isinstance(level, bool)
            valid_frac = isinstance(level, (float, np.floating)) and 0 < level < 1
            if not (valid_int and level >= 1) and not valid_frac:
                raise ValueError(
                    "each n_components entry must be a float in (0, 1), an int >= 1 or a fitted "
                    f"transformer with inverse_transform, got {level!r}."
                )
            if full is None:
                full = PCA(svd_solver="full", random_state=random_state).fit(_flat(fit_images))
            cumulative = np.cumsum(full.explained_variance_ratio_)
            if valid_frac:
                # the smallest k reaching the fraction, as PCA(n_components=level) picks it
                k = int(min(np.searchsorted(cumulative, level, side="right") + 1,
                            len(cumulative)))
                label = f"{level:.0%} var ({k} comp.)"
            else:
                k = int(min(level, len(cumulative)))
                label = f"{k} comp. ({cumulative[k - 1]:.0%} var)"
            comps = full.components_[:k]
            centred = _flat(shown) - full.mean_
            recon = centred @ comps.T @ comps + full.mean_
        recon = np.asarray(recon, dtype=np.float64)
        if recon.size != shown.size:
            raise ValueError(
                f"the reconstruction of {label} has {recon.size // len(shown)} values per image, "
                f"the images {shown[0].size}: the model was fitted on different inputs."
            )
        # reconstructions overshoot the pixel range; clip to the input's range for display
        lo, hi = (0.0, 255.0) if shown.dtype == np.uint8 or shown.max() > 1 else (0.0, 1.0)
        recon = np.clip(recon.reshape(shown.shape), lo, hi)
        if shown.dtype == np.uint8:
            recon = recon.astype(np.uint8)
        rows.append((label, recon))
    h, w = images.shape[1:3]
    fig, axes = grid_figure(len(rows), len(shown), cell=(1.5 * max(w / h, 0.5), 1.7))
    for r, (label, batch) in enumerate(rows):
        for c in range(len(shown)):
            show_image(axes[r, c], batch[c])
        axes[r, 0].set_ylabel(label, fontsize=8)
    fig.tight_layout()
    return fig
