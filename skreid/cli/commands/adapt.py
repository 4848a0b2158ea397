"""``skreid adapt MODEL IMAGES... --out NEW_MODEL``: adapt a re-ID model to new cameras from
unlabeled crops (``TripletEmbedder.fit`` with ``y == -1`` and ``warm_start=True``)."""

import os

from skreid.cli._common import CLIError
from skreid.cli._options import common_options

_HELP = """\
Adapt MODEL, a TripletEmbedder saved by skreid.save, to a new camera network from unlabeled
crops of people seen by it (image files, or every image in the folders named, recursively):
each round clusters the crops into pseudo-identities (k-reciprocal Jaccard distances, DBSCAN)
and trains on them. Write the adapted model to NEW_MODEL (with its model card, which records
what it was adapted on); MODEL is not changed. Use a few hundred crops of a few dozen people,
several crops per person and camera. Cameras: from Market-1501 file names
(0002_c1s1_000451_03.jpg; the identity in the name is not used), or the folder each crop is in
(--cameras folder)."""


def add_parser(subparsers):
    parser = subparsers.add_parser("adapt", help="adapt a re-ID model to new cameras from "
                                   "unlabeled crops", description=_HELP)
    parser.add_argument("model", metavar="MODEL", help="a TripletEmbedder saved with skreid.save")
    parser.add_argument("images", metavar="IMAGES", nargs="+", help="image files or folders")
    parser.add_argument("--out", required=True, metavar="NEW_MODEL",
                        help="file to write the adapted model to (replaces only a file "
                             "written by skreid.save)")
    parser.add_argument("--cameras", choices=("auto", "market", "folder", "none"),
                        default="auto",
                        help="camera of each crop: from Market-1501 file names, from the "
                             "folder it is in, or none (default auto: Market-1501 names when "
                             "every name is one, else none)")
    parser.add_argument("--rounds", type=int, metavar="N",
                        help="rounds of clustering and training (default: the model's "
                             "adapt_rounds)")
    parser.add_argument("--epochs-per-round", type=int, metavar="N",
                        help="training epochs per round (default: the model's adapt_epochs)")
    parser.add_argument("--eps", type=float, metavar="EPS",
                        help="DBSCAN eps, a Jaccard distance in (0, 1] (default: the model's "
                             "adapt_eps, 'auto')")
    parser.add_argument("--skip-unreadable", action="store_true",
                        help="leave out images that cannot be decoded (default: fail)")
    common_options(parser)
    return parser


def _check_out(path):
    """Fail before any work unless NEW_MODEL can be written and replaces no foreign file."""
    target = os.path.abspath(path)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise CLIError(f"--out {path}: folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"--out {path}: cannot write in {parent}.")
    if os.path.lexists(target):
        from skreid.saving import read_metadata

        try:
            read_metadata(target)
        except Exception:  # anything but a skreid file is left alone
            raise CLIError(f"--out {path}: exists and is not a file written by skreid.save; "
                           "skreid never overwrites it. Choose another path.") from None
    elif os.path.lexists(target + ".card.md"):  # a card without its model: not skreid's
        raise CLIError(f"--out {path}: {target}.card.md exists; skreid never overwrites it. "
                       "Choose another path.")
    return target


def _cameras(files, how):
    from skreid.cli._search import labels_of

    if how == "folder":
        return [os.path.basename(os.path.dirname(f)) for f in files]
    cams = [labels_of(f)[1] for f in files]
    if how == "market" and None in cams:
        bad = files[cams.index(None)]
        raise CLIError(f"--cameras market: {bad} is not a Market-1501 file name "
                       "(0002_c1s1_000451_03.jpg); use --cameras folder or none.")
    return None if how == "none" or None in cams else cams


def _read(files, model, skip_unreadable, progress):
    import numpy as np

    from skreid.datasets import read_image

    h, w, c = model.input_shape_
    images, kept, unreadable = [], [], []
    for path in files:
        try:
            image = read_image(path, (h, w), mode="L" if c == 1 else "RGB")
        except ValueError:
            unreadable.append(path)
            continue
        images.append(image[..., None] if c == 1 else image)
        kept.append(path)
    if unreadable and not skip_unreadable:
        raise CLIError(f"{len(unreadable)} image(s) cannot be decoded, e.g. {unreadable[0]} "
                       "(--skip-unreadable leaves them out).")
    if unreadable:
        progress(f"left out {len(unreadable)} unreadable image(s)")
    return np.stack(images), kept


def run(args, progress):
    import time
    import warnings

    import numpy as np

    from skreid.cli._search import list_image_files, load_model
    from skreid.reid import NoPseudoIdentitiesWarning

    for name, value in (("--rounds", args.rounds), ("--epochs-per-round", args.epochs_per_round)):
        if value is not None and value < 1:
            raise CLIError(f"{name} must be at least 1, got {value}.")
    if args.eps is not None and not 0 < args.eps <= 1:
        raise CLIError(f"--eps must be in (0, 1], got {args.eps}.")
    out = _check_out(args.out)
    files = list_image_files(args.images)
    progress(f"loading the model {args.model}")
    model = load_model(args.model)
    if not hasattr(model, "adapt_rounds"):
        raise CLIError(f"MODEL {args.model}: a {type(model).__name__} cannot adapt; "
                       "skreid adapt needs a TripletEmbedder.")
    progress(f"reading {len(files)} images")
    X, files = _read(files, model, args.skip_unreadable, progress)
    cameras = _cameras(files, args.cameras)
    progress("cameras: " + ("none given" if cameras is None else
                            ", ".join(map(str, sorted(set(cameras), key=str)))))
    changes = {"adapt_rounds": args.rounds, "adapt_epochs": args.epochs_per_round,
               "adapt_eps": args.eps}
    model.set_params(warm_start=True, random_state=args.seed, verbose=0 if args.quiet else 1,
                     **{k: v for k, v in changes.items() if v is not None})
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model.fit(X, np.full(len(X), -1), cameras=cameras)
        except ValueError as exc:
            raise CLIError(str(exc).splitlines()[0]) from None
    for w in caught:
        if issubclass(w.category, NoPseudoIdentitiesWarning):  # the model is unchanged
            raise CLIError(f"{w.message} Nothing was written.")
        progress(f"warning: {w.message}")
    seconds = time.perf_counter() - start
    record = model.adaptation_[-1]
    import skreid
    from skreid.saving import read_metadata

    before = read_metadata(args.model)
    metadata = {k: before[k] for k in ("training_data",) if k in before}
    metadata["adaptation_data"] = {"folder": os.path.commonpath(files), "images": len(X),
                                   "cameras": record["cameras"]}
    metadata["training_time_s"] = round(seconds, 1)
    progress(f"saving the adapted model to {args.out}")
    try:
        card = skreid.save(model, out, metadata=metadata)
    except FileExistsError as exc:  # a model card skreid did not write: nothing was written
        raise CLIError(f"--out {args.out}: {str(exc).splitlines()[0]}") from None
    return {"command": "adapt", "model": os.path.abspath(args.model), "out": out,
            "card": card, "images": len(X), "cameras": record["cameras"],
            "rounds": record["rounds"], "clusters_per_round": record["clusters_per_round"],
            "final_clusters": record["final_clusters"], "seconds": round(seconds, 1)}


def show(results):
    print(f"{results['out']}: adapted on {results['images']} images"
          + (f" from cameras {', '.join(map(str, results['cameras']))}"
             if results["cameras"] else "")
          + f" in {results['rounds']} rounds ({results['seconds']:.0f} s); pseudo-identities "
          f"per round {results['clusters_per_round']}, {results['final_clusters']} at the end")
    print(f"model card: {results['card']}")
