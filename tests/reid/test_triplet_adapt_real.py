"""Adaptation to cameras never trained on, from unlabeled crops, on real Market-1501 images
(slow; needs SKREID_TEST_DATA: the CAB420 subset and the shared MobileNetV3-Small weights).

A camera-held-out split of the 300 training identities (as ``benchmarks/cross_domain.py``,
smaller and shorter): a model is trained with labels on the first half of the identities in
cameras 1-4, adapted on unlabeled crops of the third quarter in cameras 5 and 6, and scored
on the last quarter in cameras 5 and 6 (people never used for training or adaptation), each
camera querying the other.
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

TARGET_CAMERAS = (5, 6)


def cross_camera(emb, ids, cams, camera_normalization=None):
    """R1 and mAP (%) of each target camera's images querying the other camera's."""
    from skreid.metrics import evaluate_reid

    scores, weights = [], []
    for cam in TARGET_CAMERAS:
        q, g = cams == cam, cams != cam
        res = evaluate_reid(emb[q], ids[q], emb[g], ids[g], query_cameras=cams[q],
                            gallery_cameras=cams[g], camera_normalization=camera_normalization)
        scores.append((res["rank1"], res["mAP"]))
        weights.append(res["n_queries"])
    return 100 * np.average(np.array(scores), axis=0, weights=weights)


def test_adapting_on_unlabeled_crops_of_new_cameras_helps_on_other_people():
    pytest.importorskip("keras")
    from skreid.datasets import load_market1501
    from skreid.reid import TripletEmbedder

    weights = Path(DATA) / "weights" / \
        "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"
    train = load_market1501(Path(DATA) / "market1501" / "cab420_subset").train
    ids, cams, X = train.person_ids, train.camera_ids, train.images
    order = np.random.default_rng(0).permutation(np.unique(ids))
    source_ids, adapt_ids, test_ids = order[:150], order[150:225], order[225:]
    target = np.isin(cams, TARGET_CAMERAS)
    source = np.isin(ids, source_ids) & ~target
    # batch-hard needs two images of a person: drop those seen once outside cameras 5 and 6
    kept, counts = np.unique(ids[source], return_counts=True)
    source &= np.isin(ids, kept[counts >= 2])
    adapt = np.isin(ids, adapt_ids) & target
    test = np.isin(ids, test_ids) & target

    est = TripletEmbedder(weights=str(weights), image_size=(128, 64), epochs=8,
                          warmup_epochs=1, adapt_rounds=2, adapt_epochs=2, random_state=0)
    est.fit(X[source], ids[source], cameras=cams[source])
    zero = est.transform(X[test])
    zero_r1, zero_map = cross_camera(zero, ids[test], cams[test])

    est.set_params(warm_start=True)
    est.fit(X[adapt], np.full(int(adapt.sum()), -1), cameras=cams[adapt])
    (record,) = est.adaptation_
    assert record["n_unlabeled_images"] == adapt.sum() and record["cameras"] == [5, 6]
    # a few dozen people: the clustering finds tens of pseudo-identities, not 2 or 700
    assert all(10 <= n <= 150 for n in record["clusters_per_round"])
    adapted = est.transform(X[test])
    r1, m = cross_camera(adapted, ids[test], cams[test])
    c_r1, c_map = cross_camera(adapted, ids[test], cams[test], camera_normalization="center")
    print(f"zero-shot {zero_r1:.1f}/{zero_map:.1f}, adapted {r1:.1f}/{m:.1f}, adapted and "
          f"camera-centred {c_r1:.1f}/{c_map:.1f} (cross-camera R1/mAP %)")
    # the test people were never seen: what adaptation learnt is the cameras
    assert c_map > zero_map + 2
    assert max(m, c_map) > zero_map
