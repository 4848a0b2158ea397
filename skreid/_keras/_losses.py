"""Metric-learning losses written with ``keras.ops`` (backend-agnostic), registered for saving.

* :class:`BatchHardTripletLoss` — Hermans, Beyer & Leibe, "In Defense of the Triplet Loss for
  Person Re-Identification" (2017): on a P x K batch, each anchor's hardest positive and
  hardest negative; hinge with a margin, or the soft margin ``softplus(d_ap - d_an)``.
* :class:`RandomTripletLoss` — the report's loss on random triplets: the batch is
  ``[anchors; positives; negatives]`` stacked, ``max(|a-p|^2 - |a-n|^2 + margin, 0)``.
* :class:`IdentityLoss` — softmax cross-entropy on identity logits with label smoothing
  (Luo et al., "Bag of Tricks and a Strong Baseline for Deep Person Re-ID", 2019).

This module imports Keras: import it only when a Keras estimator is used.
"""

import keras
from keras import ops

_PACKAGE = "skreid"


def pairwise_distances(embeddings, squared=False):
    """Euclidean distance matrix of a batch of embeddings (keras.ops), ``(n, n)``.

    The square root has a finite gradient at zero (identical embeddings), unlike ``sqrt``.
    """
    sq = ops.sum(ops.square(embeddings), axis=1)
    d2 = ops.expand_dims(sq, 1) - 2.0 * ops.matmul(embeddings, ops.transpose(embeddings))
    d2 = ops.maximum(d2 + ops.expand_dims(sq, 0), 0.0)
    if squared:
        return d2
    zero = ops.cast(ops.less_equal(d2, 1e-12), d2.dtype)
    # sqrt(0) has an infinite gradient: evaluate it at 1e-12 instead and mask the result
    return ops.sqrt(d2 + zero * 1e-12) * (1.0 - zero)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class BatchHardTripletLoss(keras.losses.Loss):
    """Batch-hard triplet loss on a batch of labelled embeddings.

    Parameters
    ----------
    margin : float or None, default=0.3
        Hinge margin; ``None`` uses the soft margin ``log(1 + exp(d_ap - d_an))``.

    Notes
    -----
    ``y_true`` holds the integer identity of each row of ``y_pred``. Anchors without a
    positive or a negative in the batch contribute nothing; the mean is over valid anchors.
    """

    def __init__(self, margin=0.3, name="batch_hard_triplet", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = None if margin is None else float(margin)

    def call(self, y_true, y_pred):
        labels = ops.reshape(y_true, (-1,))
        d = pairwise_distances(y_pred)
        same = ops.equal(ops.expand_dims(labels, 1), ops.expand_dims(labels, 0))
        n = ops.shape(d)[0]
        eye = ops.eye(n, dtype="bool")
        pos = ops.cast(ops.logical_and(same, ops.logical_not(eye)), d.dtype)
        neg = ops.cast(ops.logical_not(same), d.dtype)
        hardest_pos = ops.max(d * pos, axis=1)
        # non-negatives are pushed above every distance before taking the minimum
        big = ops.max(d) + 1.0
        hardest_neg = ops.min(d + big * (1.0 - neg), axis=1)
        gap = hardest_pos - hardest_neg
        per_anchor = ops.softplus(gap) if self.margin is None else ops.relu(gap + self.margin)
        valid = ops.cast(
            ops.logical_and(ops.max(pos, axis=1) > 0, ops.max(neg, axis=1) > 0), d.dtype
        )
        n_valid = ops.maximum(ops.sum(valid), 1.0)
        # rescaled so that the batch mean taken by the reduction is the mean over valid anchors
        return per_anchor * valid * ops.cast(n, d.dtype) / n_valid

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomTripletLoss(keras.losses.Loss):
    """The report's triplet loss: ``y_pred`` rows are ``[anchors; positives; negatives]``.

    Parameters
    ----------
    margin : float, default=1.0
        Margin between squared anchor-positive and anchor-negative distances.
    """

    def __init__(self, margin=1.0, name="random_triplet", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.margin = 1.0 if margin is None else float(margin)

    def call(self, y_true, y_pred):
        n = ops.shape(y_pred)[0] // 3
        a, p, q = y_pred[:n], y_pred[n : 2 * n], y_pred[2 * n : 3 * n]
        d_ap = ops.sum(ops.square(a - p), axis=1)
        d_an = ops.sum(ops.square(a - q), axis=1)
        # one value per image so the reduction's batch size matches y_true's (3n rows)
        return ops.tile(ops.relu(d_ap - d_an + self.margin), (3,))

    def get_config(self):
        return {**super().get_config(), "margin": self.margin}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class IdentityLoss(keras.losses.Loss):
    """Softmax cross-entropy on identity logits with integer labels and label smoothing.

    Logits of shape ``(batch, branches, n_classes)`` (one classifier per body stripe) give
    the mean cross-entropy over the branches.
    """

    def __init__(self, label_smoothing=0.1, name="identity", reduction="sum_over_batch_size",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.label_smoothing = float(label_smoothing)

    def call(self, y_true, y_pred):
        labels = ops.cast(ops.reshape(y_true, (-1,)), "int32")
        onehot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        if len(y_pred.shape) == 3:
            onehot = ops.broadcast_to(ops.expand_dims(onehot, 1), ops.shape(y_pred))
        loss = keras.losses.categorical_crossentropy(
            onehot, y_pred, from_logits=True, label_smoothing=self.label_smoothing
        )
        return ops.mean(loss, axis=1) if len(y_pred.shape) == 3 else loss

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing}
