"""
Tuning a re-ID pipeline with GridSearchCV and identity-disjoint folds
=====================================================================

Re-ID is open-set: at test time the identities are new. Cross-validation must respect that,
so folds are split **by identity** (:class:`~sklearn.model_selection.GroupKFold` with the
identities as groups), and each validation fold is scored as a re-ID problem: the shared
scorer :func:`skreid.metrics.make_top_n_scorer` embeds the fold, ranks every image against the
others and returns the CMC at rank *n*. The same scorer works on any estimator with
``transform`` (here :class:`~skreid.reid.PCAReID`) and on classifiers with ``predict_proba``.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV, GroupKFold

from skreid.datasets import load_market1501, make_people
from skreid.metrics import make_top_n_scorer
from skreid.preprocessing import ResizeImages
from skreid.reid import PCAReID

DATA = os.environ.get("SKREID_TEST_DATA")
if DATA:
    train = load_market1501(os.path.join(DATA, "market1501", "cab420_subset")).train
    keep = train.person_ids <= 100  # 100 of the 300 training identities keep it to a minute
    X, y = train.images[keep], train.person_ids[keep]
else:
    people = make_people(n_identities=60, n_images_per_identity=6, n_cameras=3,
                         random_state=0)
    X, y = people.images, people.person_ids

# Resizing to the report's 64x32 has nothing to tune: do it once, outside the search.
X = ResizeImages((64, 32)).fit_transform(X)

# %%
# The grid: number of PCA components (as explained-variance fractions) and whitening
# ------------------------------------------------------------------------------------
search = GridSearchCV(
    PCAReID(grayscale=True),
    param_grid={"n_components": [0.8, 0.9, 0.95, 0.99], "whiten": [False, True]},
    scoring={"top1": make_top_n_scorer(1), "top5": make_top_n_scorer(5)},
    refit="top1",
    cv=GroupKFold(n_splits=3),
)
search.fit(X, y, groups=y)  # groups=y: no identity is in both a training and validation fold
print("best:", search.best_params_, f"Top-1 {search.best_score_:.3f}")

# %%
# Validation Top-1 across the grid
# --------------------------------
cv = search.cv_results_
fig, ax = plt.subplots(figsize=(6, 4))
for whiten in (False, True):
    sel = np.asarray(cv["param_whiten"]) == whiten
    fractions = np.asarray(cv["param_n_components"], dtype=float)[sel]
    ax.errorbar(100 * fractions, 100 * cv["mean_test_top1"][sel],
                yerr=100 * cv["std_test_top1"][sel], marker="o", capsize=3,
                label=f"whiten={whiten}")
ax.set_xlabel("explained variance kept (%)")
ax.set_ylabel("validation Top-1 (%)")
ax.set_title("PCAReID, 3 identity-disjoint folds")
ax.legend()
plt.show()
