"""``skreid search INDEX QUERY_IMAGE...``: find the matches of query images in an index."""

import os

from skreid.cli._common import CLIError, ReportFolder, jsonable
from skreid.cli._options import common_options, int_range

_SEARCH_HELP = """\
Embed each QUERY_IMAGE with the index's model and print its --top nearest gallery images
(key, distance, identity, camera); write results.json and index.html (each query beside its
ranked crops, framed green/red when identities are known, images embedded so the page works
offline) into --out. The page reads gallery images only from the folders that the index
records as indexed by you on this machine; others appear by name, without an image. A query's
camera comes from its Market-1501 name, or --camera: an index built with
--camera-normalization normalises each query with its camera's statistics (the global ones
for an unknown camera, or one the index never saw)."""


def add_parser(subparsers):
    search = subparsers.add_parser("search",
                                   help="find the matches of query images in an index",
                                   description=_SEARCH_HELP)
    search.add_argument("index", metavar="INDEX", help="an index written by skreid index")
    search.add_argument("queries", metavar="QUERY_IMAGE", nargs="+",
                        help="query image files or folders")
    search.add_argument("--top", type=int_range(1), default=10, metavar="K",
                        help="matches per query (default: 10)")
    search.add_argument("--rerank", action="store_true",
                        help="k-reciprocal re-ranking (Zhong et al. 2017; k1=20, k2=6, "
                             "lambda=0.3) over the whole gallery; the distances printed are "
                             "the re-ranked ones (exact; cost grows with the gallery squared)")
    search.add_argument("--exclude-same-camera", action="store_true",
                        help="with Market-1501 names: leave out the query identity's images "
                             "from the query's camera (the evaluation protocol)")
    search.add_argument("--camera", type=int, metavar="N",
                        help="camera id (>= 0) of every query, instead of the camera in its "
                             "Market-1501 name")
    search.add_argument("--model", metavar="MODEL",
                        help="the index's model file, if it moved since indexing")
    search.add_argument("--out", default="skreid-search", metavar="DIR",
                        help="folder for results.json and index.html (default: skreid-search)")
    common_options(search)
    return search


def run(args, progress):
    from skreid.cli._origin import verified_roots
    from skreid.cli._search import _load_index, load_model, resolve_model, search_index
    from skreid.cli.report import search_page

    if args.camera is not None and args.camera < 0:
        raise CLIError(f"--camera must be a camera id >= 0, got {args.camera}.")
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
                               exclude_same_camera=args.exclude_same_camera, rerank=args.rerank,
                               camera=args.camera, progress=progress)
        out = {"command": "search", "index": os.path.abspath(args.index), "model": model_path,
               "top": args.top, "rerank": bool(args.rerank), "metric": index.metric,
               "backend": index.backend, "gallery_size": len(index),
               "camera_normalization": index.camera_normalization, "queries": results}
        folder.write_json("results.json", jsonable(out))
        # gallery thumbnails only from the folders this user indexed here (never from any
        # path an index names: it may come from someone else)
        roots = verified_roots(index.meta)
        if not roots:
            progress("the index does not record folders that you indexed on this machine: the "
                     "page shows no gallery images (re-run skreid index on them to show them)")
        folder.write_text("index.html", search_page(results, index_path=args.index,
                                                    gallery_roots=roots))
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    out["out"] = folder.path
    return out


def show(results):
    from skreid.cli.report import text_results

    print(text_results(results["queries"]))
    print(f"results: {os.path.join(results['out'], 'results.json')}, page: "
          f"{os.path.join(results['out'], 'index.html')}")
