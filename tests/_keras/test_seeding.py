"""Keras's default seeds inside a seeded fit do not depend on other threads' use of `random`."""

import random
import threading

import numpy as np

from skreid._keras._base import import_keras, keras_seeded
from skreid._keras._seeding import _KERAS_RANDOM, thread_local_default_seeds


def _unseeded_weights():
    """A small network whose every initializer takes Keras's default seed."""
    keras = import_keras()
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(5), keras.layers.Dense(3)])
    return [w.copy() for w in model.get_weights()]


class _RandomDrawer(threading.Thread):
    """Draws from Python's global RNG in a loop, as a Dask worker's other threads do."""

    def __init__(self):
        super().__init__(daemon=True)
        self.stop, self.draws = threading.Event(), 0

    def run(self):
        while not self.stop.is_set():
            random.random()
            self.draws += 1


def _interleaved_draws():
    """Build the network while another thread draws from `random` between every layer."""
    import keras.src.backend as backend
    import keras.src.random.seed_generator as seed_generator

    real = seed_generator.make_default_seed
    drawer = _RandomDrawer()
    # the initializers call it through the backend's random module, the rest directly
    modules = (seed_generator, backend.random)

    def make_default_seed():  # let the other thread run before each default seed is drawn
        before = drawer.draws
        while drawer.draws < before + 50:
            pass
        return real()

    drawer.start()
    for module in modules:
        module.make_default_seed = make_default_seed
    try:
        with keras_seeded(3):
            return _unseeded_weights()
    finally:
        for module in modules:
            module.make_default_seed = real
        drawer.stop.set()
        drawer.join()


def test_default_seeds_ignore_other_threads_drawing_from_random():
    import_keras()
    with keras_seeded(3):
        quiet = _unseeded_weights()
    busy = _interleaved_draws()
    for a, b in zip(quiet, busy, strict=True):
        np.testing.assert_array_equal(a, b)
    with keras_seeded(4):  # and the seed still matters
        other = _unseeded_weights()
    assert not np.array_equal(quiet[0], other[0])


def test_same_default_seeds_as_seeding_the_global_rng():
    """The per-thread generator repeats what random.seed(seed) gave: old fits are unchanged."""
    import keras.src.random.seed_generator as seed_generator

    import_keras()
    with thread_local_default_seeds(11):
        ours = [seed_generator.make_default_seed() for _ in range(5)]
    random.seed(11)
    assert ours == [random.randint(1, int(1e9)) for _ in range(5)]


def test_outside_the_context_keras_uses_the_global_rng_and_contexts_nest():
    import keras.src.random.seed_generator as seed_generator

    import_keras()
    with thread_local_default_seeds(1):
        outer = _KERAS_RANDOM.generator
        with thread_local_default_seeds(2):
            assert _KERAS_RANDOM.generator is not outer
        assert _KERAS_RANDOM.generator is outer
    assert _KERAS_RANDOM.generator is None
    random.seed(5)
    expected = random.randint(1, int(1e9))
    random.seed(5)
    assert seed_generator.make_default_seed() == expected


def test_each_thread_has_its_own_generator():
    import keras.src.random.seed_generator as seed_generator

    import_keras()
    seen = {}

    def draw(name, seed):
        with thread_local_default_seeds(seed):
            seen[name] = [seed_generator.make_default_seed() for _ in range(3)]

    threads = [threading.Thread(target=draw, args=(i, 7)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0] == seen[1] == seen[2]
