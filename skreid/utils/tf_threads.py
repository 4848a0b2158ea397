"""How many threads TensorFlow may use: the worker's share, never the whole machine.

A Dask worker runs ``nthreads`` tasks at once in one process, and several worker processes
usually share a machine (``dask worker --nworkers 4 --nthreads 1``). TensorFlow, left alone,
sizes its thread pools to every core of the machine in *each* process, so four workers on four
cores start 4 x (4 + 4) compute threads and thrash. The rule skreid applies when it first
imports TensorFlow (``skreid._keras._base.import_keras``), before TensorFlow initialises:

1. ``SKREID_TF_THREADS=N`` in the environment: intra- and inter-op pools of ``N`` threads;
2. otherwise, inside a Dask worker: ``N`` = the worker's ``nthreads`` (its share of cores);
3. otherwise TensorFlow's own default (all cores), as before.

:class:`skreid.parallel.TensorFlowThreads` (a worker plugin) writes rule 1 into each worker's
environment, for workers that import TensorFlow before skreid does.

This module imports neither TensorFlow nor Dask.
"""

import os
import sys
import warnings

ENV_VAR = "SKREID_TF_THREADS"

__all__ = ["ENV_VAR", "tensorflow_thread_count", "limit_tensorflow_threads"]


def _env_threads():
    value = os.environ.get(ENV_VAR, "").strip()
    if not value:
        return None
    try:
        n = int(value)
    except ValueError:
        n = 0
    if n < 1:
        raise ValueError(f"{ENV_VAR} must be a positive int, got {value!r}.")
    return n


def _dask_worker_threads():
    # only ask distributed when it is already imported: this process is then maybe a worker
    distributed = sys.modules.get("distributed")
    if distributed is None:
        return None
    try:
        worker = distributed.get_worker()
    except (ValueError, AttributeError):
        return None
    n = getattr(worker.state, "nthreads", None) if hasattr(worker, "state") else None
    return int(n or worker.nthreads)


def tensorflow_thread_count():
    """The number of TensorFlow threads skreid's rule gives this process (None: TF's default).

    Returns
    -------
    n_threads : int or None
        From ``SKREID_TF_THREADS`` if set, else the Dask worker's ``nthreads`` when called
        inside a worker task, else None.

    Examples
    --------
    >>> import os
    >>> from skreid.parallel import tensorflow_thread_count
    >>> os.environ["SKREID_TF_THREADS"] = "2"
    >>> tensorflow_thread_count()
    2
    >>> del os.environ["SKREID_TF_THREADS"]
    """
    n = _env_threads()
    return n if n is not None else _dask_worker_threads()


def limit_tensorflow_threads(tf=None):
    """Apply the thread rule to TensorFlow (called by skreid right after importing it).

    Parameters
    ----------
    tf : module or None, default=None
        The ``tensorflow`` module; None imports it.

    Returns
    -------
    n_threads : int or None
        The pool size set, or None when the rule leaves TensorFlow's default.

    Notes
    -----
    TensorFlow fixes its pools when its runtime starts (the first op); once started they
    cannot change, so a later call only warns if the pools differ from the rule.
    """
    n = tensorflow_thread_count()
    if n is None:
        return None
    if tf is None:
        import tensorflow as tf
    threading = tf.config.threading
    current = (threading.get_intra_op_parallelism_threads(),
               threading.get_inter_op_parallelism_threads())
    if current == (n, n):
        return n
    try:
        threading.set_intra_op_parallelism_threads(n)
        threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        warnings.warn(
            f"TensorFlow was already running when skreid tried to limit it to {n} threads "
            f"({ENV_VAR} / the Dask worker's nthreads); its pools keep their size. Import "
            "skreid's Keras estimators before running TensorFlow code, or register "
            "skreid.parallel.TensorFlowThreads on the workers.",
            RuntimeWarning,
            stacklevel=2,
        )
        return None
    return n
