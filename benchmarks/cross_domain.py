"""Cross-domain re-ID: a model trained on some Market-1501 cameras, used on the others.

Usage::

    python benchmarks/cross_domain.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/cross_domain.py --data PATH --quick           # minutes, not hours
    python benchmarks/cross_domain.py --data PATH --models /tmp/xd  # keep/reuse fitted models
    python benchmarks/cross_domain.py --data PATH --learning-curve  # in-domain vs identities

On each fold of the camera-held-out split of ``benchmarks/_domain.py`` (``A``: cameras 5 and
6 held out, ``B``: cameras 1 and 4), with identities never used for training or adaptation
as the test set (their images in the held-out cameras):

- **zero-shot**: the default ``TripletEmbedder`` trained with labels on the ``source``
  identities in the other cameras;
- **camera-normalised**: the same embeddings with each test camera's mean removed
  (``evaluate_reid(..., camera_normalization="center")``: camera ids only, no labels);
- **adapted**: the zero-shot model adapted on the unlabeled ``adapt`` crops (other
  identities, held-out cameras: ``fit(X, -1, cameras=...)`` with ``warm_start=True``);
- **adapted, camera-normalised**: both;
- **in-domain**: the upper reference, a model trained with labels on the held-out cameras'
  images of the source identities.

Columns: cross-camera rank-1 / mAP (each test camera's images query the other cameras'
images; averaged over all queries) and camera-rule rank-1 / mAP (Market-1501's rule over all
test images: same identity and camera ignored, other people's same-camera images stay in the
gallery). Rows are averaged over the folds at the end. ``--quick`` trains at 128x64 for a
few epochs (a smoke run of the script, not the figures). The ``Testing/`` folders are never
read. Prints ONE table.

``--learning-curve`` prints the other table instead: the default ``TripletEmbedder`` fitted
on the first 50 / 100 / 200 / 300 training identities (a fixed random order), scored
in-domain on the course's ``Testing/Probe`` against ``Testing/Gallery`` (301 unseen
identities; the only table that reads the test folders: it measures, it chooses nothing).
It is ``benchmarks/domain_recipes.py --table learning-curve``.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _common import shared_weights  # noqa: E402
from _domain import FOLDS, domain_split  # noqa: E402

#: the fits' parameters besides the estimator's defaults, full and --quick
FULL = {}
QUICK = dict(image_size=(128, 64), epochs=4, warmup_epochs=1, adapt_rounds=2, adapt_epochs=1)
ROWS = ("zero-shot", "camera-normalised", "adapted", "adapted, camera-normalised", "in-domain")


def with_two_images(ids, mask):
    """``mask`` less the identities that have a single image under it."""
    found, counts = np.unique(ids[mask], return_counts=True)
    return mask & np.isin(ids, found[counts >= 2])


def target_scores(embeddings, ids, cameras, camera_normalization=None):
    """Cross-camera and camera-rule rank-1 / mAP (%) of the test images; with
    ``camera_normalization`` ("center"), each test camera's statistics taken out first
    (:func:`skreid.metrics.evaluate_reid`'s option: camera ids only, no labels)."""
    from skreid.metrics import evaluate_reid

    totals, n = np.zeros(2), 0
    for cam in np.unique(cameras):
        q = cameras == cam
        res = evaluate_reid(embeddings[q], ids[q], embeddings[~q], ids[~q],
                            query_cameras=cameras[q], gallery_cameras=cameras[~q],
                            camera_normalization=camera_normalization)
        totals += res["n_queries"] * np.array([res["rank1"], res["mAP"]])
        n += res["n_queries"]
    rule = evaluate_reid(embeddings, ids, query_cameras=cameras,
                         camera_normalization=camera_normalization)
    return {"x_rank1": 100 * totals[0] / n, "x_mAP": 100 * totals[1] / n,
            "rule_rank1": 100 * rule["rank1"], "rule_mAP": 100 * rule["mAP"]}


def _fitted(name, models, fit):
    """The model saved as ``models/name.skreid``, or ``fit()`` (saved there when given)."""
    import skreid

    path = None if models is None else os.path.join(models, f"{name}.skreid")
    if path and os.path.exists(path):
        return skreid.load(path), 0.0
    start = time.perf_counter()
    est = fit()
    seconds = time.perf_counter() - start
    if path:
        os.makedirs(models, exist_ok=True)
        skreid.save(est, path)
    return est, seconds


def run_fold(data, fold, params, models, verbose, tag):
    from skreid.reid import TripletEmbedder

    split = domain_split(data.person_ids, data.camera_ids, fold)
    ids, cams, X = data.person_ids, data.camera_ids, data.images
    source = with_two_images(ids, split.source)
    target = np.isin(cams, split.target_cameras)
    in_domain = with_two_images(ids, np.isin(ids, np.unique(ids[split.source])) & target)
    test = split.test
    tag = f"{fold}-{tag}"

    def fit(mask):
        return lambda: TripletEmbedder(**params, verbose=verbose).fit(
            X[mask], ids[mask], cameras=cams[mask])

    rows = {}
    est, fit_s = _fitted(f"source-{tag}", models, fit(source))
    zero = est.transform(X[test])
    rows["zero-shot"] = {**target_scores(zero, ids[test], cams[test]), "seconds": fit_s}
    rows["camera-normalised"] = {
        **target_scores(zero, ids[test], cams[test], camera_normalization="center"),
        "seconds": 0.0}
    start = time.perf_counter()
    est.set_params(warm_start=True, verbose=verbose)
    est.fit(X[split.adapt], np.full(int(split.adapt.sum()), -1), cameras=cams[split.adapt])
    adapt_s = time.perf_counter() - start
    adapted = est.transform(X[test])
    rows["adapted"] = {**target_scores(adapted, ids[test], cams[test]), "seconds": adapt_s,
                       "clusters": est.adaptation_[-1]["clusters_per_round"]}
    rows["adapted, camera-normalised"] = {
        **target_scores(adapted, ids[test], cams[test], camera_normalization="center"),
        "seconds": 0.0}
    ref, ref_s = _fitted(f"in-domain-{tag}", models, fit(in_domain))
    rows["in-domain"] = {**target_scores(ref.transform(X[test]), ids[test], cams[test]),
                         "seconds": ref_s}
    counts = {name: (int(m.sum()), len(np.unique(ids[m]))) for name, m in
              (("source", source), ("adapt", split.adapt), ("test", test),
               ("in-domain", in_domain))}
    return rows, counts


def format_table(results, counts):
    lines = ["| fold | row | cross-camera R1 | cross-camera mAP | camera-rule R1 | "
             "camera-rule mAP | seconds |", "|---|---|---|---|---|---|---|"]
    keys = ("x_rank1", "x_mAP", "rule_rank1", "rule_mAP")
    for fold, rows in results.items():
        for name in ROWS:
            r = rows[name]
            lines.append(f"| {fold} | {name} | " + " | ".join(f"{r[k]:.1f}" for k in keys)
                         + f" | {r['seconds']:.0f} |")
    if len(results) > 1:
        for name in ROWS:
            mean = [np.mean([rows[name][k] for rows in results.values()]) for k in keys]
            lines.append(f"| mean | {name} | " + " | ".join(f"{v:.1f}" for v in mean) + " | |")
    notes = [f"fold {fold}: " + ", ".join(f"{k} {n} images / {i} ids" for k, (n, i) in c.items())
             + f"; pseudo-identities per round {results[fold]['adapted']['clusters']}"
             for fold, c in counts.items()]
    return "\n".join(lines + [""] + notes)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="course-layout folder (Training/)")
    parser.add_argument("--weights", help="MobileNetV3 weights file (default: beside the data)")
    parser.add_argument("--folds", nargs="+", default=sorted(FOLDS), choices=sorted(FOLDS))
    parser.add_argument("--quick", action="store_true", help="128x64, a few epochs")
    parser.add_argument("--models", help="folder keeping the fitted source/in-domain models")
    parser.add_argument("--verbose", type=int, default=0)
    parser.add_argument("--learning-curve", action="store_true",
                        help="in-domain R1/mAP against the number of training identities")
    args = parser.parse_args(argv)
    if args.learning_curve:
        from domain_recipes import learning_curve

        learning_curve(args)
        return

    from skreid.datasets import load_market1501

    data = load_market1501(args.data).train
    params = {**(QUICK if args.quick else FULL), "random_state": 0,
              "weights": shared_weights(args.data, args.weights)}
    results, counts = {}, {}
    for fold in args.folds:
        results[fold], counts[fold] = run_fold(data, fold, params, args.models, args.verbose,
                                               "quick" if args.quick else "full")
    print(format_table(results, counts))


if __name__ == "__main__":
    main()
