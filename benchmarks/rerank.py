"""Re-ranking and query expansion benchmarks (the re-ranking rows of issue 16).

Usage::

    python benchmarks/rerank.py --only rerank        # (a) memory/time at the Market-1501 test size
    python benchmarks/rerank.py --only rerank --n-query 1000 --n-gallery 5000 --dense-max 19281
    python benchmarks/rerank.py --only multishot --data /work/shared/data/market1501/cab420_subset

(a) ``rerank``: k-reciprocal re-ranking of random 512-d float32 features at the Market-1501
test size (3,368 queries x 15,913 gallery): skreid's blocked
:func:`skreid.metrics.pairwise.rerank_k_reciprocal` against a dense transcription of the
published reference (zhunzhong07/person-re-ranking ``re_ranking``), each in its own subprocess
so the peak RSS of one does not hide the other's. ``--dense-max N`` skips the dense run when
queries + gallery exceed N (it holds about five (N x N) float32 matrices: ~8.6 GB at the full
size) and then measures it on the largest size that fits instead, saying so.

(b) ``multishot``: mAP and rank-1 with and without re-ranking / query expansion on a
multi-shot split of the CAB420 ``Training/`` identities: the held-out (development) ids of
``benchmarks/triplet_dev_split.py``, one query per (identity, camera) and all other images of
those ids as the gallery (Market-1501 protocol: same identity and camera ignored), embedded
by the default ``TripletEmbedder`` fitted on the other 200 ids. The embeddings are cached in
``--cache`` (default ``/tmp/skreid_rerank_multishot.npz``) so the table can be rerun without
refitting; ``--epochs`` shortens the fit (the table then says so); ``--model pca`` uses a fast,
weak PCAReID embedding instead.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
MARKET_TEST = (3368, 15913)


# ------------------------------------------------------------------------- (a) rerank
def _features(n_query, n_gallery, dim, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n_query, dim), dtype=np.float32)
    g = rng.standard_normal((n_gallery, dim), dtype=np.float32)
    return q, g


def _child(args):
    """Run one implementation in this (fresh) process; print JSON (time, peak RSS)."""
    q, g = _features(args.n_query, args.n_gallery, args.dim, args.seed)
    start = time.perf_counter()
    if args.child == "blocked":
        from skreid.metrics.pairwise import rerank_k_reciprocal

        out = rerank_k_reciprocal(q, g)
    else:
        sys.path.insert(0, os.path.join(HERE, "..", "tests"))
        from _rerank_reference import dense_distances, re_ranking_reference

        q_g, q_q, g_g = dense_distances(q, g)
        out = re_ranking_reference(q_g, q_q, g_g)
        del q_g, q_q, g_g
    seconds = time.perf_counter() - start
    np.save(args.out, out.astype(np.float32))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_rss_gb": peak_kb / 2**20}))


def _run_child(kind, n_query, n_gallery, args, out):
    cmd = [sys.executable, __file__, "--child", kind, "--n-query", str(n_query),
           "--n-gallery", str(n_gallery), "--dim", str(args.dim), "--seed", str(args.seed),
           "--out", out]
    res = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if res.returncode != 0:  # -9: killed, e.g. by the kernel's out-of-memory killer
        last = (res.stderr.strip().splitlines() or [""])[-1]
        return {"error": f"failed (exit {res.returncode}) {last}".strip()}
    return json.loads(res.stdout.strip().splitlines()[-1])


def bench_rerank(args):
    rows = []
    sizes = [(args.n_query, args.n_gallery)]
    if sum(sizes[0]) > args.dense_max:
        # the dense reference does not fit: compare at the largest size that does, too
        scale = args.dense_max / sum(sizes[0])
        sizes.append((int(args.n_query * scale), int(args.n_gallery * scale)))
    for n_query, n_gallery in sizes:
        tmp = f"/tmp/skreid_rerank_{os.getpid()}_{n_query}"
        blocked = _run_child("blocked", n_query, n_gallery, args, tmp + "_b.npy")
        if n_query + n_gallery <= args.dense_max:
            dense = _run_child("dense", n_query, n_gallery, args, tmp + "_d.npy")
        else:
            dense = {"error": f"skipped: {n_query + n_gallery} > --dense-max {args.dense_max}"}
        diff = float("nan")
        if "error" not in blocked and "error" not in dense:
            diff = float(np.abs(np.load(tmp + "_b.npy") - np.load(tmp + "_d.npy")).max())
        for suffix in ("_b.npy", "_d.npy"):
            if os.path.exists(tmp + suffix):
                os.remove(tmp + suffix)
        rows.append((n_query, n_gallery, blocked, dense, diff))
    print(f"k-reciprocal re-ranking, random {args.dim}-d float32 features, k1=20 k2=6 "
          f"lambda=0.3, each run in its own process ({os.cpu_count()} CPUs)")
    print("| queries x gallery | implementation | time s | peak RSS GB | max abs diff |")
    print("|-------------------|----------------|--------|-------------|--------------|")
    for n_query, n_gallery, blocked, dense, diff in rows:
        for name, r in (("skreid blocked", blocked), ("dense reference", dense)):
            size = f"{n_query:,} x {n_gallery:,}"
            if "error" in r:
                print(f"| {size:17} | {name:14} | {r['error']} |")
                continue
            d = f"{diff:.2e}" if name == "dense reference" else ""
            print(f"| {size:17} | {name:14} | {r['seconds']:6.1f} | {r['peak_rss_gb']:11.2f} "
                  f"| {d:12} |")


# ---------------------------------------------------------------------- (b) multishot
def multishot_split(train, seed=0):
    """Dev ids of triplet_dev_split; one query per (id, camera), the rest as the gallery."""
    from triplet_dev_split import dev_split

    dev = dev_split(train)
    idx = np.flatnonzero(dev)
    rng = np.random.RandomState(seed)
    pairs = {}
    for i in rng.permutation(idx):
        pairs.setdefault((train.person_ids[i], train.camera_ids[i]), i)
    query = np.array(sorted(pairs.values()))
    gallery = np.setdiff1d(idx, query)
    return dev, query, gallery


def embed_multishot(args):
    from _reid_rows_triplet import shared_weights

    from skreid.datasets import load_market1501
    from skreid.reid import TripletEmbedder

    train = load_market1501(args.data).train
    dev, query, gallery = multishot_split(train)
    if args.model == "pca":  # a fast, weak embedding: the report's PCA baseline setting
        from skreid.reid import PCAReID

        est = PCAReID(n_components=0.95, image_size=(64, 32), random_state=0)
    else:
        params = dict(weights=shared_weights(args.data, args.weights), random_state=0)
        if args.epochs:
            params["epochs"] = args.epochs
        est = TripletEmbedder(**params)
    start = time.perf_counter()
    fit_kw = {} if args.model == "pca" else {"cameras": train.camera_ids[~dev]}
    est.fit(train.images[~dev], train.person_ids[~dev], **fit_kw)
    fit_s = time.perf_counter() - start
    emb = est.transform(train.images[dev])
    pos = np.full(len(train.person_ids), -1)
    pos[np.flatnonzero(dev)] = np.arange(int(dev.sum()))
    tmp = args.cache + ".tmp.npz"
    np.savez(tmp, query=emb[pos[query]], gallery=emb[pos[gallery]],
             query_ids=train.person_ids[query], gallery_ids=train.person_ids[gallery],
             query_cameras=train.camera_ids[query], gallery_cameras=train.camera_ids[gallery],
             fit_s=fit_s, epochs=getattr(est, "epochs", 0), metric=est.metric,
             model=type(est).__name__)
    os.replace(tmp, args.cache)
    print(f"[embedded] fit {fit_s:.0f} s, {len(query)} queries, {len(gallery)} gallery -> "
          f"{args.cache}", flush=True)


def bench_multishot(args):
    if not os.path.exists(args.cache) or args.refit:
        embed_multishot(args)
    from skreid.metrics import evaluate_reid

    z = np.load(args.cache)
    metric = str(z["metric"])
    common = dict(query_cameras=z["query_cameras"], gallery_cameras=z["gallery_cameras"],
                  metric=metric)
    settings = [
        ("none", {}),
        ("alpha-QE (k=2, alpha=3)", dict(query_expansion=dict(k=2, alpha=3.0))),
        ("alpha-QE (k=5, alpha=3)", dict(query_expansion=dict(k=5, alpha=3.0))),
        ("k-reciprocal (20, 6, 0.3)", dict(rerank=True)),
        ("k-reciprocal (10, 3, 0.3)", dict(rerank=dict(k1=10, k2=3))),
        ("alpha-QE k=2 + k-reciprocal", dict(query_expansion=dict(k=2, alpha=3.0),
                                             rerank=True)),
    ]
    rows = []
    for name, opts in settings:
        start = time.perf_counter()
        res = evaluate_reid(z["query"], z["query_ids"], z["gallery"], z["gallery_ids"],
                            **common, **opts)
        rows.append((name, res["mAP"], res["rank1"], res["rank5"],
                     time.perf_counter() - start))
    n_ids = len(np.unique(z["gallery_ids"]))
    model = str(z["model"]) if "model" in z else "TripletEmbedder"
    how = f"default {model}, {int(z['epochs'])} epochs" if int(z["epochs"]) else model
    print(f"multi-shot dev split: {len(z['query_ids'])} queries (one per identity and camera) "
          f"x {len(z['gallery_ids'])} gallery images of {n_ids} held-out ids; {how}, fit "
          f"{float(z['fit_s']):.0f} s, metric={metric} ({os.cpu_count()} CPUs)")
    print("| post-processing | mAP % | rank-1 % | rank-5 % | eval s |")
    print("|-----------------|-------|----------|----------|--------|")
    for name, m, r1, r5, s in rows:
        print(f"| {name} | {100 * m:5.1f} | {100 * r1:8.1f} | {100 * r5:8.1f} | {s:6.2f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("rerank", "multishot"), default="rerank")
    parser.add_argument("--n-query", type=int, default=MARKET_TEST[0])
    parser.add_argument("--n-gallery", type=int, default=MARKET_TEST[1])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--dense-max", type=int, default=sum(MARKET_TEST),
                        help="largest queries + gallery the dense reference is run at")
    parser.add_argument("--data", default="/work/shared/data/market1501/cab420_subset")
    parser.add_argument("--weights", default=None)
    parser.add_argument("--epochs", type=int, default=None,
                        help="shorten the TripletEmbedder fit (default: its default)")
    parser.add_argument("--model", choices=("triplet", "pca"), default="triplet",
                        help="embedding of the multishot table (pca: a fast, weak baseline)")
    parser.add_argument("--cache", default=None,
                        help="embeddings file (default /tmp/skreid_rerank_multishot[_pca].npz)")
    parser.add_argument("--refit", action="store_true", help="ignore the cached embeddings")
    parser.add_argument("--embed-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child", choices=("blocked", "dense"), help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    sys.path.insert(0, HERE)
    if args.cache is None:
        suffix = "" if args.model == "triplet" else f"_{args.model}"
        args.cache = f"/tmp/skreid_rerank_multishot{suffix}.npz"
    if args.child:
        return _child(args)
    if args.only == "rerank":
        return bench_rerank(args)
    if args.embed_only:
        return embed_multishot(args)
    return bench_multishot(args)


if __name__ == "__main__":
    main()
