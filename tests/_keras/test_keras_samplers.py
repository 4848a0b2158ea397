"""Direct tests of skreid._keras._samplers (P x K, random triplets, the endless dataset)."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def test_pk_sampler_covers_every_identity_each_epoch():
    from skreid._keras._samplers import PKSampler, RandomTripletSampler

    codes = np.repeat(np.arange(10), [2, 3, 4, 5, 6, 2, 3, 4, 5, 6])
    sampler = PKSampler(codes, 4, 3, np.random.RandomState(0))
    for _ in range(2):
        batches = sampler.epoch()
        assert set(codes[np.concatenate(batches)]) == set(range(10))
        for b in batches:
            ids, counts = np.unique(codes[b], return_counts=True)
            assert len(b) == 12 and (counts % 3 == 0).all()
    triplets = RandomTripletSampler(codes, 5, np.random.RandomState(0)).epoch()
    for b in triplets:
        a, p, n = b[:5], b[5:10], b[10:]
        assert (codes[a] == codes[p]).all() and (a != p).all() and (codes[a] != codes[n]).all()


def test_keras_dataset_is_endless_and_draws_each_epoch_once_in_order():
    from skreid._keras._samplers import PKSampler, as_keras_dataset

    codes = np.repeat(np.arange(6), 4)
    X = np.arange(len(codes), dtype=np.float32)[:, None]
    dataset = as_keras_dataset(X, {"triplet": codes}, PKSampler(codes, 2, 2,
                                                                np.random.RandomState(0)))
    # endless, so Keras keeps one tf.data iterator for the whole fit (no per-epoch teardown)
    assert dataset.num_batches is None
    reference = PKSampler(codes, 2, 2, np.random.RandomState(0))
    n = len(dataset)
    expected = [b for _ in range(3) for b in reference.epoch()]
    for i in range(3 * n):
        images, targets = dataset[i]
        np.testing.assert_array_equal(images[:, 0], expected[i])
        np.testing.assert_array_equal(targets["triplet"], codes[expected[i]])
