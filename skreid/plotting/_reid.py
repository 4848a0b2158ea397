"""Re-ID figures: CMC curves of several methods, and the ranked-matches grid."""

import numpy as np

from skreid.plotting._common import (
    MATCH_COLOR,
    MISMATCH_COLOR,
    as_image_batch,
    check_positive_int,
    get_ax,
    grid_figure,
    show_image,
)

__all__ = ["plot_cmc_curves", "plot_ranked_matches"]


def _cmc_of(name, result):
    if isinstance(result, dict):
        if "cmc" not in result:
            raise ValueError(
                f"results[{name!r}] is a dict without a 'cmc' entry; pass the dict returned "
                "by skreid.metrics.evaluate_reid or a CMC array."
            )
        result = result["cmc"]
    cmc = np.asarray(result, dtype=float).ravel()
    if cmc.size == 0 or not np.all(np.isfinite(cmc)):
        raise ValueError(f"results[{name!r}] must be a non-empty finite CMC array.")
    return cmc


def plot_cmc_curves(results, *, max_rank=None, ax=None, title="CMC curves"):
    """Plot the cumulative matching characteristic of several methods on one axes.

    Parameters
    ----------
    results : mapping of str to array-like or dict
        Method name -> its CMC (``cmc[k]`` = fraction of queries with a true match in the
        top ``k + 1``), or the dict returned by :func:`skreid.metrics.evaluate_reid`.
    max_rank : int, optional
        Last rank drawn (default: the longest curve).
    ax : matplotlib Axes, optional
        Axes to draw on; a new figure is created when ``None``.
    title : str, default="CMC curves"

    Returns
    -------
    ax : matplotlib.axes.Axes

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.plotting import plot_cmc_curves
    >>> ax = plot_cmc_curves({"PCA": np.linspace(0.1, 0.6, 20),
    ...                       "triplet": np.linspace(0.5, 0.95, 20)})
    """
    if not hasattr(results, "items") or len(results) == 0:
        raise ValueError(
            "results must be a non-empty mapping of method name -> CMC array or "
            f"evaluate_reid dict, got {type(results).__name__}."
        )
    if max_rank is not None:
        max_rank = check_positive_int(max_rank, "max_rank")
    ax = get_ax(ax)
    for name, result in results.items():
        cmc = _cmc_of(name, result)
        if max_rank is not None:
            cmc = cmc[:max_rank]
        ranks = np.arange(1, len(cmc) + 1)
        ax.plot(ranks, 100 * cmc, marker="o" if len(cmc) <= 20 else None, markersize=3,
                label=f"{name} (rank-1 {100 * cmc[0]:.1f}%)")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # ranks are whole numbers
    ax.set_xlabel("rank")
    ax.set_ylabel("matching rate (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=1)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def _ranking(distances, query_ids, gallery_ids, query_cameras, gallery_cameras):
    """Gallery order per query, best first, with Market-1501 junk (same id + camera) removed."""
    order = np.argsort(distances, axis=1, kind="stable")
    rankings = []
    for q in range(len(order)):
        keep = np.ones(order.shape[1], dtype=bool)
        if query_cameras is not None:
            g = order[q]
            keep = ~((gallery_ids[g] == query_ids[q]) & (gallery_cameras[g] == query_cameras[q]))
        rankings.append(order[q][keep])
    return rankings


def plot_ranked_matches(
    query_images,
    query_ids,
    gallery_images,
    gallery_ids,
    *,
    distances=None,
    indices=None,
    query_cameras=None,
    gallery_cameras=None,
    n_matches=5,
    n_queries=None,
):
    """Draw each query followed by its top-``n_matches`` gallery images.

    Correct matches (same identity as the query) are framed green, wrong ones red.

    Parameters
    ----------
    query_images : array-like of shape (n_q, h, w[, c])
    query_ids : array-like of shape (n_q,)
    gallery_images : array-like of shape (n_g, h', w'[, c])
    gallery_ids : array-like of shape (n_g,)
    distances : array-like of shape (n_q, n_g), optional
        Query-gallery distances (smaller = closer). Give either this or ``indices``.
    indices : array-like of int, shape (n_q, k), optional
        Gallery indices already ranked best first, e.g. from ``estimator.kneighbors``.
    query_cameras, gallery_cameras : array-like, optional
        With ``distances``: apply the Market-1501 rule (a gallery image of the query's identity
        taken by the query's camera is not shown), as :func:`skreid.metrics.evaluate_reid` does.
    n_matches : int, default=5
        Gallery images per row.
    n_queries : int, optional
        Rows to draw (default: all queries).

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.plotting import plot_ranked_matches
    >>> rng = np.random.default_rng(0)
    >>> q, g = rng.random((2, 8, 4)), rng.random((6, 8, 4))
    >>> fig = plot_ranked_matches(q, [1, 2], g, [1, 2, 3, 1, 2, 3],
    ...                           distances=rng.random((2, 6)), n_matches=3)
    """
    query_images = as_image_batch(query_images, "query_images")
    gallery_images = as_image_batch(gallery_images, "gallery_images")
    query_ids, gallery_ids = np.asarray(query_ids), np.asarray(gallery_ids)
    n_matches = check_positive_int(n_matches, "n_matches")
    if len(query_ids) != len(query_images) or len(gallery_ids) != len(gallery_images):
        raise ValueError(
            f"query_ids ({len(query_ids)}) and gallery_ids ({len(gallery_ids)}) must have one "
            f"entry per image ({len(query_images)} queries, {len(gallery_images)} gallery)."
        )
    if (distances is None) == (indices is None):
        raise ValueError("give exactly one of distances= or indices=.")
    if (query_cameras is None) != (gallery_cameras is None):
        raise ValueError("query_cameras and gallery_cameras must be given together.")
    if distances is not None:
        distances = np.asarray(distances, dtype=float)
        if distances.shape != (len(query_images), len(gallery_images)):
            raise ValueError(
                f"distances must have shape (n_queries, n_gallery) = "
                f"{(len(query_images), len(gallery_images))}, got {distances.shape}."
            )
        cams = (None, None)
        if query_cameras is not None:
            cams = (np.asarray(query_cameras), np.asarray(gallery_cameras))
        rankings = _ranking(distances, query_ids, gallery_ids, *cams)
    else:
        indices = np.asarray(indices)
        if (
            indices.ndim != 2
            or len(indices) != len(query_images)
            or not np.issubdtype(indices.dtype, np.integer)
            or (indices.size and (indices.min() < 0 or indices.max() >= len(gallery_images)))
        ):
            raise ValueError(
                f"indices must be an int array of shape (n_queries={len(query_images)}, k) with "
                f"values in [0, {len(gallery_images)}), got shape {indices.shape}."
            )
        rankings = list(indices)
    n_rows = len(query_images) if n_queries is None else min(
        check_positive_int(n_queries, "n_queries"), len(query_images)
    )
    h, w = query_images.shape[1:3]
    fig, axes = grid_figure(n_rows, n_matches + 1, cell=(1.4 * max(w / h, 0.5), 1.6))
    for r in range(n_rows):
        show_image(axes[r, 0], query_images[r], f"query {query_ids[r]}")
        for side in axes[r, 0].spines.values():
            side.set_linewidth(2.5)
            side.set_edgecolor("black")
        top = rankings[r][:n_matches]
        for c in range(n_matches):
            ax = axes[r, c + 1]
            if c >= len(top):
                ax.axis("off")
                continue
            g = top[c]
            correct = gallery_ids[g] == query_ids[r]
            show_image(ax, gallery_images[g], f"#{c + 1}: {gallery_ids[g]}")
            # the frame is the answer: green = same identity as the query, red = another one
            for side in ax.spines.values():
                side.set_linewidth(4)
                side.set_edgecolor(MATCH_COLOR if correct else MISMATCH_COLOR)
    fig.tight_layout()
    return fig
