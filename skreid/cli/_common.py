"""CLI plumbing: errors that exit 2, progress lines, text tables and the report folder that
appears whole or not at all."""

import json
import os
import shutil
import sys
import tempfile
import time

import numpy as np

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"


class CLIError(Exception):
    """Bad arguments or data: ``main`` prints the message on one line and exits with 2."""


class Progress:
    """Timestamped progress lines on stderr (silent with ``--quiet``)."""

    def __init__(self, quiet=False, stream=None):
        self.quiet = quiet
        self.stream = sys.stderr if stream is None else stream
        self.start = time.perf_counter()

    def __call__(self, message):
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"[{elapsed:6.1f}s] {message}", file=self.stream, flush=True)


def set_known_params(estimator, **params):
    """Set the parameters ``estimator`` has, ignore the others; returns the estimator.

    The demo sizes its estimators (epochs, image size) through this so a size preset can name
    parameters of several estimators at once.
    """
    known = estimator.get_params(deep=False)
    estimator.set_params(**{k: v for k, v in params.items() if k in known})
    return estimator


def jsonable(value):
    """Convert NumPy scalars and arrays (recursively) to JSON types; NaN becomes None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _cell(value, column=""):
    if value is None:
        return "-"
    if isinstance(value, float):
        # seconds with one decimal; scores (fractions in [0, 1]) with three
        return f"{value:.1f}" if column.endswith("_s") else f"{value:.3f}"
    return str(value)


def text_table(rows, columns, headers=None):
    """A fixed-width table of ``rows`` (dicts) for the terminal."""
    headers = headers or columns
    cells = [[_cell(row.get(c), c) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) if i == 0 else h.rjust(w) for i, (h, w) in
                     enumerate(zip(headers, widths, strict=True)))
    out = [line, "-" * len(line)]
    for r in cells:
        out.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in
                             enumerate(zip(r, widths, strict=True))))
    return "\n".join(out)


def markdown_table(rows, columns, headers=None):
    """The same table in GitHub Markdown."""
    headers = headers or columns
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] * len(headers)) + "|"]
    for row in rows:
        out.append("| " + " | ".join(_cell(row.get(c), c) for c in columns) + " |")
    return "\n".join(out)


class ReportFolder:
    """Write a report into a hidden temporary folder next to ``path``; ``commit`` renames it.

    Nothing is ever half-written at ``path``: on failure ``abort`` deletes the temporary folder,
    and an existing report at ``path`` is replaced only once the new one is complete. A
    non-empty folder that is not a skreid report (no ``results.json``) is refused rather than
    deleted.
    """

    def __init__(self, path):
        self.path = os.path.abspath(os.fspath(path))
        if os.path.exists(self.path):
            if not os.path.isdir(self.path):
                raise CLIError(f"--out {path}: exists and is not a folder.")
            entries = os.listdir(self.path)
            if entries and RESULTS_FILE not in entries:
                raise CLIError(
                    f"--out {path}: folder exists and is not a skreid report (no {RESULTS_FILE});"
                    " choose a new or empty folder."
                )
        parent = os.path.dirname(self.path)
        try:
            os.makedirs(parent, exist_ok=True)
            self.tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}-", dir=parent)
        except OSError as exc:
            raise CLIError(f"--out {path}: cannot write there ({exc.strerror or exc}).") from None
        self.files = []

    def file(self, name):
        """Absolute path of ``name`` inside the temporary folder (recorded for the listing)."""
        self.files.append(name)
        return os.path.join(self.tmp, name)

    def save_figure(self, fig, name):
        import matplotlib.pyplot as plt

        fig.savefig(self.file(name), dpi=90, bbox_inches="tight")
        plt.close(fig)
        return name

    def write_text(self, name, text):
        with open(self.file(name), "w", encoding="utf-8") as fh:
            fh.write(text)

    def write_json(self, name, obj):
        with open(self.file(name), "w", encoding="utf-8") as fh:
            json.dump(jsonable(obj), fh, indent=2)
            fh.write("\n")

    def commit(self):
        """Move the finished report into place (replacing an older report there)."""
        old = None
        if os.path.exists(self.path):
            old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}-old-",
                                   dir=os.path.dirname(self.path))
            os.rmdir(old)
            os.rename(self.path, old)
        os.rename(self.tmp, self.path)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)

    def abort(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def look_for(caption, hint):
    """A figure's caption: what it shows, then what to look for in it."""
    return f"{caption} Look for: {hint}"
