"""The re-ID embedder's training loop: batch sampler (the loss's, from the registry),
identity-disjoint validation split, validation rank-1 with early stopping (best weights
restored), optimizer and schedule (from the registry), compilation.

:func:`train_triplet` is what ``TripletEmbedder._train`` runs. This module imports Keras:
import it only when a Keras estimator is used.
"""

import keras
import numpy as np

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


def train_triplet(est, X, y, epochs, cameras=None):
    """Train ``est.model_`` (a fitted-or-fresh ``TripletEmbedder``) for ``epochs`` epochs.

    The first fit draws the identity-disjoint validation split (kept by continued training),
    compiles with the registry's optimizer and schedule over the whole run, feeds the loss's
    sampler through one endless dataset, scores validation rank-1 each epoch (early stopping
    restores the best weights) and indexes the training images as the gallery. Returns the
    Keras history.
    """
    # the global NumPy RNG is seeded by the estimator base for this fit
    rng = np.random.RandomState(np.random.randint(2**31 - 1))  # noqa: NPY002
    codes = np.searchsorted(est.identities_, y) if np.isin(y, est.identities_).all() \
        else np.unique(y, return_inverse=True)[1]
    if est.n_epochs_ == 0:
        train_mask, val_mask = split_identities(codes, est.validation_fraction, rng)
        est.validation_identities_ = (
            np.unique(y[val_mask]) if val_mask is not None else np.array([], y.dtype)
        )
    else:  # continued training keeps the identity split of the first fit
        val_mask = np.isin(y, est.validation_identities_)
        val_mask = val_mask if val_mask.any() else None
        train_mask = ~val_mask if val_mask is not None else np.ones(len(y), bool)
    tr = np.flatnonzero(train_mask)
    tr_codes = np.unique(codes[tr], return_inverse=True)[1]
    sampler = make_sampler(est.loss, tr_codes, est.batch_size, est.images_per_identity, rng)
    if est.n_epochs_ == 0 or not getattr(est.model_, "compiled", False):
        n_batches = len(sampler)
        optimizer = make_optimizer(est.optimizer, est.learning_rate, est.lr_schedule,
                                   total_steps=n_batches * epochs,
                                   warmup_steps=n_batches * est.warmup_epochs)
        compile_reid_model(
            est.model_, loss=est.loss, margin=est.margin, id_loss_weight=est.id_loss_weight,
            label_smoothing=est.label_smoothing, optimizer=optimizer,
            run_eagerly=est.run_eagerly,
        )
    targets = {"triplet": codes[tr]}
    if "logits" in est.model_.output_names:
        targets["logits"] = codes[tr]
    dataset = as_keras_dataset(X[tr], targets, sampler)
    callbacks = []
    if val_mask is not None:
        vcam = None if cameras is None else cameras[val_mask]
        validation = ValidationRank1(
            est._embed, X[val_mask], y[val_mask], vcam, early_stopping=est.early_stopping,
            patience=est.patience, verbose=est.verbose,
        )
        callbacks.append(validation)
    history = est._keras_fit(dataset, epochs=epochs, callbacks=callbacks,
                             steps_per_epoch=len(sampler), shuffle=False)
    if val_mask is not None and est.early_stopping:
        validation.restore_best()
        # n_epochs_ still counts the epochs before this call (the base adds them after);
        # the callback keeps the later epoch on ties: the last maximum
        val = np.asarray(history["val_rank1"], float)[::-1]
        est.best_epoch_ = est.n_epochs_ + len(val) - int(np.nanargmax(val))
    est._set_gallery_embeddings(est._embed(X), y, cameras)
    return history
