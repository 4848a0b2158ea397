"""Every figure of the report, and the ones users ask for (matplotlib).

Each function draws with matplotlib's pyplot, returns the Figure (grids of images) or the Axes
(single plots, which take ``ax=``), and never imports Keras. matplotlib itself is imported on
the first call, so ``import skreid.plotting`` is cheap and leaves the backend alone.
"""

from skreid.plotting._activation import plot_activation_maps
from skreid.plotting._embeddings import plot_embedding_tsne
from skreid.plotting._history import plot_training_history
from skreid.plotting._images import plot_image_samples, plot_pca_reconstructions, plot_triplets
from skreid.plotting._pets import plot_confusion_matrix, plot_segmentation_overlays
from skreid.plotting._reid import plot_cmc_curves, plot_ranked_matches

__all__ = [
    "plot_image_samples",
    "plot_triplets",
    "plot_pca_reconstructions",
    "plot_cmc_curves",
    "plot_ranked_matches",
    "plot_embedding_tsne",
    "plot_confusion_matrix",
    "plot_segmentation_overlays",
    "plot_training_history",
    "plot_activation_maps",
]
