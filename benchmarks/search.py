"""Gallery search benchmarks: exact blocked search vs faiss (and, later, re-ranking).

Sections (``--only`` picks one; all run by default):

- ``index``: a 1,000,000 x 256 float32 synthetic gallery (100,000 identities x 10 images,
  Gaussian clusters: the structure re-ID embeddings have) and 1,000 queries (new images of
  random gallery identities). :class:`skreid.search.GalleryIndex` with ``backend="exact"``
  (blocked brute force, the reference) vs ``backend="faiss"`` (its automatic choice for the
  size, IVF, at its default and a second ``nprobe``): build time, queries/s at k=10,
  recall@10 against the exact result, peak resident memory. Targets: faiss >= 50x the exact
  queries/s at recall@10 >= 0.95; the exact backend's peak RSS <= 1.5x the gallery's bytes.

Each backend runs in a fresh process that generates the same data (seeded, in chunks, so the
generator adds no second copy), so its peak RSS (``ru_maxrss``: interpreter, NumPy, the
gallery and everything the search allocates) is its own. On a shared machine the wall-clock
figures depend on the load; ratios measured in the same run remain meaningful.

Run: ``python benchmarks/search.py [--only index] [--n-gallery 1000000]`` (a few minutes on
2 cores, mostly the exact search and faiss's IVF training).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

N_GALLERY, N_QUERIES, DIM, PER_ID, K = 1_000_000, 1_000, 256, 10, 10


def make_gallery(n_gallery, dim, per_id, seed=0, chunk=100_000):
    """Identity centres plus per-image noise, generated in chunks into one float32 array."""
    n_ids = n_gallery // per_id
    gallery = np.empty((n_gallery, dim), dtype=np.float32)
    for start in range(0, n_gallery, chunk):
        stop = min(start + chunk, n_gallery)
        rng = np.random.default_rng([seed, 0, start])
        ids = np.arange(start, stop) // per_id
        centres = np.stack([np.random.default_rng([seed, 1, i]).standard_normal(dim,
                                                                                 np.float32)
                            for i in np.unique(ids)])
        gallery[start:stop] = centres[ids - ids[0]]
        gallery[start:stop] += 0.5 * rng.standard_normal((stop - start, dim), np.float32)
    query_ids = np.random.default_rng([seed, 2]).choice(n_ids, N_QUERIES, replace=False)
    rng = np.random.default_rng([seed, 3])
    queries = np.stack([np.random.default_rng([seed, 1, i]).standard_normal(dim, np.float32)
                        for i in query_ids])
    queries += 0.5 * rng.standard_normal(queries.shape, np.float32)
    return gallery, queries


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def worker(args):
    """One backend in this process: build, search, write a JSON line and the positions."""
    from skreid.search import GalleryIndex

    gallery, queries = make_gallery(args.n_gallery, DIM, PER_ID)
    rss_data = peak_rss_mb()
    params = json.loads(args.params) if args.params else None
    t0 = time.perf_counter()
    index = GalleryIndex("euclidean", backend=args.worker, faiss_params=params).add(gallery)
    index.build()
    build_s = time.perf_counter() - t0
    index.search(queries[:10], K)  # warm-up: thread pools, page faults
    t0 = time.perf_counter()
    result = index.search(queries, K)
    search_s = time.perf_counter() - t0
    np.save(args.positions, result.positions)
    info = index._faiss_info or {"index_type": "exact"}
    print(json.dumps({"backend": args.worker, "info": info, "build_s": build_s,
                      "search_s": search_s, "qps": len(queries) / search_s,
                      "rss_data_mb": rss_data, "peak_rss_mb": peak_rss_mb(),
                      "gallery_mb": gallery.nbytes / 2**20}))


def run_worker(backend, n_gallery, positions, params=None):
    cmd = [sys.executable, __file__, "--worker", backend, "--n-gallery", str(n_gallery),
           "--positions", positions]
    if params:
        cmd += ["--params", json.dumps(params)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode:
        sys.exit(f"{backend} worker failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def recall_at_k(found, truth):
    return float(np.mean([len(np.intersect1d(f, t)) / len(t) for f, t in zip(found, truth,
                                                                           strict=True)]))


def section_index(args):
    print(f"\n## index: {args.n_gallery:,} x {DIM} float32 gallery, {N_QUERIES:,} queries, "
          f"k={K}  (load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        exact_pos = os.path.join(tmp, "exact.npy")
        rows = [("exact", run_worker("exact", args.n_gallery, exact_pos))]
        truth = np.load(exact_pos)
        runs = [("faiss (auto)", None), ("faiss (nprobe x4)", "x4")]
        for name, variant in runs:
            params = None
            if variant == "x4":
                info = rows[1][1]["info"]
                params = {"nprobe": 4 * info["nprobe"]} if "nprobe" in info else \
                    {"efSearch": 4 * info["efSearch"]}
            path = os.path.join(tmp, "faiss.npy")
            row = run_worker("faiss", args.n_gallery, path, params)
            row["recall"] = recall_at_k(np.load(path), truth)
            rows.append((name, row))
    rows[0][1]["recall"] = 1.0
    base = rows[0][1]["qps"]
    print(f"{'backend':<18} {'index':<28} {'build s':>8} {'queries/s':>10} {'speed-up':>9} "
          f"{'recall@10':>9} {'peak RSS MB':>11} {'/ gallery':>9}")
    for name, r in rows:
        info = ", ".join(f"{k}={v}" for k, v in r["info"].items())
        print(f"{name:<18} {info:<28} {r['build_s']:>8.1f} {r['qps']:>10.1f} "
              f"{r['qps'] / base:>8.1f}x {r['recall']:>9.4f} {r['peak_rss_mb']:>11.0f} "
              f"{r['peak_rss_mb'] / r['gallery_mb']:>8.2f}x")
    print(f"(gallery {rows[0][1]['gallery_mb']:.0f} MB; peak RSS includes the interpreter and "
          f"the generated data: {rows[0][1]['rss_data_mb']:.0f} MB right after generating it)")


SECTIONS = {"index": section_index}  # "rerank", "multishot": added by the re-ranking work


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS))
    parser.add_argument("--n-gallery", type=int, default=N_GALLERY)
    parser.add_argument("--worker", choices=("exact", "faiss"), help=argparse.SUPPRESS)
    parser.add_argument("--positions", help=argparse.SUPPRESS)
    parser.add_argument("--params", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)
    for name, section in SECTIONS.items():
        if args.only in (None, name):
            section(args)


if __name__ == "__main__":
    main()
