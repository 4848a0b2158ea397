"""Inference without TensorFlow: Keras ``TripletEmbedder.transform`` vs the ONNX runtime.

Usage::

    python benchmarks/inference.py --data /work/shared/data/market1501/cab420_subset
    python benchmarks/inference.py --data PATH --epochs 5        # a shorter fit
    python benchmarks/inference.py --data PATH --model reid.skreid   # a skreid.save file
    python benchmarks/inference.py --data PATH --epochs 1 --train-ids 30   # throughput only

Trains the default ``TripletEmbedder`` (MobileNetV3-Small from the shared ImageNet weights,
``--epochs`` of the default 40) on ``Training/`` -- or loads a ``skreid.save`` file with
``--model`` -- exports it with :func:`skreid.export_onnx`, then measures in the same run on
the same images (``Testing/Gallery`` + ``Testing/Probe``, 602 images of 128x64):

* images/s of ``TripletEmbedder.transform`` and ``OnnxEmbedder.transform`` called on
  batches of 1, 32 and 256 images (both with flip averaging, both on every core; a warm-up
  call first, so graph tracing and session creation are not timed), the runtime with
  ``batch_size`` equal to the call's size; and once more on 256 images with the runtime's
  default ``batch_size`` (small runs, its fastest on a CPU);
* the max abs difference of the two embeddings over the 602 images;
* the CAB420 Top-1 of both (the course protocol: 301 probes against the single-shot gallery,
  no camera filtering), which must be equal;
* the model files' sizes (written to ``--out`` with the Keras embeddings of the 602
  images, ``keras_embeddings.npy``, gallery first), and the install size of
  ``skreid[runtime]`` vs ``skreid[tf-cpu]``: the sizes (from each installed distribution's
  RECORD) of every package the extra pulls in, resolved from the requirements of the
  packages installed in this environment.

The machine may be shared: the two columns are measured alternately in one process, so
their ratio stays meaningful even when the absolute figures move.
"""

import argparse
import importlib.metadata as md
import os
import re
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

BATCHES = (1, 32, 256)
#: images timed per batch size (enough calls for a stable mean on a shared CPU)
N_TIMED = {1: 64, 32: 320, 256: 512}


# ---------------------------------------------------------------- install sizes
def _dist_size(dist):
    total = 0
    for f in dist.files or ():
        path = dist.locate_file(f)
        if os.path.isfile(path):
            total += os.path.getsize(path)
    return total


def _closure(requirements):
    """Installed distributions needed by ``requirements`` (strings), recursively."""
    from packaging.requirements import Requirement

    seen, missing, todo = {}, set(), [(r, ()) for r in requirements]
    while todo:
        req_str, _ = todo.pop()
        req = Requirement(req_str)
        name = re.sub(r"[-_.]+", "-", req.name).lower()
        if name in seen:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            missing.add(req.name)
            continue
        seen[name] = dist
        for sub in dist.requires or ():
            sub_req = Requirement(sub)
            extras = req.extras or {""}
            if sub_req.marker is None or any(sub_req.marker.evaluate({"extra": e})
                                             for e in extras):
                todo.append((sub, ()))
    return seen, missing


def install_sizes():
    """{extra: (MB, n_packages, missing)} for skreid (core), skreid[runtime], skreid[tf-cpu]."""
    from packaging.requirements import Requirement

    meta = md.metadata("skreid")
    core, extras = [], {}
    for raw in meta.get_all("Requires-Dist") or ():
        req = Requirement(raw)
        m = re.search(r'extra\s*==\s*"([^"]+)"', raw)
        target = extras.setdefault(m.group(1), []) if m else core
        target.append(f"{req.name}{req.specifier}")
    out = {}
    core_dists, _ = _closure(core)
    out["core"] = (sum(_dist_size(d) for d in core_dists.values()) / 1e6, len(core_dists),
                   set())
    for extra in ("runtime", "tf-cpu"):
        reqs = core + extras.get(extra, [])
        # an older installed skreid may not declare the extras yet: use pyproject's
        if extra == "runtime" and not extras.get(extra):
            reqs = [r for r in core if not r.startswith("keras")] + ["onnxruntime"]
        if extra == "tf-cpu" and not extras.get(extra):
            reqs = core + ["tensorflow-cpu", "keras"]
        dists, missing = _closure(reqs)
        out[extra] = (sum(_dist_size(d) for d in dists.values()) / 1e6, len(dists), missing)
    return out


# ---------------------------------------------------------------- timing
def images_per_s(fn, X, batch):
    fn(X[:batch])  # warm-up: tracing / first-run allocations
    n = min(N_TIMED[batch], len(X))
    start = time.perf_counter()
    for i in range(0, n, batch):
        fn(X[i:i + batch])
    return n / (time.perf_counter() - start)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="CAB420 Market-1501 subset folder")
    parser.add_argument("--epochs", type=int, default=None,
                        help="training epochs (default: TripletEmbedder's 40)")
    parser.add_argument("--model", help="a skreid.save file to load instead of training")
    parser.add_argument("--train-ids", type=int, default=None, metavar="N",
                        help="train on the first N training identities only (a quick run: "
                             "throughput does not depend on training; Top-1 does)")
    parser.add_argument("--weights", help="MobileNetV3-Small weights (default: shared file)")
    parser.add_argument("--out", help="folder for the model files (default: a temporary one)")
    args = parser.parse_args(argv)

    import skreid
    from skreid.datasets import load_market1501
    from skreid.runtime import OnnxEmbedder

    data = load_market1501(args.data)
    out = args.out or tempfile.mkdtemp(prefix="skreid_inference_")
    os.makedirs(out, exist_ok=True)
    t0 = time.perf_counter()
    if args.model:
        est = skreid.load(args.model)
        how = f"loaded {args.model}"
    else:
        from _common import best_params

        params = best_params(args.data, args.weights)
        if args.epochs is not None:
            params["epochs"] = args.epochs
        train = np.ones(len(data.train.person_ids), bool)
        if args.train_ids:
            train = np.isin(data.train.person_ids,
                            np.unique(data.train.person_ids)[:args.train_ids])
        est = skreid.TripletEmbedder(**params).fit(data.train.images[train],
                                                   data.train.person_ids[train])
        how = (f"trained {est.n_epochs_} epochs on {len(np.unique(data.train.person_ids[train]))}"
               f" identities in {time.perf_counter() - t0:.0f} s")
    print(f"TripletEmbedder: {how}", file=sys.stderr)

    X = np.concatenate([data.gallery.images, data.query.images])
    onnx_path = os.path.join(out, "embedder.onnx")
    meta = skreid.export_onnx(est, onnx_path, X_check=X[:16], overwrite=True)
    runtime = OnnxEmbedder(onnx_path).fit()

    rows = []
    for batch in BATCHES:
        keras_ips = images_per_s(est.transform, X, batch)
        onnx_ips = images_per_s(OnnxEmbedder(onnx_path, batch_size=batch).fit().transform,
                                X, batch)
        rows.append((f"images/s, batch {batch}", f"{keras_ips:.1f}", f"{onnx_ips:.1f}",
                     f"{onnx_ips / keras_ips:.2f}x"))
        print("measured:", rows[-1], file=sys.stderr, flush=True)  # kept if a later step fails
    # what a user gets calling transform on 256 images with the runtime's default batch_size
    # (onnxruntime on a CPU is fastest with small calls; Keras predicts 256 at once)
    default = OnnxEmbedder(onnx_path).fit()
    keras_ips = images_per_s(est.transform, X, 256)  # again: measured beside the runtime
    onnx_ips = images_per_s(default.transform, X, 256)
    rows.append((f"images/s, 256 per call (runtime: {default.batch_size} per run, its default)",
                 f"{keras_ips:.1f}", f"{onnx_ips:.1f}", f"{onnx_ips / keras_ips:.2f}x"))
    print("measured:", rows[-1], file=sys.stderr, flush=True)

    e_keras, e_onnx = est.transform(X), runtime.transform(X)
    # kept for checking the runtime elsewhere (e.g. a venv without TensorFlow)
    np.save(os.path.join(out, "keras_embeddings.npy"), e_keras)
    diff = float(np.abs(e_keras - e_onnx).max())
    g, q = data.gallery, data.query
    est.set_gallery(g.images, g.person_ids)
    runtime.set_gallery(g.images, g.person_ids)
    top1_k, top1_o = est.score(q.images, q.person_ids), runtime.score(q.images, q.person_ids)
    same_ranks = bool((est.kneighbors(q.images, 10, return_distance=False)
                       == runtime.kneighbors(q.images, 10, return_distance=False)).all())

    keras_file = os.path.join(out, "network.keras")
    est.model_.save(keras_file)
    sizes = {"ONNX file": os.path.getsize(onnx_path)}
    sizes[".keras network"] = os.path.getsize(keras_file)
    if hasattr(skreid, "save"):
        saved = os.path.join(out, "model.skreid")
        skreid.save(est, saved)
        sizes["skreid.save file"] = os.path.getsize(saved)
    installs = install_sizes()
    extra_tf = installs["tf-cpu"][0] - installs["core"][0]
    extra_rt = installs["runtime"][0] - installs["core"][0]

    rows += [
        ("max abs embedding diff", "-", f"{diff:.2g}", ""),
        ("CAB420 Top-1 (301 probes)", f"{100 * top1_k:.2f} %", f"{100 * top1_o:.2f} %",
         "equal" if top1_k == top1_o else "DIFFERENT"),
        ("top-10 neighbours identical", "", "yes" if same_ranks else "NO", ""),
        ("model file", f"{sizes['.keras network'] / 1e6:.1f} MB (.keras)"
         + (f", {sizes['skreid.save file'] / 1e6:.1f} MB (skreid.save)"
            if "skreid.save file" in sizes else ""),
         f"{sizes['ONNX file'] / 1e6:.1f} MB", ""),
        ("install size", f"{installs['tf-cpu'][0]:.0f} MB ({installs['tf-cpu'][1]} pkgs, "
         "skreid[tf-cpu])", f"{installs['runtime'][0]:.0f} MB ({installs['runtime'][1]} pkgs, "
         "skreid[runtime])", f"{installs['tf-cpu'][0] / installs['runtime'][0]:.1f}x smaller"),
        ("  of which beyond core skreid", f"{extra_tf:.0f} MB", f"{extra_rt:.0f} MB",
         f"{extra_tf / max(extra_rt, 1e-9):.1f}x smaller"),
    ]
    print(f"\nTripletEmbedder ({how}; ONNX opset {meta['opset']}, export check "
          f"{meta['verification']['embeddings']:.2g}), {len(X)} CAB420 test images, "
          f"{os.cpu_count()} CPUs")
    widths = [max(len(str(r[i])) for r in [("", "Keras", "ONNX runtime", "ratio"), *rows])
              for i in range(4)]
    header = ("", "Keras transform", "OnnxEmbedder", "runtime / Keras")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print(" | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)))
    for extra, (_, _, missing) in installs.items():
        if missing:
            print(f"(not installed here, not counted in skreid[{extra}]: {sorted(missing)})")


if __name__ == "__main__":
    main()
