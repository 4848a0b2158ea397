"""``skreid export MODEL --format onnx --out FILE``: a saved model to ONNX for the runtime."""

import os

from skreid.cli._common import CLIError
from skreid.cli._options import common_options

FORMATS = ("onnx",)


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
    export.add_argument("--opset", type=int, default=17, help="ONNX opset (default: 17)")
    export.add_argument("--atol", type=float, default=1e-4,
                        help="largest max-abs difference to the model's outputs accepted by "
                             "the check (default: 1e-4)")
    export.add_argument("--force", action="store_true", help="replace an existing --out file")
    common_options(export)
    return export


def run(args, progress):
    """Load ``args.model`` with skreid.load, export it, return the summary for printing."""
    if not os.path.isfile(args.model):
        raise CLIError(f"export: model file not found: {args.model!r}")
    if os.path.exists(args.out) and not args.force:
        raise CLIError(f"export: {args.out!r} exists; pass --force to replace it")
    import skreid

    progress(f"loading {args.model}")
    try:
        estimator = skreid.load(args.model)
    except (ValueError, OSError) as exc:
        raise CLIError(f"export: cannot load {args.model!r}: {str(exc).splitlines()[0]}") \
            from None
    try:
        from skreid._keras import ExportVerificationError, export_kind

        export_kind(estimator)
    except TypeError as exc:
        raise CLIError(f"export: {exc}") from None
    except ImportError as exc:
        raise CLIError(f"export: {exc}") from None
    progress(f"exporting {type(estimator).__name__} to ONNX (opset {args.opset}) and checking it")
    try:
        meta = skreid.export_onnx(estimator, args.out, opset=args.opset, atol=args.atol,
                                  overwrite=args.force)
    except (ExportVerificationError, ImportError) as exc:
        raise CLIError(f"export: {exc}") from None
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
