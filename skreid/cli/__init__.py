"""The ``skreid`` command.

``skreid demo`` runs both problems end to end on the built-in synthetic data and writes a
report folder; ``skreid reid`` and ``skreid pets`` do the same on real data; ``skreid fetch pets``
downloads Oxford-IIIT Pet; ``skreid index`` embeds image files into a gallery index and
``skreid search`` finds a query's matches in it; ``skreid adapt`` adapts a model to new cameras
from unlabeled crops. Progress goes to stderr, results to stdout (``--json`` for scripts).

Exit codes: 0 success, 2 bad arguments or data (one line, no traceback), 1 unexpected failure,
130 / 143 interrupted by SIGINT / SIGTERM (the --out folder then holds the old report).
"""

import argparse
import contextlib
import json
import logging
import sys
import traceback

from skreid.cli._common import CLIError, Interrupted, Progress, handle_signals
from skreid.cli._native_log import filter_native_logs
from skreid.cli._options import plain

__all__ = ["main"]


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error (exit 2) instead of usage + error."""

    def error(self, message):
        raise CLIError(f"{message} (see '{self.prog} --help')")


def build_parser():
    """The argparse parser of the ``skreid`` command, its sub-commands read from
    :data:`skreid.cli.commands.COMMANDS`."""
    from skreid import __version__
    from skreid.cli.commands import COMMANDS

    parser = _Parser(prog="skreid", description=plain(__doc__.split("\n\n")[1]),
                     epilog=plain(__doc__.split("\n\n")[2]),
                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"skreid {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in COMMANDS.values():
        command.add_parser(sub)
    return parser


def _print_results(args, results):
    from skreid.cli.commands import COMMANDS

    if args.json:
        from skreid.cli.report import summary

        print(json.dumps(summary(results), indent=2, default=str))
        return
    COMMANDS[args.command].show(results)


def main(argv=None):
    """Run the ``skreid`` command with ``argv`` (default: ``sys.argv[1:]``); return the exit
    code.

    Examples
    --------
    >>> from skreid.cli import main
    >>> main(["--version"])
    skreid ...
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except CLIError as exc:
        return _fail(exc)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    args.argv = argv
    # tf.function retracing notices and the like are not progress: keep stderr readable
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    progress = Progress(quiet=args.quiet)
    with filter_native_logs():
        try:
            # everything the estimators print (Keras progress) goes to stderr: stdout is results
            # SIGTERM unwinds like Ctrl-C, so the report folder's cleanup runs (no debris)
            with contextlib.redirect_stdout(sys.stderr), handle_signals():
                from skreid.cli.commands import COMMANDS

                results = COMMANDS[args.command].run(args, progress)
        except KeyboardInterrupt:
            print("skreid: interrupted", file=sys.stderr)
            return 130
        except Interrupted as exc:
            print(f"skreid: terminated (signal {exc.signum})", file=sys.stderr)
            return 128 + exc.signum
        except Exception as exc:
            return _fail(exc)
    try:
        _print_results(args, results)
    except BrokenPipeError:  # `skreid ... | head`: the reader left, the run itself succeeded
        sys.stderr.close()
    return 0


def _fail(exc):
    """Exit 2 with one line for a user error (:func:`skreid.cli._errors.user_error`), else
    exit 1 with the traceback."""
    from skreid.cli._errors import user_error

    line = user_error(exc)
    if line is not None:
        one_line = line.replace("\r", " ").replace("\n", " ")
        print(f"skreid: error: {one_line}", file=sys.stderr)
        return 2
    traceback.print_exc()
    print(f"skreid: unexpected error ({type(exc).__name__}: {exc}); please report it.",
          file=sys.stderr)
    return 1
