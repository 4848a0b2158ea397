"""Batch samplers for metric learning: P x K identity batches and the report's random triplets.

The samplers are pure NumPy (they yield index arrays); :func:`as_keras_dataset` wraps one in a
``keras.utils.PyDataset`` that gathers the images batch by batch, so no epoch-sized copy of
the data is ever made. Keras is imported only inside that function.
"""

import numpy as np


class PKSampler:
    """P identities x K images per batch; every identity appears in every epoch.

    Identities are visited in a fresh random order each epoch, P at a time, cycling through
    further permutations until the epoch has ``n_batches`` batches. An identity with fewer
    than K images is sampled with replacement.

    Parameters
    ----------
    codes : ndarray of int, shape (n_samples,)
        Identity index (0..n_identities-1) of each image.
    n_identities_per_batch : int
        P.
    n_images_per_identity : int
        K.
    random_state : numpy.random.RandomState
    n_batches : int, optional
        Batches per epoch; default ``max(ceil(n_ids / P), n_samples // (P * K))`` so an epoch
        sees about as many images as the data set has, and every identity at least once.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid._keras._samplers import PKSampler
    >>> sampler = PKSampler(np.repeat(np.arange(6), 3), 2, 2, np.random.RandomState(0))
    >>> batches = sampler.epoch()
    >>> len(batches), batches[0].shape
    (4, (4,))
    """

    def __init__(self, codes, n_identities_per_batch, n_images_per_identity, random_state,
                 n_batches=None):
        self.codes = np.asarray(codes)
        self.P = int(n_identities_per_batch)
        self.K = int(n_images_per_identity)
        self.rng = random_state
        order = np.argsort(self.codes, kind="stable")
        bounds = np.flatnonzero(np.diff(self.codes[order])) + 1
        self.members = np.split(order, bounds)
        n_ids = len(self.members)
        if n_batches is None:
            n_batches = max(-(-n_ids // self.P), len(self.codes) // (self.P * self.K))
        self.n_batches = int(n_batches)

    def __len__(self):
        return self.n_batches

    def epoch(self):
        """Return the list of index arrays (each ``P * K`` long) of one epoch."""
        n_ids = len(self.members)
        perms = -(-self.n_batches * self.P // n_ids)
        id_order = np.concatenate([self.rng.permutation(n_ids) for _ in range(perms)])
        batches = []
        for b in range(self.n_batches):
            ids = id_order[b * self.P : (b + 1) * self.P]
            parts = []
            for i in ids:
                parts.append(self._pick(self.members[i]))
            batches.append(np.concatenate(parts))
        return batches

    def _pick(self, members):
        return self.rng.choice(members, self.K, replace=len(members) < self.K)


class RandomTripletSampler:
    """The report's random triplets: each batch is ``[anchors; positives; negatives]``.

    Anchors are drawn uniformly among images whose identity has another image; the positive
    is another image of the same identity, the negative an image of any other identity.

    Parameters
    ----------
    codes : ndarray of int, shape (n_samples,)
    n_triplets : int
        Triplets per batch (the batch holds ``3 * n_triplets`` images).
    random_state : numpy.random.RandomState
    n_batches : int, optional
        Default ``max(1, n_samples // n_triplets)``.
    """

    def __init__(self, codes, n_triplets, random_state, n_batches=None):
        self.codes = np.asarray(codes)
        self.n_triplets = int(n_triplets)
        self.rng = random_state
        counts = np.bincount(self.codes)
        self.anchors = np.flatnonzero(counts[self.codes] >= 2)
        order = np.argsort(self.codes, kind="stable")
        self.members = np.split(order, np.flatnonzero(np.diff(self.codes[order])) + 1)
        self.n_batches = int(n_batches or max(1, len(self.codes) // self.n_triplets))

    def __len__(self):
        return self.n_batches

    def epoch(self):
        """Return the list of index arrays (each ``3 * n_triplets`` long) of one epoch."""
        n = len(self.codes)
        batches = []
        for _ in range(self.n_batches):
            a = self.rng.choice(self.anchors, self.n_triplets)
            p = np.empty_like(a)
            for j, idx in enumerate(a):
                members = self.members[self.codes[idx]]
                others = members[members != idx]
                p[j] = others[self.rng.randint(len(others))]
            q = self.rng.randint(n, size=self.n_triplets)
            clash = self.codes[q] == self.codes[a]
            while clash.any():  # redraw negatives of the anchor's own identity
                q[clash] = self.rng.randint(n, size=int(clash.sum()))
                clash = self.codes[q] == self.codes[a]
            batches.append(np.concatenate([a, p, q]))
        return batches


def as_keras_dataset(X, targets, sampler):
    """Wrap a sampler as an endless ``keras.utils.PyDataset`` of ``(images, targets)`` batches.

    ``targets`` maps each model output name to a per-image array. Batch ``i`` is batch
    ``i % len(sampler)`` of epoch ``i // len(sampler)``; each epoch's batches are drawn from
    the sampler when Keras first asks for one of them (Keras reads the batches in order).
    Fit it with ``steps_per_epoch=len(sampler)``.

    Why endless: Keras ends a finite dataset's epoch by dropping its ``tf.data`` iterator,
    whose destructor waits for tf.data's autotuning thread to wake from its current sleep,
    which grows to tens of seconds in a long fit (``docs/benchmarks.rst``). One iterator
    kept for the whole fit waits at most once.
    """
    from skreid._keras._base import import_keras

    keras = import_keras()

    class _SamplerDataset(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=1, use_multiprocessing=False)
            self.n_batches = len(sampler)
            self.epoch, self.batches = -1, None

        @property
        def num_batches(self):
            return None  # endless: Keras then keeps one iterator over every epoch

        def __len__(self):
            return self.n_batches

        def __getitem__(self, i):
            epoch, j = divmod(int(i), self.n_batches)
            if epoch != self.epoch:
                self.epoch, self.batches = epoch, sampler.epoch()
            idx = self.batches[j]
            return X[idx], {name: t[idx] for name, t in targets.items()}

    return _SamplerDataset()
