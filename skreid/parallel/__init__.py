"""Scale out on Dask: embed image collections across workers, and the rules for Keras there.

Model selection needs nothing from this package: scikit-learn's ``GridSearchCV``,
``RandomizedSearchCV`` and ``cross_validate`` run on a ``distributed`` cluster under
``joblib.parallel_config(backend="dask")``, with skreid's scorers and identity-disjoint folds,
and give the local run's results. What this package adds:

- :func:`embed_images`: embed many image files on the workers (each holds the model once);
- the TensorFlow thread rule (:func:`tensorflow_thread_count`; ``SKREID_TF_THREADS`` or the
  worker's ``nthreads``) and :class:`TensorFlowThreads`, a worker plugin applying it;
- :func:`connect`: a client for a scheduler address, with a clear error after a timeout;
  :func:`check_scheduler_address` and :func:`check_timeout` refuse a malformed address or
  timeout at once, without importing Dask.

``dask`` and ``distributed`` are imported only when a function needs them
(``pip install "skreid[dask]"``); ``embed_images(..., client=None)`` runs without them.
"""

import importlib

from skreid.parallel._embed import (
    EmbeddedImages,
    check_scheduler_address,
    check_timeout,
    embed_images,
    load_model_file,
)
from skreid.utils.tf_threads import limit_tensorflow_threads, tensorflow_thread_count

# these need distributed: imported on first access (PEP 562)
_LAZY = {"TensorFlowThreads": "skreid.parallel._dask", "connect": "skreid.parallel._dask"}

__all__ = [
    "EmbeddedImages",
    "TensorFlowThreads",
    "check_scheduler_address",
    "check_timeout",
    "connect",
    "embed_images",
    "limit_tensorflow_threads",
    "load_model_file",
    "tensorflow_thread_count",
]


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'skreid.parallel' has no attribute {name!r}")


def __dir__():
    return sorted(__all__)
