"""``skreid index MODEL IMAGES... --out INDEX``: embed image files into a gallery index."""

import os

from skreid.cli._common import CLIError
from skreid.cli._errors import require
from skreid.cli._options import check_output_file, common_options, int_range

_INDEX_HELP = """\
Embed image files (or every image in the folders named, recursively) with MODEL, a file saved
by skreid.save (or an .onnx file from skreid export), and write the gallery index INDEX, or
bring it up to date: new images are added, images whose content changed since they were
indexed (size or time, then SHA-256) are re-embedded, unchanged ones are skipped, and indexed
images of the folders named that no longer exist are reported (removed with --prune).
Market-1501 file names (0002_c1s1_000451_03.jpg) give each image its identity and camera;
other names give none (--camera N gives every image of the run camera N). With
--camera-normalization the index searches camera-normalised embeddings: each camera's mean
(and covariance) estimated from the index's images, taken out of them and of the queries.
The index records MODEL's path and SHA-256, which skreid search uses to embed the queries; an
index built with another model is refused. INDEX is replaced atomically, only once every image
was embedded: a failed run leaves it as it was. Runs writing the same INDEX at once take turns
and each one's images are kept. The index also records the folders indexed, signed with a key
only this user on this machine has: skreid search shows gallery images only from those
folders."""


def add_parser(subparsers):
    index = subparsers.add_parser("index", help="embed image files into a gallery index",
                                  description=_INDEX_HELP)
    index.add_argument("model", metavar="MODEL",
                       help="a model saved with skreid.save, or an exported .onnx")
    index.add_argument("images", metavar="IMAGES", nargs="+", help="image files or folders")
    index.add_argument("--out", required=True, metavar="INDEX",
                       help="the index file to write or extend")
    index.add_argument("--backend", choices=("exact", "faiss"),
                       help="search backend of a new index (default: exact; faiss needs "
                            "skreid[search]); an existing index keeps its own")
    index.add_argument("--camera", type=int, metavar="N",
                       help="camera id (>= 0) of every image of this run, instead of the "
                            "camera in its Market-1501 name (e.g. one folder per camera)")
    index.add_argument("--camera-normalization", choices=("center", "whiten"),
                       help="a new index searches per-camera normalised embeddings: each "
                            "camera's mean subtracted (center), and its covariance aligned "
                            "with the shared one (whiten); statistics saved with the index")
    index.add_argument("--batch-size", type=int_range(1), default=64, metavar="N",
                       help="images decoded and embedded at a time (default: 64)")
    index.add_argument("--skip-unreadable", action="store_true",
                       help="leave out images that cannot be decoded, and paths that are not "
                            "valid UTF-8 (default: fail, naming them)")
    index.add_argument("--scheduler", metavar="ADDRESS",
                       help="embed on the workers of the Dask cluster at ADDRESS (e.g. "
                            "tcp://10.0.0.5:8786; needs skreid[dask]); each worker loads MODEL "
                            "once, so MODEL and IMAGES must be readable at the same paths there")
    index.add_argument("--scheduler-timeout", type=float, default=10.0, metavar="SECONDS",
                       help="with --scheduler: how long to wait for each answer of the cluster "
                            "(connection, first worker, checks while embedding; default: 10)")
    index.add_argument("--prune", action="store_true",
                       help="remove from INDEX the images of the folders named that no longer "
                            "exist (default: keep them and say how many)")
    index.add_argument("--verify", action="store_true",
                       help="hash every indexed image to find changes, even those whose size "
                            "and modification time did not change")
    index.add_argument("--lock-timeout", type=float, default=120.0, metavar="SECONDS",
                       help="how long to wait while another run writes INDEX (default: 120)")
    common_options(index)
    return index


def run(args, progress):
    from skreid.cli._indexing import build_index
    from skreid.cli._search import load_model

    if not args.lock_timeout >= 0 or args.lock_timeout == float("inf"):
        raise CLIError(f"--lock-timeout must be a number of seconds >= 0, got "
                       f"{args.lock_timeout}.")
    if args.camera is not None and args.camera < 0:
        raise CLIError(f"--camera must be a camera id >= 0, got {args.camera}.")
    if args.backend == "faiss":
        require("faiss", "--backend faiss")
    if args.scheduler is not None:
        from skreid.parallel import check_scheduler_address, check_timeout

        try:
            check_scheduler_address(args.scheduler)
            check_timeout(args.scheduler_timeout, "--scheduler-timeout")
        except ValueError as exc:
            raise CLIError(f"--scheduler: {exc}") from None
    # every check that can fail does so before the model is loaded and any image embedded
    check_output_file("--out", args.out, replace=True, hint=" (e.g. --out gallery.idx)")
    for path in args.images:
        if not os.path.lexists(path):
            raise CLIError(f"IMAGES: {path}: no such file or folder.")
    progress(f"loading the model {args.model}")
    model = load_model(args.model)
    summary = build_index(model, args.images, args.out, model_path=args.model,
                          backend=args.backend,
                          batch_size=args.batch_size, skip_unreadable=args.skip_unreadable,
                          progress=progress, quiet=args.quiet, scheduler=args.scheduler,
                          prune=args.prune, verify=args.verify, lock_timeout=args.lock_timeout,
                          scheduler_timeout=args.scheduler_timeout, camera=args.camera,
                          camera_normalization=args.camera_normalization)
    return {"command": "index", **summary}


def show(results):
    missing = results.get("missing") or []
    print(f"{results['index']}: {results['added']} images added, "
          f"{results['already_indexed']} already indexed, {results.get('updated', 0)} updated, "
          f"{results.get('removed', 0)} removed, {results['total']} in all"
          + (f"; {len(results['unreadable'])} unreadable left out"
             if results["unreadable"] else "")
          + (f"; {len(missing)} indexed images no longer exist (--prune removes them)"
             if missing else ""))
