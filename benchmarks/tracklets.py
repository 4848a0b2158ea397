"""Set-to-set (tracklet) against image-to-image re-ID on the CAB420 ``Training/`` identities.

Usage::

    python benchmarks/tracklets.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/tracklets.py --data PATH --model triplet --epochs 20

The model is fitted on 200 of the 300 training identities (the split of
``triplet_dev_split.py``: the 100 held-out ids, seed 123); the held-out identities' images are
grouped into tracklets, one per (identity, camera) -- the crops a tracker following that
person through that camera would hand over. Every row ranks the held-out set against itself
(leave-one-out) under the Market-1501 camera rule, with :func:`skreid.metrics.evaluate_reid`:

- image -> image: every image is a query, every other image the gallery;
- image -> tracklet: every image against the tracklets (``gallery_tracklets``);
- tracklet -> tracklet: every tracklet against the others (``query_tracklets``), pooled by
  the mean of the L2-normalised embeddings or their maximum (``tracklet_pooling``), or by a
  quality-weighted mean (each crop weighted by its agreement with its tracklet's mean, through
  ``pool_tracklets(..., weights=)``).

With one tracklet per (identity, camera), a query's own camera holds nothing of its identity,
so every match is cross-camera. The test folders are never read. Prints ONE table.
"""

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _embeddings import MODELS, describe, embeddings, load_training  # noqa: E402
from triplet_dev_split import dev_split  # noqa: E402

from skreid.metrics import evaluate_reid  # noqa: E402
from skreid.metrics.pairwise import TRACKLET_POOLINGS, l2_normalize, pool_tracklets  # noqa: E402


def _agreement_weighted(emb, tracklets):
    """Each crop weighted by its cosine similarity (clipped at 0) to its tracklet's mean: the
    quality weighting measured here, not offered as an option (it did not beat the mean)."""
    mean, _, inverse = pool_tracklets(emb, tracklets)
    agree = np.einsum("ij,ij->i", l2_normalize(emb), l2_normalize(mean)[inverse])
    weights = np.clip(agree, 0, None)
    return pool_tracklets(emb, tracklets, weights=np.where(weights > 0, weights, 1e-6))[0]


def rows(emb, ids, cams, metric):
    tracklets = ids * 10 + cams  # one tracklet per (identity, camera)
    runs = [("image -> image", dict()),
            ("image -> tracklet (mean)", dict(gallery=True, gallery_tracklets=tracklets))]
    for pooling in TRACKLET_POOLINGS:
        runs.append((f"tracklet -> tracklet ({pooling})",
                     dict(query_tracklets=tracklets, tracklet_pooling=pooling)))
    runs.append(("tracklet -> tracklet (agreement-weighted)", dict(weighted=True)))
    out = []
    for name, kwargs in runs:
        gallery, weighted = kwargs.pop("gallery", False), kwargs.pop("weighted", False)
        start = time.perf_counter()
        if gallery:  # a separate gallery: the query image is also in its (excluded) tracklet
            res = evaluate_reid(emb, ids, emb, ids, cams, cams, metric=metric,
                                query_is_gallery=False, **kwargs)
        elif weighted:
            first = np.unique(tracklets, return_index=True)[1]
            res = evaluate_reid(_agreement_weighted(emb, tracklets), ids[first],
                                query_cameras=cams[first], metric=metric)
        else:
            res = evaluate_reid(emb, ids, query_cameras=cams, metric=metric, **kwargs)
        out.append((name, res, time.perf_counter() - start))
    return out, len(np.unique(tracklets))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="the cab420_subset folder")
    parser.add_argument("--model", choices=MODELS, default="pca")
    parser.add_argument("--epochs", type=int, default=20, help="TripletEmbedder epochs")
    parser.add_argument("--cache-dir", default="/tmp", help="where embeddings are cached")
    args = parser.parse_args(argv)
    train = load_training(args.data)
    dev = dev_split(train)
    emb, fit_s = embeddings(args.data, train, ~dev, args.model, epochs=args.epochs,
                            cache_dir=args.cache_dir)
    ids, cams = train.person_ids[dev], train.camera_ids[dev]
    table, n_tracklets = rows(emb[dev], ids, cams, "cosine")
    print(f"model: {describe(args.model, args.epochs)}, fitted on {int((~dev).sum())} images "
          f"of 200 ids in {fit_s:.0f} s; held out: {int(dev.sum())} images of 100 ids in "
          f"{n_tracklets} tracklets (one per identity and camera); cosine distance, "
          "Market-1501 camera rule, leave-one-out")
    print(f"| {'matching':41} | queries | R1 %  | mAP % | mINP % | eval s |")
    print(f"|{'-' * 43}|---------|-------|-------|--------|--------|")
    for name, res, seconds in table:
        print(f"| {name:41} | {res['n_queries']:7d} | {100 * res['rank1']:5.1f} | "
              f"{100 * res['mAP']:5.1f} | {100 * res['mINP']:6.1f} | {seconds:6.2f} |")


if __name__ == "__main__":
    main()
