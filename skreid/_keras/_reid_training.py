"""Training helpers of the re-ID embedder: identity-disjoint validation split, validation
rank-1 with early stopping (best weights restored), optimizer and schedule, compilation.

This module imports Keras: import it only when a Keras estimator is used.
"""

import keras
import numpy as np

from skreid._keras._losses import BatchHardTripletLoss, IdentityLoss, RandomTripletLoss

OPTIMIZERS = ("adam", "adamw", "lamb", "rmsprop", "sgd")
LR_SCHEDULES = ("constant", "cosine")


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


def leave_one_out_rank1(embeddings, ids, cameras=None):
    """Rank-1 of each image against all others (same-camera same-identity matches skipped).

    Queries without any valid match are skipped.
    """
    emb = np.asarray(embeddings, np.float64)
    sq = (emb**2).sum(1)
    d = sq[:, None] - 2 * emb @ emb.T + sq[None, :]
    np.fill_diagonal(d, np.inf)
    same = ids[:, None] == ids[None, :]
    if cameras is not None:
        # Market-1501 protocol: a same-camera image of the same person is not a valid match
        d[same & (cameras[:, None] == cameras[None, :])] = np.inf
    has_match = (same & np.isfinite(d)).any(1)
    if not has_match.any():
        return float("nan")
    best = np.argmin(d, axis=1)
    return float((ids[best] == ids)[has_match].mean())


def single_shot_rank1(embeddings, ids, cameras=None, n_draws=20, seed=0):
    """Single-shot rank-1 like the CAB420 probes, averaged over ``n_draws`` random draws.

    Each draw picks, per identity, one query image and one gallery image (from another
    camera when ``cameras`` is given); the gallery holds one image per identity. Identities
    without such a pair are skipped. Far harder, and closer to the probe protocol, than
    :func:`leave_one_out_rank1`, where every other image of the person can match. The draws
    use a fixed seed, so successive epochs are scored on the same query/gallery pairs.
    """
    emb = np.asarray(embeddings, np.float64)
    ids = np.asarray(ids)
    rng = np.random.RandomState(seed)
    groups = [np.flatnonzero(ids == i) for i in np.unique(ids)]
    scores = []
    for _ in range(n_draws):
        q_idx, g_idx = [], []
        for members in groups:
            if len(members) < 2:
                continue
            q = rng.choice(members)
            others = members[members != q]
            if cameras is not None:
                others = others[cameras[others] != cameras[q]]
            if others.size == 0:
                continue
            q_idx.append(q)
            g_idx.append(rng.choice(others))
        if len(q_idx) < 2:
            return leave_one_out_rank1(embeddings, ids, cameras)
        q_idx, g_idx = np.array(q_idx), np.array(g_idx)
        d = ((emb[q_idx, None, :] - emb[None, g_idx, :]) ** 2).sum(-1)
        scores.append(float((ids[g_idx[np.argmin(d, axis=1)]] == ids[q_idx]).mean()))
    return float(np.mean(scores))


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
    """Optimizer by name with a constant or cosine (with linear warm-up) learning rate."""
    if schedule == "cosine":
        warmup_steps = int(min(warmup_steps, max(total_steps - 1, 0)))
        lr = keras.optimizers.schedules.CosineDecay(
            learning_rate * (0.1 if warmup_steps else 1.0),
            decay_steps=max(total_steps - warmup_steps, 1),
            alpha=0.01,
            warmup_target=learning_rate if warmup_steps else None,
            warmup_steps=warmup_steps,
        )
    else:
        lr = learning_rate
    if name == "adam":
        return keras.optimizers.Adam(lr)
    if name == "adamw":
        return keras.optimizers.AdamW(lr, weight_decay=5e-4)
    if name == "lamb":
        # layer-wise trust ratio: each layer moves by a fraction of its own norm. The folded
        # BatchNorm of the pretrained backbone leaves kernels of very different scales, and
        # Adam's fixed step size wrecks the small ones (measured: features collapse).
        return keras.optimizers.Lamb(lr)
    if name == "rmsprop":
        return keras.optimizers.RMSprop(lr)
    return keras.optimizers.SGD(lr, momentum=0.9, nesterov=True)


def compile_reid_model(model, *, loss, margin, id_loss_weight, label_smoothing, optimizer,
                       run_eagerly=False):
    """Compile a network of :mod:`skreid._keras._reid_networks` with the re-ID losses."""
    if loss == "random_triplet":
        triplet = RandomTripletLoss(margin=margin)
    else:
        triplet = BatchHardTripletLoss(margin=None if loss == "soft_margin" else margin)
    losses = {"triplet": triplet}
    weights = {"triplet": 1.0}
    if "logits" in model.output_names:
        losses["logits"] = IdentityLoss(label_smoothing=label_smoothing)
        weights["logits"] = float(id_loss_weight)
    model.compile(optimizer=optimizer, loss=losses, loss_weights=weights,
                  run_eagerly=run_eagerly, jit_compile=False)
    return model
