"""
Grid search on a Dask cluster
=============================

A ``GridSearchCV`` fits one model per setting and fold; on a cluster each of these is one
Dask task. Nothing in the search changes: joblib's Dask backend
(``joblib.parallel_config(backend="dask")``) sends the tasks to the workers of a
``distributed`` cluster, with skreid's identity-disjoint folds and re-ID scorers as usual.
Here the cluster is a :class:`~distributed.LocalCluster` of two worker processes on this
machine; with ``Client("tcp://scheduler:8786")`` the same code runs on many machines (see the
user guide, "When one machine is not enough"). The results equal the local run's.
"""

# %%
import time

import joblib
import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from sklearn.model_selection import GridSearchCV

from skreid.datasets import make_people
from skreid.metrics import make_map_scorer, make_top_n_scorer
from skreid.model_selection import IdentityKFold
from skreid.preprocessing import ResizeImages
from skreid.reid import PCAReID

people = make_people(n_identities=60, n_images_per_identity=6, n_cameras=3, random_state=0)
X, y = ResizeImages((64, 32)).fit_transform(people.images), people.person_ids


def make_search():
    return GridSearchCV(
        PCAReID(grayscale=True, random_state=0),
        param_grid={"n_components": [0.8, 0.9, 0.95, 0.99], "whiten": [False, True]},
        scoring={"top1": make_top_n_scorer(1), "map": make_map_scorer()},
        refit="top1",
        cv=IdentityKFold(n_splits=3),  # no identity in both a training and a validation fold
        n_jobs=-1,
    )


# %%
# The same search, locally and on the cluster
# -------------------------------------------
# Two worker processes with one thread each (``processes=True``: like separate machines,
# each task unpickles the estimator and the data in another Python process). Scripts that
# start a ``LocalCluster`` guard it with ``if __name__ == "__main__"``: Dask starts its
# worker processes by re-importing the script.
if __name__ == "__main__":
    start = time.perf_counter()
    local = make_search().fit(X, y)
    local_s = time.perf_counter() - start

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      host="127.0.0.1", dashboard_address=None) as cluster, \
            Client(cluster) as client:
        start = time.perf_counter()
        with joblib.parallel_config(backend="dask"):
            remote = make_search().fit(X, y)
        remote_s = time.perf_counter() - start

    same = np.array_equal(local.cv_results_["mean_test_top1"],
                          remote.cv_results_["mean_test_top1"])
    print(f"local {local_s:.1f} s, cluster {remote_s:.1f} s; best {remote.best_params_} "
          f"(local: {local.best_params_}); identical scores: {same}")

    # Validation Top-1 across the grid: the cluster's bars equal the local ones
    fig, ax = plt.subplots(figsize=(6, 4))
    labels = [f"{p['n_components']}\n{'white' if p['whiten'] else 'raw'}"
              for p in local.cv_results_["params"]]
    pos = np.arange(len(labels))
    ax.bar(pos - 0.2, 100 * local.cv_results_["mean_test_top1"], 0.4, label="local")
    ax.bar(pos + 0.2, 100 * remote.cv_results_["mean_test_top1"], 0.4, label="Dask cluster")
    ax.set_xticks(pos, labels)
    ax.set_xlabel("n_components (explained variance) / whitening")
    ax.set_ylabel("validation Top-1 (%)")
    ax.set_title("PCAReID, 3 identity-disjoint folds")
    ax.legend()
    plt.show()
