"""Gallery search benchmarks: exact blocked search vs faiss (and, later, re-ranking).

Sections (``--only`` picks one; all run by default):

- ``index``: a 1,000,000 x 256 float32 synthetic gallery (100,000 identities x 10 images)
  and 1,000 queries (new images of random gallery identities). By default identities and
  their variation lie near a 32-d subspace (learned embeddings have a low intrinsic
  dimension); ``--data isotropic`` fills all 256 dimensions (the worst case for faiss).
  :class:`skreid.search.GalleryIndex` with ``backend="exact"`` (blocked brute force, the
  reference) vs ``backend="faiss"`` (``--faiss auto,hnsw,ivf``: its automatic choice for the
  size, HNSW at 1M, and/or a forced type), each faiss index built once and searched at its
  default search width (``efSearch`` / ``nprobe``) and at 2x and 4x: build time, queries/s
  at k=10, recall@10 against the exact result, peak resident memory. Targets: faiss >= 50x
  the exact queries/s at recall@10 >= 0.95; the exact backend's peak RSS <= 1.5x the
  gallery's bytes.

Each backend runs in a fresh process that generates the same data (seeded, in chunks, so the
generator adds no second copy), so its peak RSS (``ru_maxrss``: interpreter, NumPy, the
gallery and everything the search allocates) is its own. On a shared machine the wall-clock
figures depend on the load; ratios measured in the same run remain meaningful.

Run: ``python benchmarks/search.py [--only index] [--n-gallery 1000000] [--faiss auto,ivf]``
(the 1M HNSW build dominates: about 20 minutes on 2 busy cores).
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


LATENT = 32  # intrinsic dimension of the "structured" data


def _centres(ids, dim, kind, seed):
    """Identity centres, each from its own seed (independent of the chunking)."""
    if kind == "isotropic":
        return np.stack([np.random.default_rng([seed, 1, i]).standard_normal(dim, np.float32)
                         for i in ids])
    latent = np.stack([np.random.default_rng([seed, 1, i]).standard_normal(LATENT, np.float32)
                       for i in ids])
    return latent @ _projection(dim, seed)


def _projection(dim, seed):
    return np.random.default_rng([seed, 4]).standard_normal((LATENT, dim), np.float32) / np.sqrt(
        LATENT)


def _noise(rng, n, dim, kind, seed):
    if kind == "isotropic":
        return 0.5 * rng.standard_normal((n, dim), np.float32)
    # pose/lighting changes move an image along the identity manifold, plus a little
    # off-manifold noise
    latent = 0.35 * rng.standard_normal((n, LATENT), np.float32)
    return latent @ _projection(dim, seed) + 0.05 * rng.standard_normal((n, dim), np.float32)


def make_gallery(n_gallery, dim, per_id, kind="structured", seed=0, chunk=50_000):
    """Identity centres plus per-image noise, generated in chunks into one float32 array.

    ``kind="structured"``: identities and their image-to-image variation live on a
    ``LATENT``-dimensional subspace (learned embeddings have a low intrinsic dimension), with
    a little isotropic noise; ``"isotropic"``: centres and noise fill all ``dim`` dimensions
    (no structure, the hardest case for an approximate index).
    """
    n_ids = n_gallery // per_id
    gallery = np.empty((n_gallery, dim), dtype=np.float32)
    for start in range(0, n_gallery, chunk):
        stop = min(start + chunk, n_gallery)
        rng = np.random.default_rng([seed, 0, start])
        ids = np.arange(start, stop) // per_id
        centres = _centres(np.unique(ids), dim, kind, seed)
        gallery[start:stop] = centres[ids - ids[0]]
        gallery[start:stop] += _noise(rng, stop - start, dim, kind, seed)
    query_ids = np.random.default_rng([seed, 2]).choice(n_ids, N_QUERIES, replace=False)
    queries = _centres(query_ids, dim, kind, seed)
    queries += _noise(np.random.default_rng([seed, 3]), N_QUERIES, dim, kind, seed)
    return gallery, queries


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kB


def worker(args):
    """One backend in this process: build once, search (at each setting), print JSON rows."""
    from skreid.search import GalleryIndex

    gallery, queries = make_gallery(args.n_gallery, DIM, PER_ID, args.data)
    rss_data = peak_rss_mb()
    params = json.loads(args.params) if args.params else None
    t0 = time.perf_counter()
    index = GalleryIndex("euclidean", backend=args.worker, faiss_params=params).add(gallery)
    index.build()
    build_s = time.perf_counter() - t0
    info = index._faiss_info or {"index_type": "exact"}
    # the search-time knob of the built index, at its default and at 2x / 4x
    knob = {"hnsw": "efSearch", "ivf": "nprobe"}.get(info["index_type"])
    settings = [None] if knob is None else [info[knob], 2 * info[knob], 4 * info[knob]]
    rows = []
    for i, value in enumerate(settings):
        if knob is not None:
            index._faiss_info = {**info, knob: value}
        index.search(queries[:10], K)  # warm-up: thread pools, page faults
        t0 = time.perf_counter()
        result = index.search(queries, K)
        search_s = time.perf_counter() - t0
        np.save(f"{args.positions}.{i}.npy", result.positions)
        rows.append({"backend": args.worker, "info": dict(index._faiss_info or info),
                     "build_s": build_s, "search_s": search_s, "qps": len(queries) / search_s,
                     "rss_data_mb": rss_data, "peak_rss_mb": peak_rss_mb(),
                     "gallery_mb": gallery.nbytes / 2**20,
                     "positions": f"{args.positions}.{i}.npy"})
    print(json.dumps(rows))


def run_worker(backend, n_gallery, data, positions, params=None):
    cmd = [sys.executable, __file__, "--worker", backend, "--n-gallery", str(n_gallery),
           "--positions", positions, "--data", data]
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
    print(f"\n## index: {args.n_gallery:,} x {DIM} float32 {args.data} gallery, "
          f"{N_QUERIES:,} queries, k={K}  (load average {os.getloadavg()[0]:.1f})")
    with tempfile.TemporaryDirectory() as tmp:
        rows = run_worker("exact", args.n_gallery, args.data, os.path.join(tmp, "exact"))
        truth = np.load(rows[0]["positions"])
        rows[0]["recall"] = 1.0
        for spec in args.faiss.split(","):
            # "ivf:nlist=4096:nprobe=8" sets GalleryIndex faiss_params beyond the index type
            kind, *settings = spec.split(":")
            params = None if kind == "auto" else {"index_type": kind}
            if settings:
                params = {**(params or {}),
                          **{k: int(v) for k, v in (item.split("=") for item in settings)}}
            found = run_worker("faiss", args.n_gallery, args.data, os.path.join(tmp, kind),
                               params)
            for row in found:
                row["recall"] = recall_at_k(np.load(row["positions"]), truth)
            rows += found
    base = rows[0]["qps"]
    print(f"{'backend':<8} {'index':<44} {'build s':>8} {'queries/s':>10} {'speed-up':>9} "
          f"{'recall@10':>9} {'peak RSS MB':>11} {'/ gallery':>9}")
    for r in rows:
        info = ", ".join(f"{k}={v}" for k, v in r["info"].items())
        print(f"{r['backend']:<8} {info:<44} {r['build_s']:>8.1f} {r['qps']:>10.1f} "
              f"{r['qps'] / base:>8.1f}x {r['recall']:>9.4f} {r['peak_rss_mb']:>11.0f} "
              f"{r['peak_rss_mb'] / r['gallery_mb']:>8.2f}x")
    print(f"(gallery {rows[0]['gallery_mb']:.0f} MB; peak RSS includes the interpreter and the "
          f"generated data: {rows[0]['rss_data_mb']:.0f} MB right after generating it; faiss "
          f"stores its own copy of the vectors; load average now {os.getloadavg()[0]:.1f})")


SECTIONS = {"index": section_index}  # "rerank", "multishot": added by the re-ranking work


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=sorted(SECTIONS))
    parser.add_argument("--n-gallery", type=int, default=N_GALLERY)
    parser.add_argument("--data", choices=("structured", "isotropic"), default="structured",
                        help="synthetic embeddings with a low intrinsic dimension (default) or "
                             "isotropic Gaussian ones")
    parser.add_argument("--faiss", default="auto",
                        help="faiss index types to compare, comma-separated: auto, hnsw, ivf "
                             "(default: auto, the choice GalleryIndex makes for the size); "
                             "each may set faiss_params, e.g. ivf:nlist=4096:nprobe=8")
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
