"""``skreid demo``: both problems end to end on built-in synthetic data, with a report."""

from skreid.cli._errors import require
from skreid.cli._options import WEIGHTS_HELP, check_weights, common_options, verbose
from skreid.cli._run import run_with_report, show_report
from skreid.cli.commands.pets import METHODS as PET_METHODS
from skreid.cli.commands.reid import METHODS as REID_METHODS

PROBLEMS = ("reid", "pets")

DESCRIPTION = ("Train and compare the re-ID and pets estimators on built-in synthetic data; "
               "print the tables and write a report folder (report.html, report.md, "
               "results.json, figures).")


def add_parser(subparsers):
    from skreid.cli._data import SIZES

    parser = subparsers.add_parser("demo", help="both problems on synthetic data, with a report",
                                   description=DESCRIPTION)
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="problem size: full (~3 min on 2 CPU cores), small, tiny (tests)")
    parser.add_argument("--only", choices=PROBLEMS, help="run one problem only")
    parser.add_argument("--weights", metavar="FILE|imagenet",
                        help=f"MobileNetV3-Small weights for FineTunedPetNet: {WEIGHTS_HELP} "
                             f"(default: 'imagenet' when they can be had, else random "
                             f"initialisation)")
    common_options(parser, "skreid-report")
    return parser


def run(args, progress):
    from skreid.cli import _pets, _reid
    from skreid.cli._data import SIZES, demo_people, demo_pets

    require("keras", "skreid demo (it trains Keras networks)")
    spec = SIZES[args.size]
    problems = PROBLEMS if args.only is None else (args.only,)
    weights = None
    if "pets" in problems:
        weights = check_weights(args.weights, spec["pets"]["image_size"])

    def work(results, folder):
        results["size"] = args.size
        init = error = None
        if "pets" in problems:
            pet_weights, init, error = _pets.resolve_backbone_weights(
                weights, spec["pets"]["image_size"], progress)
        if "reid" in problems:
            progress(f"re-ID: generating synthetic people ({args.size})")
            results["reid"] = _reid.run_reid(
                demo_people(args.size, args.seed), REID_METHODS, seed=args.seed,
                options=spec["options"], progress=progress, folder=folder,
                verbose=verbose(args))
        if "pets" in problems:
            progress(f"pets: generating synthetic pets ({args.size})")
            results["pets"] = _pets.run_pets(
                demo_pets(args.size, args.seed), PET_METHODS, seed=args.seed,
                options=spec["options"], weights=pet_weights, init=init,
                weights_error=error, progress=progress, folder=folder,
                verbose=verbose(args))

    return run_with_report(args, "demo", work)


show = show_report
