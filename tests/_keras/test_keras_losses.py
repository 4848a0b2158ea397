"""Direct tests of skreid._keras._losses against NumPy."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def _np_batch_hard(emb, labels, margin):
    d = np.sqrt(np.maximum(((emb[:, None] - emb[None]) ** 2).sum(-1), 0))
    out = []
    for i in range(len(emb)):
        pos = (labels == labels[i]) & (np.arange(len(emb)) != i)
        neg = labels != labels[i]
        if not pos.any() or not neg.any():
            continue
        gap = d[i, pos].max() - d[i, neg].min()
        out.append(np.log1p(np.exp(gap)) if margin is None else max(gap + margin, 0.0))
    return np.mean(out)


@pytest.mark.parametrize("margin", [0.3, 1.0, None])
def test_batch_hard_loss_matches_numpy(margin):
    from skreid._keras._losses import BatchHardTripletLoss

    rng = np.random.RandomState(0)
    for trial in range(3):
        labels = np.repeat(rng.permutation(6)[:4], 3)
        labels[-1] = 99  # an anchor without a positive is left out
        emb = rng.randn(len(labels), 5).astype(np.float32) * (trial + 1) * 0.3
        got = float(BatchHardTripletLoss(margin=margin)(labels, emb))
        np.testing.assert_allclose(got, _np_batch_hard(emb, labels, margin), rtol=1e-4)


def test_random_triplet_and_identity_losses_match_numpy():
    from skreid._keras._losses import IdentityLoss, RandomTripletLoss

    rng = np.random.RandomState(1)
    emb = rng.randn(12, 4).astype(np.float32)
    a, p, n = emb[:4], emb[4:8], emb[8:]
    expected = np.maximum(((a - p) ** 2).sum(1) - ((a - n) ** 2).sum(1) + 0.5, 0).mean()
    got = float(RandomTripletLoss(margin=0.5)(np.zeros(12), emb))
    np.testing.assert_allclose(got, expected, rtol=1e-5)

    logits = rng.randn(5, 3).astype(np.float32)
    labels = np.array([0, 2, 1, 1, 0])
    target = np.full((5, 3), 0.1 / 3) + 0.9 * np.eye(3)[labels]
    logp = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    expected = -(target * logp).sum(1).mean()
    got = float(IdentityLoss(label_smoothing=0.1)(labels, logits))
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_batch_hard_gradient_is_finite_for_identical_embeddings():
    import tensorflow as tf

    from skreid._keras._losses import BatchHardTripletLoss

    emb = tf.Variable(np.ones((4, 3), np.float32))
    with tf.GradientTape() as tape:
        loss = BatchHardTripletLoss(0.3)(np.array([0, 0, 1, 1]), emb)
    assert np.isfinite(tape.gradient(loss, emb).numpy()).all()
