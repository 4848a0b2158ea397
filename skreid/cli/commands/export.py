"""``skreid export MODEL --format onnx --out FILE``: a saved model to ONNX for the runtime."""

import os

from skreid.cli._common import CLIError, first_line
from skreid.cli._errors import require
from skreid.cli._options import check_output_file, common_options, int_range, non_negative_float

FORMATS = ("onnx",)
DEFAULT_ATOL = 1e-4
# the opsets tf2onnx (1.16: up to 18) converts skreid's graphs to and onnxruntime runs; a pets
# network's resize needs 11 (measured for TripletEmbedder and MultiTaskPetNet, 9 to 19)
OPSETS = (11, 18)


def add_parser(subparsers):
    export = subparsers.add_parser(
        "export", help="a saved model (skreid.save file) to ONNX, for skreid.runtime",
        description="Export a model saved with skreid.save (or `skreid reid/pets --save`) to "
                    "ONNX, checked against the model with onnxruntime before writing. Run "
                    "the file with skreid.runtime (pip install 'skreid[runtime]', no "
                    "TensorFlow).")
    export.add_argument("model", metavar="MODEL", help="a file written by skreid.save")
    export.add_argument("--format", choices=FORMATS, default="onnx",
                        help="export format (default: onnx)")
    export.add_argument("--out", required=True, metavar="FILE", help="the .onnx file to write")
    export.add_argument("--opset", type=int_range(*OPSETS), default=17,
                        help=f"ONNX opset, {OPSETS[0]} to {OPSETS[1]} (default: 17)")
    export.add_argument("--atol", type=non_negative_float, default=DEFAULT_ATOL,
                        help="largest max-abs difference to the model's outputs accepted by "
                             f"the check (default: {DEFAULT_ATOL:g})")
    export.add_argument("--force", action="store_true", help="replace an existing --out file")
    common_options(export)
    return export


def run(args, progress):
    """Load ``args.model`` with skreid.load, export it, return the summary for printing."""
    if os.path.isdir(args.model):
        raise CLIError(f"export: MODEL {args.model}: is a folder; pass a file written by "
                       "skreid.save.")
    if not os.path.isfile(args.model):
        raise CLIError(f"export: model file not found: {args.model!r}")
    if os.path.lexists(args.out) and not os.path.isdir(args.out) and not args.force:
        raise CLIError(f"export: {args.out!r} exists; pass --force to replace it")
    check_output_file("--out", args.out, replace=True, hint=" (e.g. --out model.onnx)")
    for module in ("keras", "tf2onnx", "onnx", "onnxruntime"):
        require(module, "skreid export")
    import skreid

    progress(f"loading {args.model}")
    try:
        estimator = skreid.load(args.model)
    except (ValueError, OSError) as exc:
        raise CLIError(f"export: cannot load {args.model!r}: {first_line(exc)}") from None
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    from skreid._keras import ExportVerificationError, check_exportable

    try:
        check_exportable(estimator)
        check_is_fitted(estimator)
    except TypeError as exc:
        raise CLIError(f"export: {exc}") from None
    except NotFittedError:
        raise CLIError(f"export: MODEL {args.model}: the {type(estimator).__name__} in it is "
                       "not fitted; fit it, then skreid.save it again.") from None
    progress(f"exporting {type(estimator).__name__} to ONNX (opset {args.opset}) and checking it")
    try:
        meta = skreid.export_onnx(estimator, args.out, opset=args.opset, atol=args.atol,
                                  overwrite=args.force)
    except ExportVerificationError as exc:
        text = first_line(exc)
        if args.atol < DEFAULT_ATOL:  # the user's tolerance, not the exporter, is the issue
            text = (text.split(" Report this")[0] + f" --atol {args.atol:g} is below the "
                    f"default {DEFAULT_ATOL:g}; float32 round-off alone differs by ~1e-7.")
        raise CLIError(f"export: {text}") from None
    check = meta["verification"]
    diff = max(v for k, v in check.items() if k in meta["outputs"])
    size = os.path.getsize(args.out) / 1e6
    return {"command": "export", "model": args.model, "out": args.out, "format": args.format,
            "estimator": meta["estimator"], "opset": meta["opset"], "size_mb": round(size, 3),
            "max_abs_diff": diff,
            "message": f"{meta['estimator']} -> {args.out} ({size:.1f} MB, opset "
                       f"{meta['opset']}); checked with onnxruntime on {check['n_images']} "
                       f"images: max abs difference {diff:.2g} (atol {check['atol']:g})"}


def show(results):
    print(results["message"])
