"""A trained TripletEmbedder looks at the person: its activation maps concentrate on the
body more than an untrained network's (slow; needs SKREID_TEST_DATA: the CAB420
Market-1501 subset and the shared MobileNetV3-Small ImageNet weights).

The number: the share of a map's energy in the central half of the image's columns, where
a Market-1501 ``gt_bbox`` crop has the person (0.5 for a uniform map), averaged over the
301 gallery images, whose identities no model here was trained on.
"""

import os
from pathlib import Path

import numpy as np
import pytest

DATA = os.environ.get("SKREID_TEST_DATA")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA, reason="SKREID_TEST_DATA is not set (real CAB420 subset and "
                                        "MobileNetV3 weights)"),
]


def central_share(maps):
    """Share of each map's energy in the central half of its columns."""
    w = maps.shape[2]
    return maps[:, :, w // 4:w - w // 4].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


def test_trained_maps_concentrate_on_the_person():
    pytest.importorskip("keras")
    from skreid.datasets import load_market1501
    from skreid.reid import TripletEmbedder

    weights = Path(DATA) / "weights" / \
        "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"
    data = load_market1501(Path(DATA) / "market1501" / "cab420_subset")
    # a short fit: the first 6 images (or fewer) of 100 training identities, 553 crops
    ids = np.unique(data.train.person_ids)[:100]
    keep = np.concatenate([np.flatnonzero(data.train.person_ids == i)[:6] for i in ids])
    X, y = data.train.images[keep], data.train.person_ids[keep]
    # "untrained": one epoch at a learning rate of 1e-9 leaves the weights as they started
    # (the random network's BatchNorm statistics are estimated on the data, as in any fit)
    untrained = dict(epochs=1, learning_rate=1e-9, lr_schedule="constant")
    configs = {
        "random init": dict(weights=None, **untrained),
        "ImageNet only": dict(weights=str(weights), **untrained),
        "ImageNet, fine-tuned 6 epochs": dict(weights=str(weights), epochs=6,
                                              warmup_epochs=1),
    }
    share = {}
    for name, params in configs.items():
        est = TripletEmbedder(random_state=0, **params).fit(X, y)
        share[name] = float(central_share(est.activation_maps(data.gallery.images)).mean())
        print(f"{name}: central share {share[name]:.3f}")
    # measured: 0.501, 0.493 and 0.623 (27 minutes on 2 heavily shared cores)
    assert abs(share["random init"] - 0.5) < 0.05
    assert abs(share["ImageNet only"] - 0.5) < 0.05
    trained = share["ImageNet, fine-tuned 6 epochs"]
    assert trained > 0.56
    assert trained > max(share["random init"], share["ImageNet only"]) + 0.06
