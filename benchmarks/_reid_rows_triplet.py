"""TripletEmbedder rows of ``benchmarks/reid_cab420.py`` (imported there through its hook).

Rows: (a) the report's setting reproduced (seed branch, 64x32 gray, random triplets, RMSProp,
batch 256, 5 epochs), (b) the seed branch trained well (P x K batch-hard), (c) the default
TripletEmbedder (MobileNetV3-Small from the shared ImageNet weights), and the estimator's
training throughput against plain ``model.fit`` (``triplet_overhead.py``).

Every row fits on ``Training/`` only (identities, cameras); its validation split for early
stopping is drawn from the Training identities. Gallery and probes are embedded after
``fit`` returns. Set ``SKREID_TRIPLET_ROWS`` (comma-separated letters, e.g. ``a,b``) to run
only some rows, and ``SKREID_WEIGHTS`` to point at the MobileNetV3 weights file (default:
``<data>/../../weights/<shared file>``).
"""

import os
import time

import numpy as np
from _common import Row, best_params

from skreid.metrics import evaluate_reid


def _triplet_run(factory, note_extra=""):
    def run(data):
        est = factory(data)
        start = time.perf_counter()
        est.fit(data.train.images, data.train.person_ids, cameras=data.train.camera_ids)
        fit_s = time.perf_counter() - start
        start = time.perf_counter()
        g = est.transform(data.gallery.images)
        q = est.transform(data.query.images)
        res = evaluate_reid(q, data.query.person_ids, g, data.gallery.person_ids,
                            metric=est.metric)
        eval_s = time.perf_counter() - start
        # images actually pushed through training (sampled batches), per second of fit
        n_seen = sum(_images_per_epoch(est, data) for _ in range(est.n_epochs_))
        val = est.history_.get("val_rank1")
        note = (f"{n_seen / fit_s:.0f} train img/s; {est.n_epochs_} ep"
                + (f"; best val r1 {np.nanmax(val):.2f}" if val else "") + note_extra)
        return dict(top1=res["rank1"], top5=res["rank5"], top10=res["rank10"], mAP=res["mAP"],
                    fit_s=fit_s, eval_s=eval_s, note=note)

    return run


def _images_per_epoch(est, data):
    ids, counts = np.unique(data.train.person_ids, return_counts=True)
    n_train_ids = len(ids) - len(getattr(est, "validation_identities_", []))
    n = int(counts.sum() * n_train_ids / len(ids))
    if est.loss == "random_triplet":
        return max(1, n // est.batch_size) * 3 * est.batch_size
    P = est.batch_size // est.images_per_identity
    return max(-(-n_train_ids // P), n // est.batch_size) * est.batch_size


def _overhead_run(data):
    from triplet_overhead import format_overhead, measure_overhead

    params = best_params(data.root)
    start = time.perf_counter()
    res = measure_overhead(data.train.images, data.train.person_ids, params, epochs=3)
    return dict(top1=None, top5=None, top10=None, mAP=None,
                fit_s=time.perf_counter() - start, eval_s=None, note=format_overhead(res))


def rows():
    from skreid.reid import TripletEmbedder

    wanted = os.environ.get("SKREID_TRIPLET_ROWS", "a,b,c,o").split(",")
    spec = [
        ("a", "(a) Triplet seed: report setting (rand. trip.)",
         lambda d: TripletEmbedder.from_preset("report", random_state=0)),
        ("b", "(b) Triplet seed: PK batch-hard (seed_pk)",
         lambda d: TripletEmbedder.from_preset("seed_pk", random_state=0)),
        ("c", "(c) TripletEmbedder() MobileNetV3S (default)",
         lambda d: TripletEmbedder(**best_params(d.root))),
    ]
    out = [Row(name, "triplet", _triplet_run(f)) for key, name, f in spec if key in wanted]
    if "o" in wanted:
        out.append(Row("estimator vs plain model.fit (overhead)", "triplet", _overhead_run))
    return out
