"""Which TripletEmbedder recipe carries to cameras it never saw: the camera-held-out table.

Usage::

    python benchmarks/domain_recipes.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/domain_recipes.py --data PATH --table final        # default settings
    python benchmarks/domain_recipes.py --data PATH --changes '{}' '{"ibn": true}' --folds A
    python benchmarks/domain_recipes.py --data PATH --table learning-curve

``recipes`` and ``final`` (development protocol, ``benchmarks/_domain.py``; the ``Testing/``
folders are never read): each row fits on a fold's ``source`` images (half of the 300
training identities, in the four non-target cameras) and is scored on the fold's ``test``
identities, which training never saw:

* **x-cam**: the test images of one target camera as queries, those of the other target
  camera as gallery, both ways (R1 and mAP averaged over all queries of both directions):
  the "my two new cameras" figure;
* **cam-rule**: every test image in the target cameras as query against all the others,
  under the Market-1501 camera rule (same identity *and* camera ignored; other people's
  same-camera images stay in the gallery, so an embedding that matches lighting and
  background before people falls here);
* **in-dom**: the same unseen identities' images in the *source* cameras, camera rule:
  seen cameras, unseen people (a recipe change must not cost it).

Every row of a table starts from the table's base (the shared MobileNetV3-Small weights,
seed 0, no validation split, the table's working size and epochs, and the defaults the table
was measured against, pinned in ``PINNED`` so the rows stay reproducible when defaults
change) plus its changes. ``--changes`` replaces the rows.

``learning-curve``: the current defaults fitted on the first N of the 300 training
identities (a fixed random order) for N = 50, 100, 200, 300, scored on the course's
in-domain protocol, ``Testing/Probe`` against ``Testing/Gallery`` (301 unseen identities,
one image each, no camera filtering; Top-1 and mAP as ``reid_cab420.py``). This table alone
reads the test folders: it measures, it chooses nothing.

Prints ONE table.
"""

import argparse
import json
import os
import time

import numpy as np
from _domain import FOLDS, domain_split

from skreid.datasets import load_market1501
from skreid.metrics import evaluate_reid

#: the recipe defaults before the camera-held-out study (the rows' common base)
PINNED = {}

#: the tables: working size, epochs, base changes, rows of changes
TABLES = {
    # 20 epochs at the default working size: about a quarter of a default fit per fold
    "recipes": dict(image_size=(256, 128), epochs=20, base=PINNED, changes=({},)),
    # the default settings, old and new recipe
    "final": dict(image_size=(256, 128), epochs=40, base=PINNED, changes=({},)),
}

#: identities of the learning curve
CURVE_SIZES = (50, 100, 200, 300)


def _weighted(results):
    """R1 and mAP over the queries of several evaluations (each weighted by its queries)."""
    n = np.array([r["n_queries"] for r in results], float)
    return (float(np.dot(n, [r["rank1"] for r in results]) / n.sum()),
            float(np.dot(n, [r["mAP"] for r in results]) / n.sum()))


def score_domain(emb, ids, cams, target_cameras):
    """The three figures of one fold from the test identities' embeddings (all cameras)."""
    target = np.isin(cams, target_cameras)
    c1, c2 = target_cameras
    cross = []
    for qc, gc in ((c1, c2), (c2, c1)):
        q, g = cams == qc, cams == gc
        cross.append(evaluate_reid(emb[q], ids[q], emb[g], ids[g]))
    rule = evaluate_reid(emb[target], ids[target], query_cameras=cams[target])
    indom = evaluate_reid(emb[~target], ids[~target], query_cameras=cams[~target])
    return {"xcam": _weighted(cross), "rule": (rule["rank1"], rule["mAP"]),
            "indom": (indom["rank1"], indom["mAP"])}


def run_fold(train, fold, params):
    """Fit ``params`` on a fold's source images; score its test identities."""
    from skreid.reid import TripletEmbedder

    split = domain_split(train.person_ids, train.camera_ids, fold)
    ids, counts = np.unique(train.person_ids[split.source], return_counts=True)
    # the batch-hard loss needs a positive: drop identities with one source-camera image
    src = split.source & np.isin(train.person_ids, ids[counts >= 2])
    est = TripletEmbedder(**params)
    start = time.perf_counter()
    est.fit(train.images[src], train.person_ids[src], cameras=train.camera_ids[src])
    fit_s = time.perf_counter() - start
    test_ids = np.unique(train.person_ids[split.test])
    every = np.isin(train.person_ids, test_ids)  # their images in every camera
    emb = est.transform(train.images[every])
    res = score_domain(emb, train.person_ids[every], train.camera_ids[every],
                       split.target_cameras)
    res["fit_min"] = fit_s / 60
    return res


def recipe_table(args, table):
    train = load_market1501(args.data).train
    changes = ([json.loads(c) for c in args.changes] if args.changes is not None
               else list(table["changes"]))
    size = tuple(args.image_size or table["image_size"])
    epochs = args.epochs or table["epochs"]
    base = dict(weights=_weights(args), random_state=0, validation_fraction=0.0,
                image_size=size, epochs=epochs, **table["base"])
    rows = []
    for change in changes:
        name = json.dumps(change) if change else "none (base)"
        per_fold = {}
        for fold in args.folds:
            per_fold[fold] = run_fold(train, fold, {**base, **change})
            print(f"[done] {name} fold {fold}: {json.dumps(per_fold[fold])}", flush=True)
        rows.append((name, per_fold))
    folds = ", ".join(f"{f}: target cameras {FOLDS[f]}" for f in args.folds)
    print(f"camera-held-out folds ({folds}); fit on the source ids (150, less those with one "
          f"image) in the other cameras; {size[0]}x{size[1]}, {epochs} epochs, seed 0 "
          f"({os.cpu_count()} CPUs). R1 / mAP in %.")
    cols = [f"{f} {k}" for f in args.folds for k in ("x-cam", "cam-rule", "in-dom")]
    width = max(len("recipe (change from the base)"), *(len(r[0]) for r in rows))
    head = f"| {'recipe (change from the base)':{width}} | " + " | ".join(
        f"{c:11}" for c in cols) + " | fit min |"
    print(head)
    print("|" + "-" * (width + 2) + "|" + "|".join("-" * 13 for _ in cols) + "|---------|")
    for name, per_fold in rows:
        cells = [f"{100 * per_fold[f][k][0]:4.1f} / {100 * per_fold[f][k][1]:4.1f}"
                 for f in args.folds for k in ("xcam", "rule", "indom")]
        fit = " + ".join(f"{per_fold[f]['fit_min']:.1f}" for f in args.folds)
        print(f"| {name:{width}} | " + " | ".join(f"{c:11}" for c in cells) + f" | {fit:7} |")


def learning_curve(args):
    from skreid.reid import TripletEmbedder

    data = load_market1501(args.data)
    train = data.train
    order = np.random.default_rng(0).permutation(np.unique(train.person_ids))
    rows = []
    for n_ids in CURVE_SIZES:
        keep = np.isin(train.person_ids, order[:n_ids])
        est = TripletEmbedder(weights=_weights(args), random_state=0)
        start = time.perf_counter()
        est.fit(train.images[keep], train.person_ids[keep], cameras=train.camera_ids[keep])
        fit_s = time.perf_counter() - start
        res = evaluate_reid(est.transform(data.query.images), data.query.person_ids,
                            est.transform(data.gallery.images), data.gallery.person_ids)
        rows.append((n_ids, int(keep.sum()), res["rank1"], res["rank5"], res["mAP"], fit_s))
        print(f"[done] {rows[-1]}", flush=True)
    print(f"TripletEmbedder() defaults, seed 0, fitted on the first N training identities "
          f"(fixed random order); CAB420 Testing Probe vs Gallery (301 ids, single-shot, no "
          f"camera filtering) ({os.cpu_count()} CPUs)")
    print("| identities | images | Top-1 % | Top-5 % | mAP % | fit min |")
    print("|------------|--------|---------|---------|-------|---------|")
    for n_ids, n_img, r1, r5, m, fit_s in rows:
        print(f"| {n_ids:10} | {n_img:6} | {100 * r1:7.1f} | {100 * r5:7.1f} | {100 * m:5.1f} "
              f"| {fit_s / 60:7.1f} |")


def _weights(args):
    from _common import shared_weights

    return shared_weights(args.data, args.weights)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the cab420_subset folder")
    parser.add_argument("--weights", default=None,
                        help="MobileNetV3-Small .weights.h5 (default: the shared file beside "
                             "the data)")
    parser.add_argument("--table", choices=[*sorted(TABLES), "learning-curve"],
                        default="recipes", help="which table to measure (default: recipes)")
    parser.add_argument("--folds", nargs="+", choices=sorted(FOLDS), default=sorted(FOLDS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the table's number of epochs")
    parser.add_argument("--image-size", type=int, nargs=2, default=None,
                        help="override the table's working size (height width)")
    parser.add_argument("--changes", nargs="*", default=None,
                        help="JSON objects of parameter changes (default: the table's rows)")
    args = parser.parse_args(argv)
    if args.table == "learning-curve":
        learning_curve(args)
    else:
        recipe_table(args, TABLES[args.table])


if __name__ == "__main__":
    main()
