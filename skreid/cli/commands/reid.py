"""``skreid reid --data PATH``: re-ID methods trained and evaluated on real data."""

import os

from skreid.cli._errors import require
from skreid.cli._options import (
    backbone_options,
    check_data_folder,
    check_weights,
    common_options,
    int_range,
    verbose,
)
from skreid.cli._run import run_with_report, save_fitted, show_report

METHODS = ("pca", "classical", "triplet")  # the --method names of skreid.cli._reid

DESCRIPTION = ("Train and evaluate re-ID methods on Market-1501 (standard or course layout) or "
               "an image folder with one subfolder per identity, with the Market-1501 protocol.")


def add_parser(subparsers):
    parser = subparsers.add_parser("reid", help="re-ID on Market-1501 or an image folder",
                                   description=DESCRIPTION)
    parser.add_argument("--data", required=True, metavar="PATH",
                        help="Market-1501 (standard or course layout) or one subfolder per id")
    parser.add_argument("--method", choices=(*METHODS, "all"), default="all")
    backbone_options(parser, "TripletEmbedder fine-tunes it (default: none, a ResNet trained "
                             "from scratch)")
    parser.add_argument("--epochs", type=int_range(1), metavar="N",
                        help="training epochs of TripletEmbedder (default: its own)")
    parser.add_argument("--save", metavar="MODEL",
                        help="keep the trained model of the one --method in MODEL (skreid.save) "
                             "with its model card MODEL.card.md")
    common_options(parser, "skreid-reid-report")
    return parser


def run(args, progress):
    from skreid.cli._data import load_reid_data
    from skreid.cli._reid import run_reid
    from skreid.cli._save import check_save_path

    methods = METHODS if args.method == "all" else (args.method,)
    check_data_folder(args.data)
    if "triplet" in methods:
        require("keras", "TripletEmbedder (--method triplet or all; pca and classical run "
                         "without it)")
    save = check_save_path(args.save, methods, METHODS)
    if "triplet" in methods and args.weights is not None:
        triplet = {"weights": check_weights(args.weights, (128, 64), args.backbone),
                   "backbone": args.backbone}
    else:
        # no weights file: "imagenet" would need a download, so train a ResNet from scratch
        triplet = {"backbone": "resnet", "weights": None}
    if args.epochs is not None:
        triplet["epochs"] = args.epochs

    def work(results, folder):
        progress(f"re-ID: loading {args.data}")
        data = load_reid_data(args.data, args.seed)
        fitted = {}
        results["reid"] = run_reid(data, methods, seed=args.seed,
                                   options={"triplet": triplet}, fitted=fitted,
                                   progress=progress, folder=folder, verbose=verbose(args))
        results["reid"]["data"]["path"] = os.path.abspath(args.data)
        if save is not None:
            from skreid.cli._save import reid_metadata

            save_fitted(results, fitted, save, reid_metadata, progress)

    return run_with_report(args, "reid", work)


show = show_report
