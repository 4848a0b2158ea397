"""Re-ID, classification and segmentation metrics, and scorers for model selection.

Pure NumPy/SciPy/scikit-learn: importing this package never imports Keras.

Distances between features come from :mod:`skreid.metrics.pairwise`, the one blocked distance
engine of skreid (with k-reciprocal re-ranking and query expansion), on which the evaluation
here, the gallery search and the estimators build.

Ranking (re-ID, Market-1501 protocol): :func:`evaluate_reid` (from features or distances),
:func:`cmc_curve`, :func:`mean_average_precision`, :func:`mean_inverse_negative_penalty`;
the validation rank-1 of training: :func:`single_shot_rank1`, :func:`leave_one_out_rank1`.
Classification and segmentation: :func:`top_n_accuracy_score`, :func:`pixel_accuracy_score`,
:func:`iou_score`. Scorers for ``GridSearchCV``/``cross_validate``: :func:`make_top_n_scorer`,
:func:`make_map_scorer`.
"""

from skreid.metrics._classification import top_n_accuracy_score
from skreid.metrics._evaluate import evaluate_reid
from skreid.metrics._ranking import (
    cmc_curve,
    mean_average_precision,
    mean_inverse_negative_penalty,
)
from skreid.metrics._scorers import ReIDScorer, make_map_scorer, make_top_n_scorer
from skreid.metrics._segmentation import iou_score, pixel_accuracy_score
from skreid.metrics._single_shot import leave_one_out_rank1, single_shot_rank1

__all__ = [
    "ReIDScorer",
    "cmc_curve",
    "evaluate_reid",
    "iou_score",
    "leave_one_out_rank1",
    "make_map_scorer",
    "make_top_n_scorer",
    "mean_average_precision",
    "mean_inverse_negative_penalty",
    "pixel_accuracy_score",
    "single_shot_rank1",
    "top_n_accuracy_score",
]
