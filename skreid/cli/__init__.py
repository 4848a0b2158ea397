"""The ``skreid`` command.

``skreid demo`` runs both problems end to end on the built-in synthetic data and writes a
report folder; ``skreid reid`` and ``skreid pets`` do the same on real data; ``skreid fetch pets``
downloads Oxford-IIIT Pet; ``skreid index`` embeds image files into a gallery index and
``skreid search`` finds a query's matches in it. Progress goes to stderr, results to stdout
(``--json`` for scripts).

Exit codes: 0 success, 2 bad arguments or data (one line, no traceback), 1 unexpected failure,
130 / 143 interrupted by SIGINT / SIGTERM (the --out folder then holds the old report).
"""

import argparse
import contextlib
import json
import logging
import os
import sys
import time
import traceback

from skreid.cli._common import (
    CLIError,
    Interrupted,
    Progress,
    ReportFolder,
    handle_signals,
)
from skreid.cli._data import SIZES

__all__ = ["main"]

DEMO_PROBLEMS = ("reid", "pets")
REID_METHODS = ("pca", "classical", "triplet")
PET_METHODS = ("multitask", "finetuned")


_DESCRIPTIONS = {
    "demo": "Train and compare the re-ID and pets estimators on built-in synthetic data; print "
            "the tables and write a report folder (report.html, report.md, results.json, "
            "figures).",
    "reid": "Train and evaluate re-ID methods on Market-1501 (standard or course layout) or an "
            "image folder with one subfolder per identity, with the Market-1501 protocol.",
    "pets": "Train and evaluate breed classification + segmentation on Oxford-IIIT Pet (its "
            "official trainval/test split).",
    "fetch": "Download a dataset into the cache folder, checked by SHA-256.",
}


def plain(text):
    """Help text from a docstring paragraph: reStructuredText ``literals`` become plain."""
    return text.replace("``", "")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + error."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def _common_options(parser, out_default=None):
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable results on stdout instead of tables")
    if out_default is not None:
        parser.add_argument("--out", default=out_default, metavar="DIR",
                            help=f"report folder (default: {out_default})")


def build_parser():
    """The argparse parser of the ``skreid`` command."""
    from skreid import __version__

    parser = _Parser(prog="skreid", description=plain(__doc__.split("\n\n")[1]),
                     epilog=plain(__doc__.split("\n\n")[2]),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"skreid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    demo = sub.add_parser("demo", help="both problems on synthetic data, with a report",
                          description=_DESCRIPTIONS["demo"])
    demo.add_argument("--size", choices=sorted(SIZES), default="full",
                      help="problem size: full (~3 min on 2 CPU cores), small, tiny (tests)")
    demo.add_argument("--only", choices=DEMO_PROBLEMS, help="run one problem only")
    demo.add_argument("--weights", metavar="FILE",
                      help="MobileNetV3-Small .weights.h5 for FineTunedPetNet (default: Keras's "
                           "ImageNet weights, random initialisation when they cannot be "
                           "downloaded)")
    _common_options(demo, "skreid-report")
    demo.set_defaults(func=cmd_demo)

    reid = sub.add_parser("reid", help="re-ID on Market-1501 or an image folder",
                          description=_DESCRIPTIONS["reid"])
    reid.add_argument("--data", required=True, metavar="PATH",
                      help="Market-1501 (standard or course layout) or one subfolder per id")
    reid.add_argument("--method", choices=(*REID_METHODS, "all"), default="all")
    _backbone_options(reid, "TripletEmbedder fine-tunes it; without it a ResNet is trained "
                            "from scratch")
    reid.add_argument("--epochs", type=int, metavar="N",
                      help="training epochs of TripletEmbedder (default: its own)")
    reid.add_argument("--save", metavar="MODEL",
                      help="keep the trained model of the one --method in MODEL (skreid.save) "
                           "with its model card MODEL.card.md")
    _common_options(reid, "skreid-reid-report")
    reid.set_defaults(func=cmd_reid)

    pets = sub.add_parser("pets", help="breed classification + segmentation on Oxford-IIIT Pet",
                          description=_DESCRIPTIONS["pets"])
    pets.add_argument("--data", required=True, metavar="PATH", help="Oxford-IIIT Pet folder")
    _backbone_options(pets, "for FineTunedPetNet (default: Keras's ImageNet weights, random "
                            "initialisation when they cannot be downloaded)")
    pets.add_argument("--method", choices=(*PET_METHODS, "all"), default="all")
    pets.add_argument("--image-size", type=int, default=128, metavar="PX",
                      help="working image size in pixels (default: 128)")
    pets.add_argument("--epochs", type=int, metavar="N",
                      help="training epochs of each network (default: their own)")
    pets.add_argument("--save", metavar="MODEL",
                      help="keep the trained model of the one --method in MODEL (skreid.save) "
                           "with its model card MODEL.card.md")
    _common_options(pets, "skreid-pets-report")
    pets.set_defaults(func=cmd_pets)

    fetch = sub.add_parser("fetch", help="download a dataset",
                           description=_DESCRIPTIONS["fetch"])
    fetch.add_argument("dataset", choices=("pets",))
    fetch.add_argument("--data-home", metavar="DIR",
                       help="cache folder (default: $SKREID_DATA or ~/skreid_data)")
    _common_options(fetch)
    fetch.set_defaults(func=cmd_fetch)

    from skreid.cli._export import add_export_parser

    add_export_parser(sub, _common_options)

    from skreid.cli._search_commands import add_search_commands

    add_search_commands(sub, _common_options)
    return parser


def _backbone_options(parser, weights_use):
    """``--backbone`` and ``--weights``, their choices and help read from the registry."""
    from skreid._keras import BACKBONES, describe

    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="mobilenet_v3_small",
                        help=f"pretrained backbone ({describe(BACKBONES)}; default: "
                             f"mobilenet_v3_small)")
    parser.add_argument("--weights", metavar="FILE",
                        help=f".weights.h5 of the backbone, {weights_use} (MobileNetV3-Small: "
                             f"{BACKBONES['mobilenet_v3_small'].weights_help()})")


# ----------------------------------------------------------------------------- commands
def _check_weights(path, image_size, backbone="mobilenet_v3_small"):
    """Fail with exit 2 before any training when the weights file is missing or does not fit."""
    if path is None:
        return None
    if not os.path.isfile(path):
        raise CLIError(f"--weights {path}: no such file.")
    from skreid._keras import build_backbone

    try:
        build_backbone(backbone, (*image_size, 3), weights=path)
    except ValueError as exc:
        raise CLIError(f"--weights {path}: {str(exc).splitlines()[0]}") from None
    return os.path.abspath(path)


def _check_epochs(epochs):
    if epochs is not None and epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {epochs}.")


def _check_data_folder(path):
    if not os.path.isdir(path):
        raise CLIError(f"--data {path}: no such folder.")


def _results_header(args, command):
    from skreid import __version__
    from skreid.cli._content import settings_of, versions
    from skreid.cli._report import hardware

    return {"command": command, "argv": " ".join(["skreid", *args.argv]),
            "skreid_version": __version__, "seed": args.seed, "hardware": hardware(),
            "versions": versions(), "settings": settings_of(args), "started": time.time()}


def _run_with_report(args, command, work):
    """Create the report folder first (so an unwritable --out fails before any work), run
    ``work(results, folder)``, write report.md + results.json and move the folder into place."""
    folder = ReportFolder(args.out)
    try:
        results = _results_header(args, command)
        work(results, folder)
        results["wall_time_s"] = round(time.time() - results["started"], 1)
        results["out"] = folder.path
        from skreid.cli._report import write_report

        write_report(folder, results)
        folder.commit()
    except BaseException:
        folder.abort()
        raise
    return results


def _verbose(args):
    return 0 if args.quiet else 2  # Keras: one line per epoch


def cmd_demo(args, progress):
    from skreid.cli._data import demo_people, demo_pets
    from skreid.cli._pets import run_pets
    from skreid.cli._reid import run_reid

    spec = SIZES[args.size]
    problems = DEMO_PROBLEMS if args.only is None else (args.only,)
    weights = None
    if "pets" in problems:
        weights = _check_weights(args.weights, spec["pets"]["image_size"])

    def work(results, folder):
        results["size"] = args.size
        init = error = None
        if "pets" in problems:
            from skreid.cli._pets import resolve_backbone_weights

            pet_weights, init, error = resolve_backbone_weights(
                weights, spec["pets"]["image_size"], progress)
        if "reid" in problems:
            progress(f"re-ID: generating synthetic people ({args.size})")
            results["reid"] = run_reid(
                demo_people(args.size, args.seed), REID_METHODS, seed=args.seed,
                options=spec["options"], progress=progress, folder=folder,
                verbose=_verbose(args))
        if "pets" in problems:
            progress(f"pets: generating synthetic pets ({args.size})")
            results["pets"] = run_pets(
                demo_pets(args.size, args.seed), PET_METHODS, seed=args.seed,
                options=spec["options"], weights=pet_weights, init=init,
                weights_error=error, progress=progress, folder=folder,
                verbose=_verbose(args))

    return _run_with_report(args, "demo", work)


def cmd_reid(args, progress):
    from skreid.cli._data import load_reid_data
    from skreid.cli._reid import run_reid
    from skreid.cli._save import check_save_path

    methods = REID_METHODS if args.method == "all" else (args.method,)
    _check_data_folder(args.data)
    _check_epochs(args.epochs)
    save = check_save_path(args.save, methods, REID_METHODS)
    if "triplet" in methods and args.weights is not None:
        triplet = {"weights": _check_weights(args.weights, (128, 64), args.backbone),
                   "architecture": args.backbone}
    else:
        # no weights file: "imagenet" would need a download, so train a ResNet from scratch
        triplet = {"architecture": "resnet", "weights": None}
    if args.epochs is not None:
        triplet["epochs"] = args.epochs

    def work(results, folder):
        progress(f"re-ID: loading {args.data}")
        data = load_reid_data(args.data, args.seed)
        fitted = {}
        results["reid"] = run_reid(data, methods, seed=args.seed,
                                   options={"triplet": triplet}, fitted=fitted,
                                   progress=progress, folder=folder, verbose=_verbose(args))
        results["reid"]["data"]["path"] = os.path.abspath(args.data)
        if save is not None:
            from skreid.cli._save import reid_metadata

            _save_fitted(results, fitted, save, reid_metadata, progress)

    return _run_with_report(args, "reid", work)


def cmd_pets(args, progress):
    from skreid.cli._data import load_pets_data
    from skreid.cli._pets import run_pets

    if args.image_size < 32:
        raise CLIError(f"--image-size must be at least 32 pixels, got {args.image_size}.")
    size = (args.image_size, args.image_size)
    _check_epochs(args.epochs)
    from skreid.cli._save import check_save_path

    methods = PET_METHODS if args.method == "all" else (args.method,)
    _check_data_folder(args.data)
    weights = _check_weights(args.weights, size, args.backbone) if "finetuned" in methods \
        else None
    save = check_save_path(args.save, methods, PET_METHODS)
    options = {m: {"image_size": size} for m in PET_METHODS}
    options["finetuned"]["backbone"] = args.backbone
    if args.epochs is not None:
        for m in PET_METHODS:
            options[m]["epochs"] = args.epochs
        options["finetuned"]["head_epochs"] = max(1, args.epochs // 3)

    def work(results, folder):
        progress(f"pets: loading {args.data}")
        data = load_pets_data(args.data, size)
        init = error = None
        pet_weights = weights
        if "finetuned" in methods:
            from skreid.cli._pets import resolve_backbone_weights

            pet_weights, init, error = resolve_backbone_weights(weights, size, progress)
        fitted = {}
        results["pets"] = run_pets(data, methods, seed=args.seed, options=options,
                                   weights=pet_weights, init=init, weights_error=error,
                                   fitted=fitted, progress=progress, folder=folder,
                                   verbose=_verbose(args))
        results["pets"]["data"]["path"] = os.path.abspath(args.data)
        if save is not None:
            from skreid.cli._save import pets_metadata

            _save_fitted(results, fitted, save, pets_metadata, progress)

    return _run_with_report(args, "pets", work)


def _save_fitted(results, fitted, path, metadata_of, progress):
    """Save the run's one fitted model with its metadata; the report lists it."""
    from skreid.cli._save import save_model

    if not fitted:  # the method was skipped (an optional dependency missing)
        progress(f"nothing to save at {path}: no model was trained")
        return
    (label, estimator), = fitted.items()
    progress(f"saving {label} to {path}")
    results["saved_models"] = [save_model(estimator, path, metadata_of(results, label))]


def cmd_fetch(args, progress):
    from skreid.datasets import fetch_oxford_pets, get_data_home

    progress("fetching Oxford-IIIT Pet (two archives, ~800 MB, checked by SHA-256)")
    try:
        # the images are read once to check the download; small ones keep memory low
        pets = fetch_oxford_pets(data_home=args.data_home, image_size=(32, 32),
                                 verbose=not args.quiet)
        path = os.path.join(os.fspath(get_data_home(args.data_home)), "oxford_pets")
    except (ValueError, OSError) as exc:
        raise CLIError(f"fetch pets: {str(exc).strip().splitlines()[0]}") from None
    return {"command": "fetch", "dataset": "pets", "images": len(pets.images), "path": path}


# ------------------------------------------------------------------------------- entry
def _print_results(args, results):
    from skreid.cli._report import summary, text_tables

    if args.json:
        print(json.dumps(summary(results) if "command" in results else results, indent=2,
                         default=str))
        return
    if results.get("command") in ("index", "search"):
        from skreid.cli._search_commands import print_search_results

        return print_search_results(results)
    if results.get("command") == "export":
        print(results["message"])
        return
    if results.get("command") == "fetch":
        print(f"Oxford-IIIT Pet ready: {results['images']} images in {results['path']}")
        return
    print(text_tables(results))
    print(f"\nreport: {os.path.join(results['out'], 'report.html')} (and report.md) "
          f"({len(results['files'])} files, {results['wall_time_s']:.0f} s)")


def main(argv=None):
    """Run the ``skreid`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit
    code.

    Examples
    --------
    >>> from skreid.cli import main
    >>> main(["--version"])  # doctest: +SKIP
    skreid 0.1.0
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    try:
        args = build_parser().parse_args(argv)
    except CLIError as exc:
        print(f"skreid: error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
    # tf.function retracing notices and the like are not progress: keep stderr readable
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    progress = Progress(quiet=args.quiet)
    try:
        # everything the estimators print (Keras progress) goes to stderr: stdout is results
        # SIGTERM unwinds like Ctrl-C, so the report folder's cleanup runs (no debris)
        with contextlib.redirect_stdout(sys.stderr), handle_signals():
            results = args.func(args, progress)
    except CLIError as exc:
        print(f"skreid: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("skreid: interrupted", file=sys.stderr)
        return 130
    except Interrupted as exc:
        print(f"skreid: terminated (signal {exc.signum})", file=sys.stderr)
        return 128 + exc.signum
    except Exception as exc:
        traceback.print_exc()
        print(f"skreid: unexpected error ({type(exc).__name__}: {exc}); please report it.",
              file=sys.stderr)
        return 1
    try:
        _print_results(args, results)
    except BrokenPipeError:  # `skreid ... | head`: the reader left, the run itself succeeded
        sys.stderr.close()
    return 0


