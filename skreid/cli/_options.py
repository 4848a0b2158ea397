"""Options that several commands share, and the checks of their values that run before any
work (each failure is a :class:`~skreid.cli._common.CLIError`: exit 2, one line)."""

import argparse
import math
import os
import tempfile

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


#: what ``--weights`` accepts, on every command that has it
WEIGHTS_HELP = ("the backbone's weights: a local .weights.h5 file of the Keras application "
                "(e.g. the shared mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5 "
                "for MobileNetV3-Small), or 'imagenet' for Keras's download (needs the "
                "internet once, then cached in ~/.keras/models)")


def int_range(low, high=None):
    """An argparse ``type``: an int in ``[low, high]`` (argparse then exits 2 with one line)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            accepted = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {accepted}, got {value}")
        return value

    parse.__name__ = "int"
    return parse


def non_negative_float(text):
    """An argparse ``type``: a finite float >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def check_output_file(option, path, *, replace=False, hint=""):
    """Fail before any work unless ``path`` can be written: not a folder, its folder exists and
    takes a new file (tried, not guessed from permission bits), and an existing file only
    with ``replace``. Returns the absolute path."""
    target = os.path.abspath(os.fspath(path))
    if os.path.isdir(target):
        raise CLIError(f"{option} {path}: is a folder; name the file to write"
                       f"{hint or ''}.")
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise CLIError(f"{option} {path}: folder {folder} does not exist; create it first.")
    if os.path.lexists(target) and not replace:
        raise CLIError(f"{option} {path}: exists; skreid never overwrites a file.")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CLIError(f"{option} {path}: cannot write in {folder} "
                       f"({exc.strerror or exc}).") from None
    return target


def backbone_options(parser, weights_use):
    """``--backbone`` and ``--weights``, their choices and help read from the registry."""
    from skreid._keras import BACKBONES, describe

    parser.add_argument("--backbone", choices=sorted(BACKBONES), default="mobilenet_v3_small",
                        help=f"pretrained backbone ({describe(BACKBONES)}; default: "
                             f"mobilenet_v3_small)")
    parser.add_argument("--weights", metavar="FILE|imagenet", help=f"{WEIGHTS_HELP}; "
                        f"{weights_use}")


def check_weights(path, image_size, backbone="mobilenet_v3_small"):
    """Fail with exit 2 before any training when ``--weights`` cannot be used: a file that is
    missing or does not fit the network, or ``imagenet`` when Keras cannot download them.
    Returns the value to pass on (an absolute path, "imagenet", or None without one)."""
    if path is None:
        return None
    from skreid.cli._errors import require

    require("keras", f"--weights {path}")
    if path == "imagenet":
        from skreid.cli._weights import fetch_imagenet

        why = fetch_imagenet(backbone, image_size)
        if why is not None:
            raise CLIError(f"--weights imagenet: Keras's ImageNet weights for {backbone} could "
                           f"not be downloaded ({why}); this machine may be offline: pass a "
                           f"local .weights.h5 file instead.")
        return path
    if os.path.isdir(path):
        raise CLIError(f"--weights {path}: is a folder; pass a .weights.h5 file.")
    if not os.path.isfile(path):
        raise CLIError(f"--weights {path}: no such file (pass a .weights.h5 file, or "
                       f"'imagenet' for Keras's download).")
    from skreid._keras import build_backbone

    try:
        build_backbone(backbone, (*image_size, 3), weights=path)
    except ValueError as exc:
        raise CLIError(f"--weights {path}: {str(exc).splitlines()[0]}") from None
    return os.path.abspath(path)


def check_data_folder(path):
    if not os.path.isdir(path):
        raise CLIError(f"--data {path}: no such folder.")


def verbose(args):
    """The estimators' ``verbose``: Keras's one line per epoch, none with ``--quiet``."""
    return 0 if args.quiet else 2
