"""Oxford-IIIT Pet: breed classification + segmentation, the report's numbers and ours.

Usage::

    python benchmarks/pets.py --data /work/shared/data
    python benchmarks/pets.py --data PATH --only lr,finetuned     # some rows only
    python benchmarks/pets.py --data PATH --quick                 # short smoke run

``--data`` is the shared data folder (holding ``oxford_pets/`` and ``weights/``) or the pets
folder itself (then pass ``--weights``). Protocol: the subset's official split; every model
is fitted on the ``trainval`` images only (728; no early stopping, fixed epoch budgets) and
scored on the ``test`` images (355, 25 breeds present). Breed top-1 / top-5 /
balanced accuracy come from ``predict_proba``; "k-NN" is the report's measure: 1-nearest
neighbour on ``transform`` embeddings, trainval as the reference set. Pixel accuracy and pet
IoU are over the test images with a trimap (335), pet vs background, trimap border pixels
left out (``ignore_label``). "fit s" is the wall time of ``fit``. Prints ONE table.
"""

import argparse
import os
import sys
import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier

from skreid.datasets import MASK_IGNORE, load_oxford_pets
from skreid.metrics import iou_score, pixel_accuracy_score, top_n_accuracy_score

WEIGHTS_NAME = "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"
ROWS = ("report", "lr", "multitask-seed", "multitask", "finetuned-report", "finetuned")


def _paths(args):
    root = os.path.abspath(args.data)
    pets = os.path.join(root, "oxford_pets")
    if not os.path.isdir(pets):
        pets = root
    weights = args.weights or os.path.join(os.path.dirname(pets), "weights", WEIGHTS_NAME)
    return pets, weights


class Data:
    """The trainval/test split at each image size asked for (loaded once per size)."""

    def __init__(self, root):
        self.root, self.cache = root, {}

    def __call__(self, size):
        if size not in self.cache:
            pets = load_oxford_pets(self.root, image_size=(size, size))
            split = {}
            for name in ("trainval", "test"):
                keep = pets.split == name
                split[name] = (pets.images[keep], pets.breeds[keep], pets.masks[keep])
            self.cache[size] = split
        return self.cache[size]


def _segmentation_scores(true, pred):
    true = true.copy()
    true[true == 2] = MASK_IGNORE  # border: "not classified" in the trimap
    keep = (true != MASK_IGNORE).reshape(len(true), -1).any(axis=1)
    true, pred = true[keep], pred[keep]
    return (pixel_accuracy_score(true, pred, ignore_label=MASK_IGNORE),
            float(iou_score(true, pred, labels=[0], ignore_label=MASK_IGNORE)))


def evaluate(est, data, fit_s, embed=True):
    X_tr, y_tr, _ = data["trainval"]
    X_te, y_te, M_te = data["test"]
    proba = est.predict_proba(X_te)
    pred = est.classes_[np.argmax(proba, axis=1)]
    row = dict(
        top1=accuracy_score(y_te, pred),
        top5=top_n_accuracy_score(y_te, proba, n=5, labels=est.classes_),
        bal=balanced_accuracy_score(y_te, pred),
        fit_s=fit_s,
    )
    if embed:
        knn = KNeighborsClassifier(n_neighbors=1).fit(est.transform(X_tr), y_tr)
        row["knn"] = accuracy_score(y_te, knn.predict(est.transform(X_te)))
    if hasattr(est, "predict_mask"):
        row["pix"], row["iou"] = _segmentation_scores(M_te, est.predict_mask(X_te))
    return row


def run_estimator(factory, data):
    X, y, masks = data["trainval"]
    est = factory()
    start = time.perf_counter()
    est.fit(X, y, masks=masks)
    return evaluate(est, data, time.perf_counter() - start)


def run_lr_baseline(weights, data, size):
    """Logistic regression on frozen, pooled MobileNetV3Small features (no segmentation)."""
    from sklearn.pipeline import make_pipeline

    from skreid.pets import FineTunedPetNet

    X, y, _ = data["trainval"]
    start = time.perf_counter()
    # epochs=0, probe_C=None: the pretrained backbone only, used as a fixed feature extractor
    features = FineTunedPetNet(weights=weights, image_size=size, epochs=0, probe_C=None,
                               n_classes=37)
    est = make_pipeline(features, LogisticRegression(C=0.5, max_iter=3000))
    est.fit(X, y)
    row = evaluate(est, data, time.perf_counter() - start, embed=False)
    feats = est[0]
    knn = KNeighborsClassifier(n_neighbors=1).fit(feats.transform(X), y)
    row["knn"] = accuracy_score(data["test"][1], knn.predict(feats.transform(data["test"][0])))
    return row


def collect_rows(args, weights):
    from skreid.pets import FineTunedPetNet, MultiTaskPetNet

    q = args.quick
    common = dict(n_classes=37, random_state=0, verbose=args.verbose)
    ft = dict(weights=weights, epochs=1 if q else 4, **common)
    return {
        "multitask-seed": ("MultiTaskPetNet seed, 128 px", 128, lambda: MultiTaskPetNet(
            "seed", image_size=128, epochs=1 if q else 12, class_weight=None, **common)),
        "multitask": ("MultiTaskPetNet unet (default), 96 px", 96, lambda: MultiTaskPetNet(
            image_size=96, epochs=1 if q else 15, **common)),
        "finetuned-report": ("FineTunedPetNet report head, 224 px", 224,
                             lambda: FineTunedPetNet(head="report", head_epochs=2,
                                                     image_size=224, **ft)),
        "finetuned": ("FineTunedPetNet light head (default), 320 px", 320,
                      lambda: FineTunedPetNet(**ft)),
    }


def _fmt(value, pct=True):
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    return f"{100 * value:.1f}" if pct else f"{value:.3f}"


def print_table(results):
    header = ("method", "top-1 %", "top-5 %", "bal. acc %", "k-NN %", "pixel acc %",
              "pet IoU", "fit s")
    lines = []
    for name, r in results:
        lines.append((name, _fmt(r.get("top1")), _fmt(r.get("top5")), _fmt(r.get("bal")),
                      _fmt(r.get("knn")), _fmt(r.get("pix")), _fmt(r.get("iou"), pct=False),
                      "-" if r.get("fit_s") is None else f"{r['fit_s']:.0f}"))
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=True)]
    row = "| " + " | ".join(f"{{:{w}}}" for w in widths) + " |"
    print(row.format(*header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for line in lines:
        print(row.format(*line))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--weights", default=None)
    parser.add_argument("--only", default=",".join(ROWS),
                        help=f"comma-separated rows among {', '.join(ROWS)}")
    parser.add_argument("--quick", action="store_true", help="2 epochs per model (smoke run)")
    parser.add_argument("--verbose", type=int, default=0)
    args = parser.parse_args(argv)
    pets_root, weights = _paths(args)
    only = [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = set(only) - set(ROWS)
    if unknown:
        parser.error(f"--only: unknown rows {sorted(unknown)}; choose among {ROWS}")
    data = Data(pets_root)
    results = []
    if "report" in only:
        # the report trained on the test set for a few epochs; k-NN on embeddings only
        results.append(("report: from scratch (trained on test)", dict(knn=0.0235)))
        results.append(("report: fine-tuned MobileNetV3 (trained on test)", dict(knn=0.0824)))
    if "lr" in only:
        # at the report's 224 px and at the default FineTunedPetNet's 320 px
        for size in (224, 320):
            results.append((f"LogReg on frozen MobileNetV3Small, {size} px",
                            run_lr_baseline(weights, data(size), size)))
            print(f"[done] lr {size} px {results[-1][1]}", file=sys.stderr, flush=True)
    specs = collect_rows(args, weights)
    for key in ROWS[2:]:
        if key in only:
            name, size, factory = specs[key]
            results.append((name, run_estimator(factory, data(size))))
            print(f"[done] {key} {results[-1][1]}", file=sys.stderr, flush=True)
    print(f"Oxford-IIIT Pet subset {pets_root}: trainval -> test "
          f"({os.cpu_count()} CPUs, load average at end {os.getloadavg()[0]:.1f})")
    print_table(results)


if __name__ == "__main__":
    main()
