"""Keras-side helpers of the pets estimators: resizing, augmented batches, a training stage,
staged freezing, inference. Each takes the network and arrays and returns arrays or the
history; the estimators keep their own state.

Only :mod:`skreid.pets` imports this module, inside ``fit`` / ``predict``, so Keras is
loaded only when a pets estimator is used.
"""

import math

import numpy as np

from skreid._keras._backbones import backbone_blocks
from skreid._keras._base import import_keras, keras_fit, resolve_run_eagerly

keras = import_keras()
ops = keras.ops


def resize_batch(images, size, interpolation="bilinear", chunk=256):
    """Resize ``(n, h, w, c)`` float arrays to ``size`` with Keras's resize (by chunks).

    The networks resize their input with the same bilinear kernel, so images resized here
    in ``fit`` and images resized inside the model at ``predict`` time match.
    """
    size = tuple(int(v) for v in size)
    if tuple(images.shape[1:3]) == size:
        return np.asarray(images, dtype=np.float32)
    out = np.empty((len(images), *size, images.shape[-1]), dtype=np.float32)
    for start in range(0, len(images), chunk):
        block = np.asarray(images[start:start + chunk], dtype=np.float32)
        out[start:start + chunk] = ops.convert_to_numpy(
            ops.image.resize(block, size, interpolation=interpolation)
        )
    return out


def _augment(rng, x, m, max_shift):
    """Random horizontal flip, translation (mask padding ignored) and brightness/contrast."""
    n, h, w = x.shape[:3]
    flip = rng.random(n) < 0.5
    x[flip] = x[flip, :, ::-1]
    m[flip] = m[flip, :, ::-1]
    if max_shift > 0:
        for i in range(n):
            dy, dx = rng.integers(-max_shift, max_shift + 1, size=2) * np.array([h, w]) // 100
            if dy == 0 and dx == 0:
                continue
            x[i] = np.roll(x[i], (dy, dx), axis=(0, 1))
            m[i] = np.roll(m[i], (dy, dx), axis=(0, 1))
            # rolled-in borders are not real pixels: edge-fill the image, ignore the mask
            ys = slice(0, dy) if dy > 0 else slice(h + dy, h)
            xs = slice(0, dx) if dx > 0 else slice(w + dx, w)
            if dy:
                x[i, ys] = x[i, dy if dy > 0 else h + dy - 1][np.newaxis]
                m[i, ys] = -1
            if dx:
                x[i, :, xs] = x[i, :, dx if dx > 0 else w + dx - 1][:, np.newaxis]
                m[i, :, xs] = -1
    gain = rng.uniform(0.8, 1.2, size=(n, 1, 1, 1))
    bias = rng.uniform(-20, 20, size=(n, 1, 1, 1))
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    np.clip((x - mean) * gain + mean + bias, 0, 255, out=x)
    return x, m


class PetBatches(keras.utils.PyDataset):
    """Shuffled (optionally augmented) batches ``(images, {"breed", "mask"})``.

    Parameters
    ----------
    images : ndarray (n, h, w, c) float32, already at the working size
    breed : ndarray (n, 2) float32, label and sample weight
    masks : ndarray (n, h, w, 1) float32, training targets (-1 = ignored)
    batch_size : int
    seed : int
        Seeds the shuffling and the augmentation (one generator per dataset).
    augment : bool
    shuffle : bool
    max_shift : int
        Largest translation, in percent of the image side.
    batch_order_random : random.Random or None
        With ``shuffle``, also shuffles the order of the batches at each epoch's start, as
        Keras's ``fit(shuffle=True)`` does (fit with ``shuffle=False`` then): the same
        ``random.shuffle`` of the batch indices, but from this generator (the seeded fit's,
        :func:`skreid._keras._seeding.fit_python_random`) instead of the process-wide one
        that other threads also draw from.
    """

    def __init__(self, images, breed, masks, batch_size, seed, augment=False, shuffle=True,
                 max_shift=10, batch_order_random=None):
        super().__init__(workers=1, use_multiprocessing=False)
        self.images, self.breed, self.masks = images, breed, masks
        self.batch_size = int(batch_size)
        self.augment, self.shuffle, self.max_shift = augment, shuffle, max_shift
        self.rng = np.random.default_rng(seed)
        self.order = self.rng.permutation(len(images)) if shuffle else np.arange(len(images))
        self.batch_order_random = batch_order_random if shuffle else None
        self.batch_order = None  # identity until the first epoch begins (Keras's peek)

    def __len__(self):
        return math.ceil(len(self.images) / self.batch_size)

    def on_epoch_begin(self):
        if self.batch_order_random is not None:
            self.batch_order = list(range(len(self)))
            self.batch_order_random.shuffle(self.batch_order)

    def __getitem__(self, index):
        if self.batch_order is not None:
            index = self.batch_order[index]
        idx = np.sort(self.order[index * self.batch_size:(index + 1) * self.batch_size])
        x = self.images[idx].copy()
        m = self.masks[idx].copy()
        if self.augment:
            x, m = _augment(self.rng, x, m, self.max_shift)
        return x, {"breed": self.breed[idx], "mask": m}

    def on_epoch_end(self):
        if self.shuffle:
            self.order = self.rng.permutation(len(self.images))


def train_stage(model, train, val, *, epochs, batch_size, seed, augment, run_eagerly,
                initial_epoch, verbose=0):
    """Train ``model`` for ``epochs`` epochs on ``train = (images, breed, masks)`` (arrays of
    :class:`PetBatches`); return the history (``val_*`` metrics on ``val`` when given).

    ``seed`` seeds the shuffling and augmentation; the batch order is shuffled by
    :class:`PetBatches` from the seeded fit's own generator (Keras would draw it from the
    global one, which other threads move). ``run_eagerly`` (``"auto"`` or a bool) is
    resolved for this call's number of steps.
    """
    from skreid._keras._seeding import fit_python_random

    data = PetBatches(*train, batch_size, seed, augment=augment,
                      batch_order_random=fit_python_random())
    # tracing the train step costs seconds (~15 s for MobileNetV3 on 2 cores); for a handful
    # of steps, eager execution is much faster
    model.run_eagerly = resolve_run_eagerly(run_eagerly, epochs * len(data))
    kwargs = {}
    if val is not None:
        kwargs["validation_data"] = PetBatches(*val, batch_size, seed, shuffle=False)
    return keras_fit(model, data, epochs=epochs, initial_epoch=initial_epoch, verbose=verbose,
                     shuffle=False, **kwargs)


def set_backbone_trainable(model, n_blocks, freeze_bn=True, name="mobilenet_v3_small"):
    """Freeze the backbone of ``model``, then unfreeze its top ``n_blocks`` blocks.

    ``n_blocks=0`` freezes the whole backbone (head-only training); ``None`` unfreezes
    every block. With ``freeze_bn=True`` (pretrained, BatchNorm-folded weights) the
    BatchNormalization layers stay frozen always; with ``freeze_bn=False`` (a randomly
    initialised backbone, whose BatchNorm must learn its statistics) they follow their
    block. ``name`` is the registry backbone (its block names). Returns the number of
    trainable backbone weights. The model must be recompiled afterwards.
    """
    backbone = model.get_layer("backbone")
    layers = backbone.layers
    if n_blocks is None:
        first = 0
    elif n_blocks == 0:
        first = len(layers)
    else:
        starts = backbone_blocks(backbone, name)
        first = starts[max(len(starts) - int(n_blocks), 0)]
    for i, layer in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = i >= first and not (freeze_bn and is_bn)
    return sum(int(np.prod(w.shape)) for w in backbone.trainable_weights)


def _call_batches(model, images, batch_size):
    # direct (eager) calls: model.predict traces a graph per new model, which costs more
    # than the whole inference for the data sizes of this library
    outputs = []
    for start in range(0, len(images), batch_size):
        block = np.asarray(images[start:start + batch_size], dtype=np.float32)
        out = model(block, training=False)
        outputs.append(keras.tree.map_structure(ops.convert_to_numpy, out))
    return keras.tree.map_structure(lambda *parts: np.concatenate(parts), *outputs)


def predict_outputs(model, images, batch_size):
    """Inference returning ``(breed_proba, mask_proba)`` as NumPy arrays."""
    out = _call_batches(model, images, batch_size)
    return out["breed"], out["mask"]


def predict_embedding(model, images, batch_size):
    """The ``"embedding"`` layer's output for ``images``."""
    from skreid._keras._pet_networks import embedding_model

    return _call_batches(embedding_model(model), images, batch_size)
