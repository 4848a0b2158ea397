"""Keras's default seeds, drawn from a per-thread Python RNG while a skreid fit runs.

Keras gives every initializer, ``SeedGenerator`` and random layer created without a seed a
default one from ``random.randint`` - Python's *global* RNG, shared by every thread of the
process. ``keras.utils.set_random_seed`` seeds that RNG, but any other thread that draws from
it while the network is being built moves the sequence: a Dask worker does so in its own
threads while a task runs (``dask.sizeof`` samples lists with ``random.sample``), and a
tiny ``TripletEmbedder`` fitted twice in one worker gave two different networks (first-epoch
loss 3.623 vs 3.602).

:func:`thread_local_default_seeds` replaces the ``random`` module that Keras's
``seed_generator`` module draws from by :data:`_KERAS_RANDOM`, an object that answers from a
``random.Random`` owned by the current thread while the context is active, and from the
global RNG otherwise (so Keras outside a skreid fit behaves exactly as before). The network
then depends only on the seed, whatever other threads do. Keras's shuffling of a
``PyDataset``'s batch order (``random.shuffle``, run in a tf.data thread) cannot be routed
this way, so the pets nets shuffle the batch order themselves from :func:`fit_python_random`,
the same draws in the same order. Keras reads the name
``python_random`` of that module at every call, so replacing it there is enough; the test
``tests/_keras/test_seeding.py`` fails if a Keras release renames it.
"""

import contextlib
import random
import sys
import threading

__all__ = ["thread_local_default_seeds", "fit_python_random"]


class _PerThreadRandom:
    """The ``random`` module, except in a thread that has set its own generator."""

    def __init__(self):
        self._local = threading.local()

    @property
    def generator(self):
        return getattr(self._local, "generator", None)

    @generator.setter
    def generator(self, value):
        self._local.generator = value

    def __getattr__(self, name):  # randint, random, ... of this thread's generator or global
        return getattr(self.generator or random, name)


_KERAS_RANDOM = _PerThreadRandom()


def _seed_generator_module():
    module = sys.modules["keras.src.random.seed_generator"]
    if not hasattr(module, "python_random"):
        raise RuntimeError(
            "This Keras release no longer draws its default seeds from "
            "keras.src.random.seed_generator.python_random: skreid cannot make them "
            "independent of other threads. Please report this with your Keras version."
        )
    return module


@contextlib.contextmanager
def thread_local_default_seeds(seed):
    """Inside the context, Keras's default seeds in this thread come from ``Random(seed)``.

    Keras must already be imported. Contexts nest and each thread has its own.
    """
    module = _seed_generator_module()
    module.python_random = _KERAS_RANDOM  # idempotent: the same object every time
    previous = _KERAS_RANDOM.generator
    _KERAS_RANDOM.generator = random.Random(seed)
    try:
        yield
    finally:
        _KERAS_RANDOM.generator = previous


def fit_python_random():
    """The Python generator of the seeded fit running in this thread (None outside one).

    For draws Keras would otherwise make from the global RNG during the fit, in the order it
    would make them (see ``skreid._keras._pet_training.PetBatches``).
    """
    return _KERAS_RANDOM.generator
