"""Argument parsing and output of ``skreid index`` and ``skreid search``."""

import os

from skreid.cli._common import CLIError, ReportFolder, jsonable

__all__ = ["add_search_commands", "print_search_results"]

_INDEX_HELP = """\
Embed image files (or every image in the folders named, recursively) with MODEL, a file saved
by skreid.save (or an .onnx file from skreid export), and write the gallery index INDEX, or
extend it: images already in it (same absolute path) are skipped, so re-running on a grown
folder embeds only the new files.
Market-1501 file names (0002_c1s1_000451_03.jpg) give each image its identity and camera;
other names give none. The index records MODEL's path and SHA-256, which skreid search uses to
embed the queries; an index built with another model is refused. INDEX is replaced atomically,
only once every new image was embedded: a failed run leaves it as it was."""

_SEARCH_HELP = """\
Embed each QUERY_IMAGE with the index's model and print its --top nearest gallery images
(key, distance, identity, camera); write results.json and index.html (each query beside its
ranked crops, framed green/red when identities are known, images embedded so the page works
offline) into --out."""


def add_search_commands(sub, common_options):
    index = sub.add_parser("index", help="embed image files into a gallery index",
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
    index.set_defaults(func=cmd_index)

    search = sub.add_parser("search", help="find the matches of query images in an index",
                            description=_SEARCH_HELP)
    search.add_argument("index", metavar="INDEX", help="an index written by skreid index")
    search.add_argument("queries", metavar="QUERY_IMAGE", nargs="+",
                        help="query image files or folders")
    search.add_argument("--top", type=int, default=10, metavar="K",
                        help="matches per query (default: 10)")
    search.add_argument("--rerank", action="store_true",
                        help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, "
                             "lambda=0.3) over the whole gallery; the distances printed are "
                             "the re-ranked ones (exact; cost grows with the gallery squared)")
    search.add_argument("--exclude-same-camera", action="store_true",
                        help="with Market-1501 names: leave out the query identity's images "
                             "from the query's camera (the evaluation protocol)")
    search.add_argument("--model", metavar="MODEL",
                        help="the index's model file, if it moved since indexing")
    search.add_argument("--out", default="skreid-search", metavar="DIR",
                        help="folder for results.json and index.html (default: skreid-search)")
    common_options(search)
    search.set_defaults(func=cmd_search)


def cmd_index(args, progress):
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


def cmd_search(args, progress):
    from skreid.cli._search import _load_index, load_model, resolve_model, search_index
    from skreid.cli._search_page import search_page

    index = _load_index(args.index)
    if len(index) == 0:
        raise CLIError(f"INDEX {args.index}: the index is empty; add images with skreid index.")
    if not 1 <= args.top <= len(index):
        raise CLIError(f"--top {args.top}: must be between 1 and the gallery size "
                       f"({len(index)} images).")
    folder = ReportFolder(args.out)  # an unwritable or foreign --out fails before any work
    try:
        model_path = resolve_model(index, args.model)
        progress(f"loading the model {model_path}")
        model = load_model(model_path)
        results = search_index(index, model, args.queries, top=args.top,
                               exclude_same_camera=args.exclude_same_camera, rerank=args.rerank)
        out = {"command": "search", "index": os.path.abspath(args.index), "model": model_path,
               "top": args.top, "rerank": bool(args.rerank), "metric": index.metric,
               "backend": index.backend, "gallery_size": len(index), "queries": results}
        folder.write_json("results.json", jsonable(out))
        folder.write_text("index.html", search_page(results, index_path=args.index))
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    out["out"] = folder.path
    return out


def print_search_results(results):
    if results["command"] == "index":
        print(f"{results['index']}: {results['added']} images added, "
              f"{results['already_indexed']} already indexed, {results['total']} in all"
              + (f"; {len(results['unreadable'])} unreadable left out"
                 if results["unreadable"] else ""))
        return
    from skreid.cli._search import text_results

    print(text_results(results["queries"]))
    print(f"results: {os.path.join(results['out'], 'results.json')}, page: "
          f"{os.path.join(results['out'], 'index.html')}")
