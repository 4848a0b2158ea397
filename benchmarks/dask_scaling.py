"""Scaling out on Dask: GridSearchCV and embed_images, locally and on a 2-worker LocalCluster.

Measured in one run, on the CAB420 Market-1501 subset (``--data PATH``, the folder holding
``Training/``):

1. ``GridSearchCV`` over the classical pipeline ``make_classical_reid()`` (LOMO -> PCA -> XQDA)
   on the first ``--ids`` training identities, identity-disjoint folds (``IdentityKFold``),
   the shared Top-1 / mAP scorers, ``refit=False`` (the refit is one serial fit anywhere);
2. ``skreid.parallel.embed_images`` over every image file of ``Training/`` (5,933) with a
   pixel ``PCAReID`` fitted on them (JPEG decoding + projection: the short-task case, where
   scheduling overhead shows most);

each three ways: in this process (``n_jobs=1``), with joblib's process pool (``n_jobs=2``;
for embedding, ``joblib.Parallel`` over the same partitions) and on a
``distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`` under
``joblib.parallel_config(backend="dask")`` / ``embed_images(..., client)``. Results are checked
equal to the ``n_jobs=1`` run (grid: identical scores and best parameters; embeddings: max abs
difference).

Columns: wall s; ratio to ``n_jobs=1`` (speed-up); "task s": the summed per-task compute times
(grid: ``mean_fit_time + mean_score_time`` per split; embedding: each partition timed in the
``n_jobs=1`` run); "overhead/task ms" = (wall x workers - task s) / tasks, i.e. what each task
cost beyond its own work (scheduling, shipping data, idle workers at the end). The projection
to 8 and 32 workers schedules the measured per-task times greedily (longest first) on that
many workers and adds the cluster's measured overhead per task; it assumes the data is
already on a shared file system and as many cores as workers. The cluster start-up time is
printed separately (paid once per session, not per job).

Run: ``python benchmarks/dask_scaling.py --data /work/shared/data/market1501/cab420_subset``
(about 10 minutes on 2 cores). The machine's load average is printed first: on a shared
machine wall times move with it, ratios measured in the same run much less.
"""

import argparse
import heapq
import os
import time
from pathlib import Path

import joblib
import numpy as np


def load_training(data, n_ids):
    from skreid.datasets import load_market1501

    train = load_market1501(data).train
    keep = train.person_ids <= np.unique(train.person_ids)[n_ids - 1]
    return train.images[keep], train.person_ids[keep]


def make_search(n_jobs, folds, components=(100, 200)):
    from sklearn.model_selection import GridSearchCV

    from skreid.metrics import make_map_scorer, make_top_n_scorer
    from skreid.model_selection import IdentityKFold
    from skreid.reid import make_classical_reid

    return GridSearchCV(
        make_classical_reid(),
        {"reid__n_components": list(components), "reid__projection": ["xqda", "lda"]},
        scoring={"top1": make_top_n_scorer(1), "map": make_map_scorer()},
        refit=False, cv=IdentityKFold(folds), n_jobs=n_jobs,
    )


def run_grid(X, y, folds, client, components):
    rows, results = {}, {}
    for name in ("n_jobs=1", "n_jobs=2", "cluster (2 workers)"):
        search = make_search(1 if name == "n_jobs=1" else 2, folds, components)
        t0 = time.perf_counter()
        if client is not None and name.startswith("cluster"):
            with joblib.parallel_config(backend="dask"):
                search.fit(X, y)
        else:
            search.fit(X, y)
        rows[name] = time.perf_counter() - t0
        results[name] = search.cv_results_
        print(f"  grid {name}: {rows[name]:.1f} s", flush=True)
    base = results["n_jobs=1"]
    # one task per (candidate, split): its fit + score time
    per_task = np.repeat(base["mean_fit_time"] + base["mean_score_time"], folds)
    same = all(
        all(np.array_equal(r[f"mean_test_{s}"], base[f"mean_test_{s}"]) for s in ("top1", "map"))
        and np.array_equal(r["rank_test_top1"], base["rank_test_top1"])
        for r in results.values())
    best = base["params"][int(np.argmin(base["rank_test_top1"]))]
    return rows, per_task, f"scores and ranks identical: {same}; best {best}"


def partitions_of(paths, batch_size):
    n = int(np.ceil(len(paths) / batch_size))
    return [list(c) for c in np.array_split(np.asarray(paths, dtype=object), n)]


def run_embed(model, paths, batch_size, client):
    from skreid.parallel import embed_images

    chunks = partitions_of(paths, batch_size)
    rows, out = {}, {}
    # n_jobs=1: the same partitions one after the other, each timed (the per-task times)
    per_task = []
    t0 = time.perf_counter()
    parts = []
    for chunk in chunks:
        t = time.perf_counter()
        parts.append(embed_images(model, chunk, batch_size=batch_size).embeddings)
        per_task.append(time.perf_counter() - t)
    rows["n_jobs=1"] = time.perf_counter() - t0
    out["n_jobs=1"] = np.concatenate(parts)
    print(f"  embed n_jobs=1: {rows['n_jobs=1']:.1f} s", flush=True)

    t0 = time.perf_counter()
    parts = joblib.Parallel(n_jobs=2)(
        joblib.delayed(embed_images)(model, chunk, batch_size=batch_size) for chunk in chunks)
    rows["n_jobs=2"] = time.perf_counter() - t0
    out["n_jobs=2"] = np.concatenate([p.embeddings for p in parts])
    print(f"  embed n_jobs=2: {rows['n_jobs=2']:.1f} s", flush=True)

    t0 = time.perf_counter()
    result = embed_images(model, paths, client, batch_size=batch_size)
    rows["cluster (2 workers)"] = time.perf_counter() - t0
    out["cluster (2 workers)"] = result.embeddings
    assert result.keys == [str(p) for p in paths]
    diff = max(float(np.abs(v - out["n_jobs=1"]).max()) for v in out.values())
    return rows, np.asarray(per_task), f"max abs difference to n_jobs=1: {diff:.2g}; keys in order"


def makespan(task_times, workers, overhead):
    """Greedy longest-first schedule of the tasks on ``workers`` (+ overhead per task)."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for t in sorted(task_times, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + t + overhead)
    return max(loads)


def print_table(title, rows, per_task, note, workers=2):
    base = rows["n_jobs=1"]
    task_s = float(per_task.sum())
    n = len(per_task)
    print(f"\n{title}: {n} tasks, summed task time {task_s:.1f} s "
          f"(median task {1000 * np.median(per_task):.0f} ms)")
    print(f"{'run':<22}{'wall s':>9}{'speed-up':>10}{'overhead/task ms':>18}")
    overhead = {}
    for name, wall in rows.items():
        w = 1 if name == "n_jobs=1" else workers
        overhead[name] = (wall * w - task_s) / n
        print(f"{name:<22}{wall:>9.1f}{base / wall:>9.2f}x{1000 * overhead[name]:>18.0f}")
    ratio = rows["cluster (2 workers)"] / rows["n_jobs=2"]
    print(f"cluster / n_jobs=2 wall: {ratio:.2f} (target <= 1.3)   {note}")
    ov = max(overhead["cluster (2 workers)"], 0.0)
    for w in (8, 32):
        proj = makespan(per_task, w, ov)
        print(f"projected on {w:>2} workers: {proj:6.1f} s ({base / proj:5.1f}x n_jobs=1; "
              f"bound by the longest task {per_task.max():.1f} s)" if w >= n else
              f"projected on {w:>2} workers: {proj:6.1f} s ({base / proj:5.1f}x n_jobs=1)")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="folder holding Training/")
    parser.add_argument("--ids", type=int, default=100, help="training identities in the grid")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--components", type=int, nargs=2, default=(100, 200),
                        help="the grid's two PCA sizes (at most the training images per fold)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--skip-grid", action="store_true")
    args = parser.parse_args(argv)

    import distributed

    from skreid.reid import PCAReID

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores "
          "(a shared machine: other work runs alongside)")
    t0 = time.perf_counter()
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None,
                                       memory_limit="4GiB", silence_logs=40)
    client = distributed.Client(cluster)
    client.wait_for_workers(2)
    print(f"LocalCluster start-up: {time.perf_counter() - t0:.1f} s")
    try:
        if not args.skip_grid:
            X, y = load_training(args.data, args.ids)
            print(f"grid: {len(X)} images of {args.ids} identities, {args.folds} identity folds, "
                  f"4 settings (n_components {args.components} x xqda/lda)", flush=True)
            print_table("GridSearchCV(make_classical_reid())",
                        *run_grid(X, y, args.folds, client, args.components))
            del X, y
        paths = sorted(str(p) for p in (Path(args.data) / "Training").glob("*.jpg"))
        from skreid.datasets import load_market1501

        train = load_market1501(args.data).train
        model = PCAReID(n_components=100, random_state=0).fit(train.images, train.person_ids)
        del train
        print(f"\nembed: {len(paths)} image files, PCAReID(100) on 128x64 pixels, "
              f"batch/partition {args.batch_size}")
        print_table("embed_images", *run_embed(model, paths, args.batch_size, client))
    finally:
        client.close()
        cluster.close()


if __name__ == "__main__":
    main()
