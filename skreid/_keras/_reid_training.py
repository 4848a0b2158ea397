"""The re-ID embedder's training loop: batch sampler (the loss's, from the registry),
identity-disjoint validation split, validation rank-1 with early stopping (best weights
restored), optimizer and schedule (from the registry), compilation.

:func:`train_triplet` is what ``TripletEmbedder._train`` runs. This module imports Keras:
import it only when a Keras estimator is used.
"""

import dataclasses
from typing import NamedTuple

import keras
import numpy as np

from skreid._keras._base import keras_fit, resolve_run_eagerly
from skreid._keras._losses import IdentityLoss
from skreid._keras._registry import LOSSES, OPTIMIZERS, SCHEDULES
from skreid._keras._samplers import PKSampler, RandomTripletSampler, as_keras_dataset
from skreid.metrics import single_shot_rank1


def split_identities(codes, fraction, rng):
    """Identity-disjoint split: return (train_mask, val_mask) over the samples.

    Only identities with at least 2 images can be validation identities (a query needs a
    match). Returns ``None`` for the validation mask when ``fraction`` is 0.
    """
    if not fraction:
        return np.ones(len(codes), bool), None
    counts = np.bincount(codes)
    eligible = np.flatnonzero(counts >= 2)
    n_val = int(round(fraction * len(counts)))
    n_val = min(max(n_val, 2), len(eligible))
    if n_val < 2 or len(counts) - n_val < 2:
        raise ValueError(
            f"validation_fraction={fraction} cannot split {len(counts)} identities into >= 2 "
            f"training and >= 2 validation identities with >= 2 images each; use more "
            f"identities or validation_fraction=0."
        )
    val_ids = rng.choice(eligible, n_val, replace=False)
    val_mask = np.isin(codes, val_ids)
    return ~val_mask, val_mask


class ValidationRank1(keras.callbacks.Callback):
    """Per-epoch validation rank-1 on held-out identities, early stopping, best weights kept.

    The rank-1 is single-shot and cross-camera (:func:`single_shot_rank1`), the protocol of
    the probes, so early stopping selects what the probes reward. Ties keep the later epoch
    (the cosine schedule's later epochs are usually better at equal validation score).
    Adds ``val_rank1`` to the epoch logs (so it lands in ``history_``).
    """

    def __init__(self, embed, X, ids, cameras=None, early_stopping=True, patience=10,
                 verbose=0):
        super().__init__()
        self.embed, self.X, self.ids, self.cameras = embed, X, ids, cameras
        self.early_stopping, self.patience, self.verbose = early_stopping, patience, verbose
        self.best, self.best_weights, self.wait = -np.inf, None, 0

    def on_epoch_end(self, epoch, logs=None):
        rank1 = single_shot_rank1(self.embed(self.X), self.ids, self.cameras)
        if logs is not None:
            logs["val_rank1"] = rank1
        if self.verbose:
            print(f"epoch {epoch + 1}: val_rank1={rank1:.4f}")
        if rank1 >= self.best:
            self.best, self.wait = rank1, 0
            if self.early_stopping:
                self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.early_stopping and self.wait > self.patience:
                self.model.stop_training = True

    def restore_best(self):
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def make_optimizer(name, learning_rate, schedule, total_steps, warmup_steps=0):
    """Optimizer of :data:`~skreid._keras._registry.OPTIMIZERS` with a schedule of
    :data:`~skreid._keras._registry.SCHEDULES` (cosine: linear warm-up, then decay)."""
    lr = SCHEDULES[schedule](keras, learning_rate, total_steps, warmup_steps)
    return OPTIMIZERS[name](keras, lr)


def compile_reid_model(model, *, loss, margin, id_loss_weight, label_smoothing, optimizer,
                       run_eagerly=False):
    """Compile a network of :mod:`skreid._keras._reid_networks` with the re-ID losses."""
    losses = {"triplet": LOSSES[loss].build(margin)}
    weights = {"triplet": 1.0}
    if "logits" in model.output_names:
        losses["logits"] = IdentityLoss(label_smoothing=label_smoothing)
        weights["logits"] = float(id_loss_weight)
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                  run_eagerly=run_eagerly, jit_compile=False)
    return model


def make_sampler(loss, codes, batch_size, images_per_identity, rng):
    """The batch sampler the registry's ``loss`` needs, over integer identity ``codes``."""
    if LOSSES[loss].sampler == "triplets":
        return RandomTripletSampler(codes, batch_size, rng)
    return PKSampler(codes, batch_size // images_per_identity, images_per_identity, rng)


@dataclasses.dataclass(frozen=True)
class TripletTraining:
    """The training settings of a :func:`train_triplet` call (a ``TripletEmbedder``'s
    parameters of the same names, checked by the estimator)."""

    loss: str = "batch_hard"
    margin: float = 0.3
    id_loss_weight: float = 1.0
    label_smoothing: float = 0.1
    optimizer: str = "adam"
    learning_rate: float = 3.5e-4
    lr_schedule: str = "cosine"
    warmup_epochs: int = 5
    batch_size: int = 64
    images_per_identity: int = 4
    validation_fraction: float = 0.0
    early_stopping: bool = True
    patience: int = 10
    run_eagerly: object = "auto"
    verbose: int = 0

    @classmethod
    def from_params(cls, params):
        """The settings named in ``params`` (e.g. ``estimator.get_params()``)."""
        return cls(**{f.name: params[f.name] for f in dataclasses.fields(cls)})


class TripletTrainingResult(NamedTuple):
    """What :func:`train_triplet` returns."""

    #: per-epoch losses, ``val_rank1`` (with validation) and ``epoch_time``
    history: dict
    #: the identities held out for validation (empty without validation)
    validation_identities: np.ndarray
    #: the epoch whose weights early stopping restored (counted from the first fit), or None
    best_epoch: int | None


def train_triplet(model, X, y, *, identities, training, epochs, embed, initial_epoch=0,
                  validation_identities=None, cameras=None):
    """Train ``model`` (a compiled or fresh :mod:`~skreid._keras._reid_networks` network) for
    ``epochs`` epochs.

    The first fit (``validation_identities=None``) draws the identity-disjoint validation
    split, which continued training passes back; compiles with the registry's optimizer and
    schedule over the whole run; feeds the loss's sampler through one endless dataset; scores
    validation rank-1 each epoch with ``embed`` (images -> embeddings) and, with early
    stopping, restores the best weights.

    Parameters
    ----------
    model : keras.Model
    X : ndarray of shape (n, h, w, c)
    y : ndarray of shape (n,)
        Identities, all of them in ``identities`` (the identity head's order) or none.
    identities : ndarray
        The identity head's classes.
    training : TripletTraining
    epochs : int
    embed : callable
        The estimator's embedding of images (for validation rank-1).
    initial_epoch : int, default=0
        Epochs trained before this call.
    validation_identities : ndarray or None, default=None
        The split of the first fit, for continued training.
    cameras : ndarray of shape (n,), optional

    Returns
    -------
    result : TripletTrainingResult
    """
    # the global NumPy RNG is seeded by the estimator base for this fit
    rng = np.random.RandomState(np.random.randint(2**31 - 1))  # noqa: NPY002
    codes = np.searchsorted(identities, y) if np.isin(y, identities).all() \
        else np.unique(y, return_inverse=True)[1]
    if validation_identities is None:
        train_mask, val_mask = split_identities(codes, training.validation_fraction, rng)
        validation_identities = (
            np.unique(y[val_mask]) if val_mask is not None else np.array([], y.dtype)
        )
    else:  # continued training keeps the identity split of the first fit
        val_mask = np.isin(y, validation_identities)
        val_mask = val_mask if val_mask.any() else None
        train_mask = ~val_mask if val_mask is not None else np.ones(len(y), bool)
    tr = np.flatnonzero(train_mask)
    tr_codes = np.unique(codes[tr], return_inverse=True)[1]
    sampler = make_sampler(training.loss, tr_codes, training.batch_size,
                           training.images_per_identity, rng)
    eager = resolve_run_eagerly(training.run_eagerly, epochs * len(sampler))
    if initial_epoch == 0 or not getattr(model, "compiled", False):
        n_batches = len(sampler)
        optimizer = make_optimizer(training.optimizer, training.learning_rate,
                                   training.lr_schedule, total_steps=n_batches * epochs,
                                   warmup_steps=n_batches * training.warmup_epochs)
        compile_reid_model(
            model, loss=training.loss, margin=training.margin,
            id_loss_weight=training.id_loss_weight, label_smoothing=training.label_smoothing,
            optimizer=optimizer, run_eagerly=eager,
        )
    model.run_eagerly = eager
    targets = {"triplet": codes[tr]}
    if "logits" in model.output_names:
        targets["logits"] = codes[tr]
    dataset = as_keras_dataset(X[tr], targets, sampler)
    callbacks = []
    if val_mask is not None:
        vcam = None if cameras is None else cameras[val_mask]
        validation = ValidationRank1(
            embed, X[val_mask], y[val_mask], vcam, early_stopping=training.early_stopping,
            patience=training.patience, verbose=training.verbose,
        )
        callbacks.append(validation)
    history = keras_fit(model, dataset, epochs=epochs, initial_epoch=initial_epoch,
                        verbose=min(max(int(training.verbose), 0), 2), callbacks=callbacks,
                        steps_per_epoch=len(sampler), shuffle=False)
    best_epoch = None
    if val_mask is not None and training.early_stopping:
        validation.restore_best()
        # the callback keeps the later epoch on ties: the last maximum
        val = np.asarray(history["val_rank1"], float)[::-1]
        best_epoch = initial_epoch + len(val) - int(np.nanargmax(val))
    return TripletTrainingResult(history, validation_identities, best_epoch)
