"""CLI plumbing: errors that exit 2, progress lines, JSON values and the report folder that
appears whole or not at all."""

import contextlib
import errno
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

import numpy as np

RESULTS_FILE = "results.json"
REPORT_FILE = "report.md"


class CLIError(Exception):
    """Bad arguments or data: ``main`` prints the message on one line and exits with 2."""


def first_line(exc):
    """The first line of an exception's message (its type name when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def bad_data(what):
    """Turn a ValueError raised while ``what`` works on the user's data (the estimators' and
    loaders' way of rejecting it) into a CLIError: exit 2 with one line, wherever it is found."""
    try:
        yield
    except ValueError as exc:
        raise CLIError(f"{what}: {first_line(exc)}") from None


def utf8_path(path):
    """Whether ``path`` is valid UTF-8 (Python holds other bytes as lone surrogates)."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def shown(path):
    """``path`` as text that can always be printed and written: bytes that were not UTF-8
    (held by Python as lone surrogates) become ``\\xNN``, any other lone surrogate ``\\uNNNN``."""
    path = str(path)
    if utf8_path(path):
        return path
    try:
        return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return path.encode("utf-8", "backslashreplace").decode("utf-8")


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


#: The marker skreid writes into every report folder: its header line, then one line per file
#: the run wrote. ``--out`` replaces a folder only when this marker is there, starts with the
#: header and every entry of the folder is a plain file it lists.
MARKER_FILE = ".skreid-report"
_MARKER_HEADER = ("skreid report folder: written by the skreid command; a later run with the "
                  "same --out replaces the files listed below, and nothing else.")


class Interrupted(BaseException):
    """SIGTERM (or SIGINT) arrived: unwinds like KeyboardInterrupt so cleanups run."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


_deferring = 0
_pending = []


def _raise_for(signum):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Interrupted(signum)


def _on_signal(signum, frame):
    if _deferring:  # inside a rename/cleanup that must not be cut in half: act on it after
        _pending.append(signum)
        return
    _raise_for(signum)


@contextlib.contextmanager
def deferred_signals():
    """Hold SIGINT/SIGTERM (as handled by :func:`handle_signals`) until the block ends."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1
        if not _deferring and _pending:
            signum = _pending[0]
            _pending.clear()
            _raise_for(signum)


@contextlib.contextmanager
def handle_signals():
    """SIGTERM raises :class:`Interrupted` and SIGINT KeyboardInterrupt (both deferred inside
    :func:`deferred_signals`), so ``finally`` blocks run and no temporary folder is left
    behind. A no-op outside the main thread, where Python cannot install handlers."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _exchange(a, b):
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False if unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP):  # file system without it
        return False
    raise OSError(err, os.strerror(err), b)


def read_marker(path):
    """Files listed in the skreid marker of folder ``path``, or None if it has no valid one."""
    marker = os.path.join(path, MARKER_FILE)
    if os.path.islink(marker) or not os.path.isfile(marker) or os.path.getsize(marker) > 1 << 16:
        return None
    try:
        with open(marker, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    if not lines or lines[0] != _MARKER_HEADER:
        return None
    return {line for line in lines[1:] if line}


def foreign_entries(path):
    """Why folder ``path`` may not be replaced: ``(reason, names)``, or None when skreid wrote
    everything in it (or it is empty)."""
    entries = os.listdir(path)
    if not entries:
        return None
    listed = read_marker(path)
    if listed is None:
        return ("is not a skreid report (no valid skreid marker file)", sorted(entries))
    foreign = sorted(
        name for name in entries if name != MARKER_FILE and (
            name not in listed or os.path.islink(os.path.join(path, name))
            or not os.path.isfile(os.path.join(path, name)))
    )
    return ("holds files skreid did not write", foreign) if foreign else None


def _refusal(shown, path, why):
    reason, names = why
    listed = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (f"--out {shown}: folder exists and {reason} ({listed}); skreid replaces only a "
            f"folder it wrote: choose a new or empty folder, or move those files away.")


class ReportFolder:
    """Write a report into a hidden temporary folder next to ``path``; ``commit`` moves it there.

    Nothing is ever half-written at ``path``, and nothing skreid did not write is deleted:

    * an existing folder at ``path`` is replaced only if it is empty or a report skreid wrote
      (its marker file :data:`MARKER_FILE` lists every entry in it); otherwise CLIError
      (exit 2) before any work;
    * ``commit`` swaps the finished report in with one ``renameat2(RENAME_EXCHANGE)`` on Linux
      (elsewhere two renames, a window of two system calls in which ``path`` is missing), then
      deletes the old report's listed files; SIGINT/SIGTERM are held while it runs;
    * ``abort`` (any failure, SIGINT, SIGTERM) deletes the temporary folder.

    Folders are created with the permissions the umask allows (not ``mkdtemp``'s 0700).
    """

    def __init__(self, path):
        self.shown = os.fspath(path)
        self.path = os.path.abspath(self.shown)
        self.files = []
        self.tmp = None
        if os.path.lexists(self.path):
            if os.path.islink(self.path) or not os.path.isdir(self.path):
                raise CLIError(f"--out {path}: exists and is not a folder.")
            why = foreign_entries(self.path)
            if why is not None:
                raise CLIError(_refusal(self.shown, self.path, why))
        parent = os.path.dirname(self.path)
        try:
            with deferred_signals():
                os.makedirs(parent, exist_ok=True)
                self.tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}-", dir=parent)
                os.chmod(self.tmp, 0o777 & ~_umask())
        except OSError as exc:
            raise CLIError(f"--out {path}: cannot write there ({exc.strerror or exc}).") from None

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
        """Move the finished report into place (replacing an older skreid report there)."""
        names = sorted(set(os.listdir(self.tmp)))
        with open(os.path.join(self.tmp, MARKER_FILE), "w", encoding="utf-8") as fh:
            fh.write("\n".join([_MARKER_HEADER, *names]) + "\n")
        with deferred_signals():
            old = None
            if os.path.lexists(self.path):
                # checked again: the folder may have changed during a long run
                why = (("is not a folder", [os.path.basename(self.path)])
                       if os.path.islink(self.path) or not os.path.isdir(self.path)
                       else foreign_entries(self.path))
                if why is not None:
                    tmp, self.tmp = self.tmp, None  # keep the new report: nothing is lost
                    raise CLIError(_refusal(self.shown, self.path, why)
                                   + f" The new report was left in {tmp}.")
                if _exchange(self.tmp, self.path):
                    old = self.tmp
                else:
                    old = tempfile.mkdtemp(prefix=f".{os.path.basename(self.path)}-old-",
                                           dir=os.path.dirname(self.path))
                    os.rmdir(old)
                    os.rename(self.path, old)
                    os.rename(self.tmp, self.path)
            else:
                os.rename(self.tmp, self.path)
            self.tmp = None
            if old is not None:
                _remove_report(old)

    def abort(self):
        """Delete the temporary folder (nothing at ``path`` changes)."""
        with deferred_signals():
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
                self.tmp = None


def _remove_report(folder):
    """Delete an old report: the files its marker lists, then the folder if that emptied it."""
    listed = read_marker(folder) or set()
    for name in sorted(listed | {MARKER_FILE}):
        path = os.path.join(folder, name)
        if os.path.isfile(path) and not os.path.islink(path):
            os.remove(path)
    with contextlib.suppress(OSError):  # something else appeared in it: leave it be
        os.rmdir(folder)


def look_for(caption, hint):
    """A figure's caption: what it shows, then what to look for in it."""
    return f"{caption} Look for: {hint}"
