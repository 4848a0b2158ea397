"""Compare TripletEmbedder settings on a development split of the CAB420 ``Training/`` folder.

Usage::

    python benchmarks/triplet_dev_split.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/triplet_dev_split.py --data PATH --table parts   # or tuning
    python benchmarks/triplet_dev_split.py --data PATH --changes '{}' '{"pooling": "gem"}'

Hyperparameters must not be chosen on the probes. This script holds out 100 of the 300
training identities (fixed seed), fits each setting on the other 200 and scores the held-out
identities like the probes: single-shot cross-camera rank-1 (one query and one gallery image
per identity, from different cameras), averaged over 100 random draws. Every row of a table
starts from the table's base (shared MobileNetV3-Small weights, its working size and epochs,
seed 0, no validation split, and the defaults it was measured against, see ``TABLES``) plus
its changes; ``--changes`` replaces the rows. The test folders are never read. Prints ONE
table.
"""

import argparse
import json
import os
import time

import numpy as np

from skreid.datasets import load_market1501

#: free changes of the "tuning" table
TUNING_CHANGES = (
    {},
    {"learning_rate": 3e-4},
    {"optimizer": "adamw"},
    {"pooling": "gem"},
    {"last_stride": 1},
    {"images_per_identity": 8},
    {"batch_size": 128},
    {"frozen_stride": 8},
    {"frozen_stride": 16},
)

#: the learning rate and warm-up before the "schedule" table changed them
OLD_SCHEDULE = {"learning_rate": 1e-4, "warmup_epochs": 1}

#: the tables of docs/benchmarks.rst: working size, epochs, base changes, rows of changes
#: (each base pins the defaults it was measured against, so the rows stay reproducible)
TABLES = {
    # learning rate and warm-up, with stripes at 256x128 (20 epochs: about 6 minutes a row)
    "schedule": dict(image_size=(256, 128), epochs=20, base=OLD_SCHEDULE,
                     changes=({}, {"learning_rate": 3.5e-4, "warmup_epochs": 5},
                              {"learning_rate": 3.5e-4, "warmup_epochs": 1},
                              {"learning_rate": 1e-4, "warmup_epochs": 5},
                              {"learning_rate": 6e-4, "warmup_epochs": 5},
                              {"n_parts": 6}, {"last_stride": 1})),
    # body stripes, at the default working size
    "parts": dict(image_size=(256, 128), epochs=20, base=OLD_SCHEDULE,
                  changes=({}, {"n_parts": 0}, {"n_parts": 2})),
    # free changes, measured at a quarter of the pixels before stripes were the default
    "tuning": dict(image_size=(128, 64), epochs=30, base={"n_parts": 0, **OLD_SCHEDULE},
                   changes=TUNING_CHANGES),
}


def dev_split(train, n_dev=100, seed=123):
    """Boolean mask of the images of ``n_dev`` randomly chosen held-out identities."""
    ids = np.unique(train.person_ids)
    dev_ids = np.random.RandomState(seed).choice(ids, n_dev, replace=False)
    return np.isin(train.person_ids, dev_ids)


def score_setting(train, dev, params):
    """Fit on the non-dev identities, return (dev single-shot rank-1, fit seconds)."""
    from skreid.metrics import single_shot_rank1
    from skreid.reid import TripletEmbedder

    est = TripletEmbedder(**params)
    start = time.perf_counter()
    est.fit(train.images[~dev], train.person_ids[~dev], cameras=train.camera_ids[~dev])
    fit_s = time.perf_counter() - start
    emb = est.transform(train.images[dev])
    rank1 = single_shot_rank1(emb, train.person_ids[dev], train.camera_ids[dev],
                              n_draws=100, seed=0)
    return rank1, fit_s


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the cab420_subset folder")
    parser.add_argument("--weights", default=None,
                        help="MobileNetV3-Small .weights.h5 (default: the shared file beside "
                             "the data)")
    parser.add_argument("--table", choices=sorted(TABLES), default="schedule",
                        help="which table of the docs to measure (default: schedule)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the table's number of epochs")
    parser.add_argument("--image-size", type=int, nargs=2, default=None,
                        help="override the table's working size (height width)")
    parser.add_argument("--changes", nargs="*", default=None,
                        help="JSON objects of parameter changes (default: the table's rows)")
    args = parser.parse_args(argv)
    from _common import shared_weights

    table = TABLES[args.table]
    changes = ([json.loads(c) for c in args.changes] if args.changes is not None
               else list(table["changes"]))
    args.image_size = tuple(args.image_size or table["image_size"])
    args.epochs = args.epochs or table["epochs"]
    train = load_market1501(args.data).train
    dev = dev_split(train)
    base = dict(weights=shared_weights(args.data, args.weights), random_state=0,
                validation_fraction=0.0, image_size=args.image_size,
                epochs=args.epochs, **table["base"])
    rows = []
    for change in changes:
        rank1, fit_s = score_setting(train, dev, {**base, **change})
        rows.append((json.dumps(change) if change else "none", rank1, fit_s))
        print(f"[done] {rows[-1]}", flush=True)
    print(f"dev split: {int((~dev).sum())} images of 200 ids to fit, {int(dev.sum())} images "
          f"of 100 ids to score; {args.image_size[0]}x{args.image_size[1]}, {args.epochs} "
          f"epochs ({os.cpu_count()} CPUs)")
    width = max(len("change from the base"), *(len(r[0]) for r in rows))
    print(f"| {'change from the base':{width}} | dev rank-1 % | fit s |")
    print(f"|{'-' * (width + 2)}|--------------|-------|")
    for name, rank1, fit_s in rows:
        print(f"| {name:{width}} | {100 * rank1:12.1f} | {fit_s:5.0f} |")


if __name__ == "__main__":
    main()
