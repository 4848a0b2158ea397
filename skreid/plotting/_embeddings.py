"""t-SNE map of embeddings (re-ID identities or pet breeds), drawn with sklearn's TSNE."""

import numpy as np

from skreid.plotting._common import get_ax

__all__ = ["plot_embedding_tsne"]


def plot_embedding_tsne(
    embeddings,
    labels,
    *,
    label_names=None,
    perplexity=30.0,
    random_state=None,
    max_legend=20,
    ax=None,
    title="t-SNE of the embeddings",
):
    """Project embeddings to 2-D with :class:`sklearn.manifold.TSNE`, coloured by label.

    Parameters
    ----------
    embeddings : array-like of shape (n, d)
        E.g. ``estimator.transform(X)``. Already 2-D embeddings (``d == 2``) are drawn as they are.
    labels : array-like of shape (n,)
        Identity or breed of each point.
    label_names : sequence or mapping, optional
        Legend text for each label value.
    perplexity : float, default=30.0
        t-SNE perplexity; lowered automatically to ``(n - 1) / 3`` for small samples
        (t-SNE needs ``perplexity < n``).
    random_state : int or None, default=None
        Seed of t-SNE.
    max_legend : int, default=20
        A legend is drawn only up to this many labels (re-ID has hundreds).
    ax : matplotlib Axes, optional
    title : str, default="t-SNE of the embeddings"

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.plotting import plot_embedding_tsne
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.normal(0, 1, (10, 5)), rng.normal(4, 1, (10, 5))])
    >>> ax = plot_embedding_tsne(X, [0] * 10 + [1] * 10, label_names=["cat", "dog"],
    ...                          random_state=0)
    """
    from sklearn.manifold import TSNE

    X = np.asarray(embeddings, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2 or X.shape[1] < 1:
        raise ValueError(f"embeddings must have shape (n >= 2, d >= 1), got {X.shape}.")
    if not np.all(np.isfinite(X)):
        raise ValueError("embeddings contain NaN or infinite values.")
    labels = np.asarray(labels)
    if labels.shape != (len(X),):
        raise ValueError(f"labels must have shape ({len(X)},), got {labels.shape}.")
    if X.shape[1] == 2:
        points = X
    else:
        perp = float(min(perplexity, max(1.0, (len(X) - 1) / 3)))
        points = TSNE(
            n_components=2,
            perplexity=perp,
            init="pca",
            learning_rate="auto",
            # exact gradients are faster than Barnes-Hut's tree (and its threads) below a
            # few hundred points, which is what these figures show
            method="exact" if len(X) <= 500 else "barnes_hut",
            random_state=random_state,
        ).fit_transform(X)
    ax = get_ax(ax, figsize=(6, 5))
    classes = np.unique(labels)
    import matplotlib as mpl

    cmap = mpl.colormaps["tab20" if len(classes) > 10 else "tab10"]
    for k, cls in enumerate(classes):
        sel = labels == cls
        name = cls
        if label_names is not None:
            try:
                name = label_names[int(cls)]
            except (IndexError, KeyError, TypeError, ValueError):
                pass
        ax.scatter(points[sel, 0], points[sel, 1], s=12, color=cmap(k % cmap.N), label=str(name))
    if len(classes) <= max_legend:
        ax.legend(fontsize=7, markerscale=1.5, loc="best", ncols=1 + len(classes) // 12)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return ax
