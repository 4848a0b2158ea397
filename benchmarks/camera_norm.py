"""Per-camera normalisation of embeddings on cameras the model never saw.

Usage::

    python benchmarks/camera_norm.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/camera_norm.py --data PATH --model triplet --epochs 20

On each fold of the camera-held-out split of ``_domain.py`` the model is fitted on the
``source`` identities in the source cameras, then judged on the ``test`` identities in the two
target cameras it never saw (identities it never saw either):

- **cross-camera**: the images of one target camera are the queries, those of the other the
  gallery (both directions, averaged);
- **camera rule**: every test image against all the others (leave-one-out, Market-1501 rule:
  other people's same-camera images stay in the gallery).

Rows: no normalisation; ``camera_normalization="center"`` / ``"whiten"`` in
:func:`skreid.metrics.evaluate_reid` (statistics of the ranked images themselves: camera ids,
no labels); and the same statistics fitted instead on the fold's ``adapt`` images -- unlabeled
crops of *other* people in the target cameras -- passed as a fitted
:class:`skreid.metrics.pairwise.CameraStatistics`, as a deployment would estimate them before
the people it searches for appear. The test folders are never read. Prints ONE table.
"""

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _domain import FOLDS, domain_split  # noqa: E402
from _embeddings import MODELS, describe, embeddings, load_training  # noqa: E402

from skreid.metrics import evaluate_reid  # noqa: E402
from skreid.metrics.pairwise import CameraStatistics  # noqa: E402

NORMALIZATIONS = (("none", None, False), ("center", "center", False),
                  ("whiten", "whiten", False), ("center, adapt-set stats", "center", True),
                  ("whiten, adapt-set stats", "whiten", True))


def _mean(results):
    return {k: float(np.mean([r[k] for r in results])) for k in ("rank1", "mAP")}


def fold_rows(emb, ids, cams, split, metric="cosine"):
    """{row name: {"cross": {rank1, mAP}, "rule": {rank1, mAP}}} for one fold."""
    test = split.test
    c1, c2 = split.target_cameras
    out = {}
    for name, mode, from_adapt in NORMALIZATIONS:
        norm = mode
        if from_adapt and mode:
            norm = CameraStatistics(mode).fit(emb[split.adapt], cams[split.adapt])
        cross = []
        for qc, gc in ((c1, c2), (c2, c1)):
            q, g = test & (cams == qc), test & (cams == gc)
            cross.append(evaluate_reid(emb[q], ids[q], emb[g], ids[g], cams[q], cams[g],
                                       metric=metric, camera_normalization=norm))
        rule = evaluate_reid(emb[test], ids[test], query_cameras=cams[test], metric=metric,
                             camera_normalization=norm)
        out[name] = {"cross": _mean(cross), "rule": _mean([rule])}
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the cab420_subset folder")
    parser.add_argument("--model", choices=MODELS, default="pca")
    parser.add_argument("--epochs", type=int, default=20, help="TripletEmbedder epochs")
    parser.add_argument("--cache-dir", default="/tmp", help="where embeddings are cached")
    args = parser.parse_args(argv)
    train = load_training(args.data)
    ids, cams = train.person_ids, train.camera_ids
    per_fold, notes = {}, []
    for fold in FOLDS:
        split = domain_split(ids, cams, fold)
        emb, fit_s = embeddings(args.data, train, split.source, args.model,
                                epochs=args.epochs, cache_dir=args.cache_dir)
        per_fold[fold] = fold_rows(emb, ids, cams, split)
        notes.append(f"fold {fold}: target cameras {split.target_cameras}, fit on "
                     f"{int(split.source.sum())} source images in {fit_s:.0f} s, "
                     f"{int(split.test.sum())} test images, {int(split.adapt.sum())} adapt "
                     "images")
    print(f"model: {describe(args.model, args.epochs)}; cosine distance")
    for note in notes:
        print(note)
    folds = list(FOLDS)
    columns = [f"{f} {kind} R1 / mAP" for f in folds for kind in ("cross", "rule")]
    columns += ["mean cross R1 / mAP", "mean rule R1 / mAP"]
    print(f"| {'normalisation':25} | " + " | ".join(columns) + " |")
    print(f"|{'-' * 27}|" + "|".join("-" * (len(c) + 2) for c in columns) + "|")
    for name, _, _ in NORMALIZATIONS:
        cells = []
        for f in folds:
            for kind in ("cross", "rule"):
                cells.append(per_fold[f][name][kind])
        cells += [_mean([per_fold[f][name][kind] for f in folds]) for kind in ("cross", "rule")]
        text = [f"{100 * r['rank1']:5.1f} / {100 * r['mAP']:5.1f}".rjust(len(c))
                for r, c in zip(cells, columns, strict=True)]
        print(f"| {name:25} | " + " | ".join(text) + " |")


if __name__ == "__main__":
    main()
