"""Tracklets and camera normalisation on the real CAB420 training identities (slow; skipped
unless SKREID_TEST_DATA is set). The figures of ``benchmarks/tracklets.py`` and
``benchmarks/camera_norm.py`` with the PCAReID model, checked as inequalities."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from skreid.metrics import evaluate_reid
from skreid.reid import PCAReID

DATA = os.environ.get("SKREID_TEST_DATA")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA, reason="SKREID_TEST_DATA is not set (real CAB420 subset)"),
]
BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def training():
    from skreid.datasets import load_market1501

    return load_market1501(Path(DATA) / "market1501" / "cab420_subset").train


def _pca():
    return PCAReID(100, projection="xqda", metric="cosine", image_size=(64, 32), random_state=0)


def test_tracklets_beat_single_images_on_held_out_identities(training):
    ids, cams = training.person_ids, training.camera_ids
    held_out = np.isin(ids, np.unique(ids)[::3])
    est = _pca().fit(training.images[~held_out], ids[~held_out])
    emb, ids, cams = est.transform(training.images[held_out]), ids[held_out], cams[held_out]
    tracklets = ids * 10 + cams
    images = evaluate_reid(emb, ids, query_cameras=cams, metric="cosine")
    sets = evaluate_reid(emb, ids, query_cameras=cams, metric="cosine",
                         query_tracklets=tracklets)
    assert sets["rank1"] > images["rank1"] + 0.05 and sets["mAP"] > images["mAP"] + 0.1
    # the estimator's tracklet gallery gives the same rank-1
    est.set_gallery(training.images[held_out], ids, cameras=cams, tracklets=tracklets)
    assert est.score(training.images[held_out], ids, cameras=cams,
                     tracklets=tracklets) == pytest.approx(sets["rank1"], abs=0.02)


def test_camera_normalisation_helps_under_the_camera_rule_on_unseen_cameras(training):
    sys.path.insert(0, str(BENCHMARKS))
    try:
        from _domain import domain_split
    finally:
        sys.path.remove(str(BENCHMARKS))
    ids, cams = training.person_ids, training.camera_ids
    gains = []
    for fold in ("A", "B"):
        split = domain_split(ids, cams, fold)
        est = _pca().fit(training.images[split.source], ids[split.source])
        emb = est.transform(training.images[split.test])
        kwargs = dict(query_cameras=cams[split.test], metric="cosine")
        plain = evaluate_reid(emb, ids[split.test], **kwargs)
        normed = evaluate_reid(emb, ids[split.test], camera_normalization="whiten", **kwargs)
        gains.append(normed["rank1"] - plain["rank1"])
    assert min(gains) > 0.02, gains
