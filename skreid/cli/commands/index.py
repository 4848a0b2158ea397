"""``skreid index MODEL IMAGES... --out INDEX``: embed image files into a gallery index."""

from skreid.cli._common import CLIError
from skreid.cli._options import common_options

_INDEX_HELP = """\
Embed image files (or every image in the folders named, recursively) with MODEL, a file saved
by skreid.save (or an .onnx file from skreid export), and write the gallery index INDEX, or
extend it: images already in it (same absolute path) are skipped, so re-running on a grown
folder embeds only the new files.
Market-1501 file names (0002_c1s1_000451_03.jpg) give each image its identity and camera;
other names give none. The index records MODEL's path and SHA-256, which skreid search uses to
embed the queries; an index built with another model is refused. INDEX is replaced atomically,
only once every new image was embedded: a failed run leaves it as it was."""


def add_parser(subparsers):
    index = subparsers.add_parser("index", help="embed image files into a gallery index",
                                  description=_INDEX_HELP)
    index.add_argument("model", metavar="MODEL",
                       help="a model saved with skreid.save, or an exported .onnx")
    index.add_argument("images", metavar="IMAGES", nargs="+", help="image files or folders")
    index.add_argument("--out", required=True, metavar="INDEX",
                       help="the index file to write or extend")
    index.add_argument("--backend", choices=("exact", "faiss"), default="exact",
                       help="search backend of a new index (default: exact; faiss needs "
                            "skreid[search])")
    index.add_argument("--batch-size", type=int, default=64, metavar="N",
                       help="images decoded and embedded at a time (default: 64)")
    index.add_argument("--skip-unreadable", action="store_true",
                       help="leave out images that cannot be decoded (default: fail)")
    index.add_argument("--scheduler", metavar="ADDRESS",
                       help="embed on the workers of the Dask cluster at ADDRESS (e.g. "
                            "tcp://10.0.0.5:8786; needs skreid[dask]); each worker loads MODEL "
                            "once, so MODEL and IMAGES must be readable at the same paths there")
    common_options(index)
    return index


def run(args, progress):
    from skreid.cli._search import build_index, load_model

    if args.batch_size < 1:
        raise CLIError(f"--batch-size must be at least 1, got {args.batch_size}.")
    if args.backend == "faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            raise CLIError("--backend faiss needs faiss-cpu: pip install 'skreid[search]'.") \
                from None
    progress(f"loading the model {args.model}")
    model = load_model(args.model)
    summary = build_index(model, args.images, args.out, model_path=args.model,
                          backend=args.backend,
                          batch_size=args.batch_size, skip_unreadable=args.skip_unreadable,
                          progress=progress, quiet=args.quiet, scheduler=args.scheduler)
    return {"command": "index", **summary}


def show(results):
    print(f"{results['index']}: {results['added']} images added, "
          f"{results['already_indexed']} already indexed, {results['total']} in all"
          + (f"; {len(results['unreadable'])} unreadable left out"
             if results["unreadable"] else ""))
