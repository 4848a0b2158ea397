"""``skreid pets --data PATH``: breed classification + segmentation on Oxford-IIIT Pet."""

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

METHODS = ("multitask", "finetuned")  # the --method names of skreid.cli._pets

DESCRIPTION = ("Train and evaluate breed classification + segmentation on Oxford-IIIT Pet (its "
               "official trainval/test split).")


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "pets", help="breed classification + segmentation on Oxford-IIIT Pet",
        description=DESCRIPTION)
    parser.add_argument("--data", required=True, metavar="PATH", help="Oxford-IIIT Pet folder")
    backbone_options(parser, "for FineTunedPetNet (default: 'imagenet' when they can be "
                             "had, else random initialisation)")
    parser.add_argument("--method", choices=(*METHODS, "all"), default="all")
    parser.add_argument("--image-size", type=int_range(32), default=128, metavar="PX",
                        help="working image size in pixels (default: 128)")
    parser.add_argument("--epochs", type=int_range(1), metavar="N",
                        help="training epochs of each network (default: their own)")
    parser.add_argument("--save", metavar="MODEL",
                        help="keep the trained model of the one --method in MODEL (skreid.save) "
                             "with its model card MODEL.card.md")
    common_options(parser, "skreid-pets-report")
    return parser


def run(args, progress):
    from skreid.cli._data import load_pets_data
    from skreid.cli._pets import run_pets
    from skreid.cli._save import check_save_path

    require("keras", "skreid pets (it trains Keras networks)")
    size = (args.image_size, args.image_size)
    methods = METHODS if args.method == "all" else (args.method,)
    check_data_folder(args.data)
    weights = check_weights(args.weights, size, args.backbone) if "finetuned" in methods \
        else None
    save = check_save_path(args.save, methods, METHODS)
    options = {m: {"image_size": size} for m in METHODS}
    options["finetuned"]["backbone"] = args.backbone
    if args.epochs is not None:
        for m in METHODS:
            options[m]["epochs"] = args.epochs
        options["finetuned"]["head_epochs"] = max(1, args.epochs // 3)

    def work(results, folder):
        progress(f"pets: loading {args.data}")
        data = load_pets_data(args.data, size)
        init = error = None
        pet_weights = weights
        if "finetuned" in methods:
            from skreid.cli._pets import resolve_backbone_weights

            pet_weights, init, error = resolve_backbone_weights(weights, size, progress,
                                                                 args.backbone)
        fitted = {}
        results["pets"] = run_pets(data, methods, seed=args.seed, options=options,
                                   weights=pet_weights, init=init, weights_error=error,
                                   fitted=fitted, progress=progress, folder=folder,
                                   verbose=verbose(args))
        results["pets"]["data"]["path"] = os.path.abspath(args.data)
        if save is not None:
            from skreid.cli._save import pets_metadata

            save_fitted(results, fitted, save, pets_metadata, progress)

    return run_with_report(args, "pets", work)


show = show_report
