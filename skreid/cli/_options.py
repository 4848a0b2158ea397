"""Options that several commands share, and the checks of their values that run before any
work (each failure is a :class:`~skreid.cli._common.CLIError`: exit 2, one line)."""

import os

from skreid.cli._common import CLIError


def plain(text):
    """Help text from a docstring paragraph: reStructuredText ``literals`` become plain."""
    return text.replace("``", "")


def common_options(parser, out_default=None):
    """``--seed``, ``--quiet``, ``--json`` and, with ``out_default``, the report's ``--out``."""
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    parser.add_argument("--json", action="store_true",
                        help="print machine-readable results on stdout instead of tables")
    if out_default is not None:
        parser.add_argument("--out", default=out_default, metavar="DIR",
                            help=f"report folder (default: {out_default})")


def backbone_options(parser, weights_use):
    """``--backbone`` and ``--weights``, their choices and help read from the registry."""
    from skreid._keras import BACKBONES, describe

    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="mobilenet_v3_small",
                        help=f"pretrained backbone ({describe(BACKBONES)}; default: "
                             f"mobilenet_v3_small)")
    parser.add_argument("--weights", metavar="FILE",
                        help=f".weights.h5 of the backbone, {weights_use} (MobileNetV3-Small: "
                             f"{BACKBONES['mobilenet_v3_small'].weights_help()})")


def check_weights(path, image_size, backbone="mobilenet_v3_small"):
    """Fail with exit 2 before any training when the weights file is missing or does not fit;
    returns its absolute path (None without one)."""
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


def check_epochs(epochs):
    if epochs is not None and epochs < 1:
        raise CLIError(f"--epochs must be at least 1, got {epochs}.")


def check_data_folder(path):
    if not os.path.isdir(path):
        raise CLIError(f"--data {path}: no such folder.")


def verbose(args):
    """The estimators' ``verbose``: Keras's one line per epoch, none with ``--quiet``."""
    return 0 if args.quiet else 2
