"""Shared base of every skreid Keras estimator: seeding, training loop, history, pickling.

How a subclass uses it
----------------------
Put :class:`KerasEstimatorMixin` left of ``BaseEstimator`` (and right of the sklearn
mixins)::

    class MyNet(ClassifierMixin, KerasEstimatorMixin, BaseEstimator):
        def __init__(self, epochs=10, batch_size=32, random_state=None, verbose=0,
                     warm_start=False):
            ...  # store the arguments unchanged, nothing else

        def fit(self, X, y, **fit_params):           # optional override for its docstring
            return self._fit(X, y, epochs=self.epochs, reset=not self.warm_start, **fit_params)

        # --- the hooks (called by _fit in this order) -------------------------------------
        def _validate_fit_data(self, X, y, reset, **fit_params):
            # validate everything BEFORE Keras sees it (skreid.utils.check_images); when
            # reset is False (warm start / partial_fit) check that X, y fit the existing
            # network. Return (X, y, fit_params).
        def _build_model(self, X, y, **fit_params):
            # called only for a fresh fit, inside the seeded context: build AND compile
            # the network from what the data says, set data-derived attributes
            # (classes_, n_features_in_ ...) and return the keras.Model (stored as model_).
        def _train(self, X, y, epochs, **fit_params):
            # optional: run the epochs and return {metric: [one value per epoch]}.
            # The default calls self.model_.fit(X, y, batch_size=self.batch_size, ...)
            # through self._keras_fit, which a custom _train can reuse.

        # --- export (skreid.export_onnx) ----------------------------------------------------
        def _inference_graph(self):
            # optional: the fitted estimator's inference as an InferenceGraph
            # (skreid._keras._export_protocol), e.g.
            # from skreid._keras._inference_graph.embedder_graph; the exporter converts it,
            # checks it against the estimator and writes it, whatever the class.

The estimator computes its fitted state from what these hooks and the helpers of
``skreid._keras`` return (the helpers take values, never the estimator).

Parameters the mixin reads from the subclass (each optional): ``random_state`` (int,
RandomState or None), ``verbose`` (0 silent, 1 Keras progress bar, 2 one line per epoch),
``warm_start`` (``fit`` continues training the existing ``model_``), ``epochs``,
``batch_size``.

What the mixin gives:

* ``fit`` / ``partial_fit`` (one epoch, always continuing) through ``_fit``;
* seeding: each ``_fit`` call seeds Python, NumPy and Keras/TensorFlow from
  ``random_state`` and restores the previous global Python and NumPy RNG states (and
  un-sets the TF / Keras global seed) afterwards, so later code is unaffected;
* ``history_``: a dict of per-epoch lists, appended to by warm starts and ``partial_fit``,
  plus ``n_epochs_`` (epochs trained so far);
* pickling: every attribute holding a ``keras.Model`` is saved with ``model.save`` to a
  temporary ``.keras`` file and stored as bytes; ``keras.saving.load_model`` restores it.
  Custom layers and losses must be registered with
  ``keras.saving.register_keras_serializable(package="skreid")``. Attributes named in the
  class attribute ``_keras_transient_attrs`` (caches such as an inference sub-model built
  from ``model_``) are dropped from the pickle and must be rebuilt lazily.

Keras is imported only through :func:`import_keras`, lazily, so importing this module
does not load TensorFlow.
"""

import contextlib
import os
import random
import sys
import tempfile
import time

import numpy as np
from sklearn.utils import check_random_state

from skreid._keras._seeding import thread_local_default_seeds


def import_keras():
    """Import and return the ``keras`` module (TensorFlow's C++ log noise silenced first).

    The first call also applies skreid's TensorFlow thread rule
    (:mod:`skreid.utils.tf_threads`), also when the caller imported TensorFlow (which imports
    Keras) before skreid: the pools can still be sized until TensorFlow runs its first op.

    Examples
    --------
    >>> from skreid._keras._base import import_keras
    >>> keras = import_keras()
    >>> keras.__version__ >= "3"
    True
    """
    global _THREAD_RULE_APPLIED
    keras = sys.modules.get("keras")
    if keras is not None and _THREAD_RULE_APPLIED:
        return keras
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # importing Keras/TensorFlow draws from Python's global RNG: hide that from the caller
    state = random.getstate()
    try:
        import keras

        if keras.backend.backend() == "tensorflow":
            import tensorflow

            # before TF's first op: its pools get the Dask worker's share of the cores
            from skreid.utils.tf_threads import limit_tensorflow_threads

            limit_tensorflow_threads(tensorflow)
        _THREAD_RULE_APPLIED = True
    finally:
        random.setstate(state)
    return keras


_THREAD_RULE_APPLIED = False


def _keras_loaded():
    return "keras" in sys.modules


#: ``run_eagerly="auto"``: a call of at most this many steps (training batches of a ``fit``
#: call, inference batches) runs eagerly; tracing its graph would cost more than it saves
AUTO_EAGER_STEPS = 64


def resolve_run_eagerly(run_eagerly, n_steps):
    """``True`` / ``False`` for a call of ``n_steps`` steps under ``run_eagerly``
    (``"auto"`` or a bool, the parameter of every skreid Keras estimator)."""
    if isinstance(run_eagerly, str) and run_eagerly == "auto":
        return int(n_steps) <= AUTO_EAGER_STEPS
    return bool(run_eagerly)


def keras_fit(model, x, y=None, *, epochs, initial_epoch=0, verbose=0, callbacks=None,
              **kwargs):
    """``model.fit`` for ``epochs`` epochs after ``initial_epoch``: its history as a dict of
    float lists, with the wall time of each epoch under ``"epoch_time"``."""
    keras = import_keras()
    timer = _EpochTimer(keras)
    hist = model.fit(x, y, epochs=initial_epoch + epochs, initial_epoch=initial_epoch,
                     verbose=verbose, callbacks=[timer, *(callbacks or [])], **kwargs)
    history = {k: [float(v) for v in vals] for k, vals in hist.history.items()}
    history["epoch_time"] = timer.times
    return history


def _is_keras_model(value):
    # no Keras model can exist before keras is imported: never import it just to check
    if not _keras_loaded():
        return False
    return isinstance(value, sys.modules["keras"].Model)


def seed_from_random_state(random_state):
    """Return an int seed in ``[0, 2**31 - 1)`` derived from ``random_state``.

    An int is used as is (so ``random_state=0`` means Keras seed 0); ``None`` or a
    ``RandomState`` draws one (``None`` uses NumPy's global RNG, as scikit-learn does).
    """
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        return int(random_state) % (2**31 - 1)
    return int(check_random_state(random_state).randint(0, 2**31 - 1))


@contextlib.contextmanager
def keras_seeded(seed):
    """Context manager: seed Python, NumPy and Keras/TF with ``seed``, restore on exit.

    On exit the global Python and NumPy RNG states are restored, the TensorFlow global
    seed is un-set and Keras's global seed generator is reset, so code that runs after a
    seeded ``fit`` sees the same randomness it would have seen without it.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid._keras._base import keras_seeded
    >>> state = np.random.get_state()[1][:3].copy()
    >>> with keras_seeded(0):
    ...     a = np.random.rand()
    >>> bool((np.random.get_state()[1][:3] == state).all())
    True
    """
    keras = import_keras()
    # Keras has no public getter for its global seed state: read it to restore it
    from keras.src.backend.common import global_state
    from keras.src.random import seed_generator
    from keras.src.utils import rng_utils

    py_state = random.getstate()
    np_state = np.random.get_state()  # noqa: NPY002 (the global RNG is what we restore)
    previous_seed = rng_utils.get_random_seed()
    previous_generator = global_state.get_global_attribute(seed_generator.GLOBAL_SEED_GENERATOR)
    keras.utils.set_random_seed(int(seed))
    try:
        # Keras's default seeds from a generator of this thread, not the process-wide one
        # that other threads (a Dask worker's) also draw from
        with thread_local_default_seeds(int(seed)):
            yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)  # noqa: NPY002
        global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, previous_seed)
        global_state.set_global_attribute(
            seed_generator.GLOBAL_SEED_GENERATOR, previous_generator
        )
        if keras.backend.backend() == "tensorflow":
            import tensorflow as tf

            # None = "no global seed": later TF ops are random again, as before the fit
            tf.random.set_seed(None)


class KerasEstimatorMixin:
    """Mixin for scikit-learn estimators backed by a Keras model (see the module docstring).

    Fitted attributes set here: ``model_`` (the compiled ``keras.Model``), ``history_``
    (dict of per-epoch lists: losses, validation metrics, ``epoch_time``), ``n_epochs_``.
    """

    #: attribute names dropped when pickling (caches rebuilt lazily from ``model_``)
    _keras_transient_attrs = ()
    #: private state restored by skreid.load (the seed continued training derives from)
    _saved_state_attrs = ("_seed_",)

    # ---------------------------------------------------------------- public API
    def fit(self, X, y=None, **fit_params):
        """Build the network from the data and train it for ``epochs`` epochs.

        With ``warm_start=True`` and an already fitted network, training continues.
        """
        return self._fit(
            X, y, epochs=getattr(self, "epochs", 1),
            reset=not getattr(self, "warm_start", False), **fit_params,
        )

    def partial_fit(self, X, y=None, **fit_params):
        """Train for one more epoch (building the network on the first call)."""
        return self._fit(X, y, epochs=1, reset=False, **fit_params)

    # ---------------------------------------------------------------- template
    def _fit(self, X, y=None, *, epochs, reset, **fit_params):
        fresh = reset or getattr(self, "model_", None) is None
        X, y, fit_params = self._validate_fit_data(X, y, reset=fresh, **fit_params)
        if fresh:
            self._seed_ = seed_from_random_state(getattr(self, "random_state", None))
            self.n_epochs_ = 0
        # continued training gets a different, still reproducible, seed per call
        seed = (self._seed_ + 7919 * self.n_epochs_) % (2**31 - 1)
        with keras_seeded(seed):
            if fresh:
                for name in self._keras_transient_attrs:
                    self.__dict__.pop(name, None)
                self.history_ = {}
                self.model_ = None
                self.model_ = self._build_model(X, y, **fit_params)
            history = self._train(X, y, epochs=int(epochs), **fit_params)
        self._append_history(history)
        return self

    def _validate_fit_data(self, X, y, reset, **fit_params):
        """Hook: validate ``X``, ``y`` (see module docstring). The default does nothing."""
        return X, y, fit_params

    def _build_model(self, X, y, **fit_params):  # pragma: no cover - abstract
        raise NotImplementedError(f"{type(self).__name__} must implement _build_model")

    def _train(self, X, y, epochs, **fit_params):
        """Hook: train ``model_`` for ``epochs`` epochs and return per-epoch history."""
        return self._keras_fit(X, y, epochs=epochs, batch_size=getattr(self, "batch_size", 32))

    def _inference_graph(self):
        """Hook of :func:`skreid.export_onnx`: the fitted estimator's inference as an
        :class:`~skreid._keras.InferenceGraph`. The default: not exportable (TypeError)."""
        raise TypeError(f"{type(self).__name__} gives no inference graph to export (it "
                        "does not implement _inference_graph).")

    # ---------------------------------------------------------------- helpers
    def _keras_verbose(self):
        verbose = int(getattr(self, "verbose", 0) or 0)
        return min(max(verbose, 0), 2)

    def _keras_fit(self, x, y=None, *, epochs, callbacks=None, **kwargs):
        """Run ``model_.fit`` for ``epochs`` more epochs; return its history with epoch times.

        ``x`` may be arrays (``batch_size`` in ``kwargs``) or a ``keras.utils.PyDataset``.
        """
        return keras_fit(self.model_, x, y, epochs=epochs, initial_epoch=self.n_epochs_,
                         verbose=self._keras_verbose(), callbacks=callbacks, **kwargs)

    def _append_history(self, history):
        n_new = max((len(v) for v in history.values()), default=0)
        for key, values in history.items():
            # pad keys that appear only now, so every list stays aligned with the epochs
            old = self.history_.setdefault(key, [np.nan] * self.n_epochs_)
            old.extend(values)
        for values in self.history_.values():
            values.extend([np.nan] * (self.n_epochs_ + n_new - len(values)))
        self.n_epochs_ += n_new

    # ---------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__()
        state = dict(state)
        for name in self._keras_transient_attrs:
            state.pop(name, None)
        for name, value in list(state.items()):
            if _is_keras_model(value):
                state[name] = _KerasModelBytes.from_model(value)
        return state

    def __setstate__(self, state):
        from skreid.utils import migrate_renamed_params

        state = migrate_renamed_params(type(self), state)  # pickled before a rename
        for name, value in list(state.items()):
            if isinstance(value, _KerasModelBytes):
                state[name] = value.to_model()
        super().__setstate__(state)


class _KerasModelBytes:
    """A Keras model as the bytes of its ``.keras`` archive (public save/load API only)."""

    def __init__(self, data):
        self.data = data

    @classmethod
    def from_model(cls, model):
        with tempfile.TemporaryDirectory(prefix="skreid_") as tmp:
            path = os.path.join(tmp, "model.keras")
            model.save(path)
            with open(path, "rb") as fh:
                return cls(fh.read())

    def to_model(self):
        keras = import_keras()
        _register_custom_objects()
        with tempfile.TemporaryDirectory(prefix="skreid_") as tmp:
            path = os.path.join(tmp, "model.keras")
            with open(path, "wb") as fh:
                fh.write(self.data)
            # safe_mode stays on: skreid networks contain no Lambda layers
            return keras.saving.load_model(path, compile=True)


def _register_custom_objects():
    # importing the modules runs their @register_keras_serializable decorators
    import importlib

    for module in ("skreid._keras._layers", "skreid._keras._losses",
                   "skreid._keras._pet_networks"):
        with contextlib.suppress(ImportError):
            importlib.import_module(module)


class _EpochTimer:
    """Factory for a Keras callback recording wall time per epoch (keras imported lazily)."""

    def __new__(cls, keras):
        class EpochTimer(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.times = []

            def on_epoch_begin(self, epoch, logs=None):
                self._t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                self.times.append(time.perf_counter() - self._t0)

        return EpochTimer()
