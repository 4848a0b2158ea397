"""Keep TensorFlow's C++ log lines off the terminal.

TensorFlow 2.21 logs through Abseil before it calls ``absl::InitializeLog()``: those lines
("WARNING: All log messages before absl::InitializeLog() ...", "I0000 ... oneDNN custom
operations are on", "E0000 ... oneDNN supports DT_INT32 only ...") go straight to file
descriptor 2 and ignore ``TF_CPP_MIN_LOG_LEVEL``. They are not errors of the run, and a line
starting with ``E0000`` reads like one. :func:`filter_native_logs` puts a pipe on descriptor 2
and copies everything through except those lines (fatal ``F`` lines are kept). It does nothing
when the user set ``TF_CPP_MIN_LOG_LEVEL`` (they chose what to see).
"""

import contextlib
import os
import re
import sys
import threading

# glog/Abseil prefix: severity, MMDD, time, thread id, file:line]  (e.g. "E0000 00:00:17...")
_NATIVE = re.compile(rb"^[IWE]\d{4} \d\d:\d\d:\d+\.\d+ +\d+ [^ \]]+:\d+\] ")
_ABSL_NOTICE = b"WARNING: All log messages before absl::InitializeLog() is called"
# TensorFlow's Python-side notice about CPU instructions it was not built with
_CPU_NOTICE = b"To enable the following instructions: "

_tty = None  # whether descriptor 2 was a terminal before the pipe replaced it


def stderr_isatty():
    """Whether stderr is a terminal (also while :func:`filter_native_logs` runs)."""
    if _tty is not None:
        return _tty
    try:
        return os.isatty(sys.stderr.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _keep(line):
    return not (_NATIVE.match(line) or line.startswith(_ABSL_NOTICE)
                or line.startswith(_CPU_NOTICE))


def _pump(read_fd, write_fd):
    pending = b""
    while True:
        try:
            chunk = os.read(read_fd, 1 << 16)
        except OSError:
            break
        if not chunk:
            break
        lines = (pending + chunk).split(b"\n")
        pending = lines.pop()
        out = b"".join(line + b"\n" for line in lines if _keep(line))
        if pending and not _NATIVE.match(pending) and b"\r" in pending:
            out, pending = out + pending, b""  # a progress bar redrawn in place: show it now
        if out:
            with contextlib.suppress(OSError):
                os.write(write_fd, out)
    if pending and _keep(pending):
        with contextlib.suppress(OSError):
            os.write(write_fd, pending)
    os.close(read_fd)


@contextlib.contextmanager
def filter_native_logs():
    """Drop TensorFlow's native log lines from stderr while the block runs (see the module
    docstring). A no-op when ``TF_CPP_MIN_LOG_LEVEL`` is set, or stderr has no descriptor."""
    global _tty
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        yield
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"  # what TensorFlow does honour
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        yield
        return
    read_fd, write_fd = os.pipe()
    _tty = os.isatty(saved)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    pump = threading.Thread(target=_pump, args=(read_fd, saved), daemon=True,
                            name="skreid-stderr-filter")
    pump.start()
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)  # closes our write end: the pump reads to the end of the pipe
        pump.join(timeout=5)
        if not pump.is_alive():  # else a child process still holds the pipe: leave it be
            os.close(saved)
        _tty = None
        os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
