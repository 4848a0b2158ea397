"""Training curves from a Keras estimator's ``history_``."""

import numpy as np

__all__ = ["plot_training_history"]


def plot_training_history(history, *, metrics=None, axes=None, title=None):
    """Plot losses (left) and validation/other metrics (right) per epoch.

    Parameters
    ----------
    history : dict of str to list of float, or a fitted estimator with ``history_``
        Per-epoch values, e.g. ``{"loss": [...], "val_loss": [...], "val_rank1": [...]}``.
    metrics : list of str, optional
        Keys drawn on the right axes (default: every key without "loss" or "time" in its
        name, so ``epoch_time`` is left out).
    axes : sequence of two matplotlib Axes, optional
        Where to draw (losses, metrics); a new 1 x 2 figure when ``None``.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skreid.plotting import plot_training_history
    >>> fig = plot_training_history({"loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7],
    ...                              "val_rank1": [0.2, 0.4, 0.5]})
    """
    if hasattr(history, "history_"):
        history = history.history_
    if not hasattr(history, "items") or not history:
        raise ValueError(
            "history must be a non-empty dict of per-epoch lists or a fitted estimator with "
            f"history_, got {type(history).__name__}."
        )
    curves = {}
    for key, values in history.items():
        arr = np.asarray(values, dtype=float).ravel()
        if arr.size:
            curves[str(key)] = arr
    if not curves:
        raise ValueError("history has no per-epoch values to plot.")
    losses = [k for k in curves if "loss" in k]
    if metrics is None:
        # bookkeeping such as epoch_time is not a metric of the model
        metrics = [k for k in curves if "loss" not in k and "time" not in k]
    else:
        missing = [m for m in metrics if m not in curves]
        if missing:
            raise ValueError(f"metrics {missing} are not in history (keys: {sorted(curves)}).")
    if axes is None:
        import matplotlib.pyplot as plt

        n_panels = 2 if (losses and metrics) else 1
        fig, axes = plt.subplots(1, n_panels, figsize=(5 * n_panels, 3.5), squeeze=False)
        axes = list(axes[0])
        if n_panels == 1:
            axes = axes * 2
    else:
        axes = list(axes)
        if len(axes) != 2:
            raise ValueError(f"axes must be two Axes (losses, metrics), got {len(axes)}.")
        fig = axes[0].figure
    for ax, keys, ylabel in ((axes[0], losses, "loss"), (axes[1], metrics, "value")):
        for key in keys:
            epochs = np.arange(1, len(curves[key]) + 1)
            ax.plot(epochs, curves[key], marker="o", markersize=3, label=key,
                    linestyle="--" if key.startswith("val_") else "-")
        if keys:
            ax.set_xlabel("epoch")
            ax.set_ylabel(ylabel)
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
