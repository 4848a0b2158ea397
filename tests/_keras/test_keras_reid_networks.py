"""Direct tests of skreid._keras._reid_networks and the stripe layers."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")


def test_seed_branch_parameter_counts_match_the_report():
    from skreid._keras._reid_networks import build_reid_network

    model = build_reid_network("seed", (64, 32, 1), augment=False)
    assert model.count_params() == 1_076_344
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 624


def test_stripe_pooling_and_branch_heads_match_numpy():
    from skreid._keras._layers import ScaledDense, StripePooling
    from skreid._keras._losses import IdentityLoss

    x = np.random.RandomState(0).randn(2, 5, 3, 4).astype("float32")
    got = np.asarray(StripePooling(2)(x))
    # adaptive bins over 5 rows: rows 0-2 and rows 2-4 (the middle row in both)
    np.testing.assert_allclose(got[:, 0], x[:, 0:3].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(got[:, 1], x[:, 2:5].mean(axis=(1, 2)), rtol=1e-5)
    np.testing.assert_allclose(np.asarray(StripePooling(1)(x))[:, 0], x.mean(axis=(1, 2)),
                               rtol=1e-5)
    # fewer rows than stripes (a 64x32 image gives MobileNetV3 a 2x1 map): rows repeat
    short = np.asarray(StripePooling(4)(x[:, :2]))
    for stripe, row in ((0, 0), (1, 0), (2, 1), (3, 1)):
        np.testing.assert_allclose(short[:, stripe], x[:, row].mean(axis=1), rtol=1e-5)

    feats = np.random.RandomState(1).randn(6, 3, 4).astype("float32")
    head = ScaledDense(5, lr_multiplier=10.0, branches=3)
    out = np.asarray(head(feats))
    kernel = np.asarray(head.kernel) * 10.0
    assert kernel.shape == (3, 4, 5)
    for b in range(3):  # one classifier per branch, not a shared one
        np.testing.assert_allclose(out[:, b], feats[:, b] @ kernel[b], rtol=1e-4, atol=1e-5)
    labels = np.array([0, 1, 2, 3, 4, 0])
    per_branch = [float(IdentityLoss()(labels, out[:, b])) for b in range(3)]
    np.testing.assert_allclose(float(IdentityLoss()(labels, out)), np.mean(per_branch),
                               rtol=1e-5)


@pytest.mark.parametrize("image_size, flip_before_resize", [((32, 16), True), ((8, 4), False)])
def test_augmentation_runs_at_the_smaller_resolution(image_size, flip_before_resize):
    from skreid._keras._reid_networks import build_reid_network

    net = build_reid_network("seed", (16, 8, 3), image_size=image_size, augment=True)
    kinds = [type(layer).__name__ for layer in net.layers]
    assert (kinds.index("RandomFlip") < kinds.index("Resizing")) == flip_before_resize
    assert kinds.index("RandomErasing") < kinds.index("Conv2D")
