"""Writing files safely: atomic replacement, one writer at a time, no debris, regular files only.

- :func:`atomic_write` writes to a hidden temporary file beside the target,
  ``.NAME.skreid-PID-HOST-XXXXXXXX.tmp``, and renames it over the target only once complete:
  a reader sees the previous file or the new one, never half of one. The temporary name
  records the writer's process id and host, so that a later write of the same target removes
  the debris of a writer that was killed (:func:`remove_stale_temporaries`): only files of
  exactly that pattern for that target, whose writer is no longer running on this host or
  that are older than :data:`STALE_AFTER_S`; never a file of another name.
- :func:`writer_lock` serialises the writers of one path across processes (a ``flock``-ed
  hidden file ``.NAME.skreid-lock`` beside it while a writer holds it, through the
  ``filelock`` package): a second writer waits, at most ``timeout`` seconds, then fails with
  :class:`FileLockedError`. It is re-entrant within one thread, so a read-modify-write can
  hold it around a save that takes it again. Readers never lock: the atomic rename is what
  protects them.
- :func:`open_regular` opens only regular files, without blocking on a FIFO or a device.
"""

import contextlib
import hashlib
import os
import re
import socket
import stat
import tempfile
import threading
import time

__all__ = [
    "FileLockedError",
    "atomic_write",
    "lock_path",
    "open_regular",
    "remove_stale_temporaries",
    "writer_lock",
    "DEFAULT_LOCK_TIMEOUT",
    "STALE_AFTER_S",
]

#: seconds a writer waits for another writer of the same file before giving up
DEFAULT_LOCK_TIMEOUT = 120.0
#: a temporary file of skreid's pattern untouched this long is debris whoever wrote it
STALE_AFTER_S = 3600.0
# names longer than this are hashed in temporary and lock names (a file name has 255 bytes)
_MAX_TAG = 150
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_HELD = threading.local()


class FileLockedError(TimeoutError):
    """Another process kept writing a file for longer than the caller would wait."""


def _tag(path):
    """The target's name as used in its temporary and lock names (hashed when very long)."""
    base = os.path.basename(os.fspath(path))
    return base if len(base) <= _MAX_TAG else hashlib.sha256(base.encode()).hexdigest()[:32]


def lock_path(path):
    """The hidden lock file of ``path``: ``.NAME.skreid-lock`` in the same folder."""
    path = os.path.abspath(os.fspath(path))
    return os.path.join(os.path.dirname(path), f".{_tag(path)}.skreid-lock")


def _temp_pattern(path):
    return re.compile(rf"\.{re.escape(_tag(path))}\.skreid-(\d+)-([0-9a-f]{{8}})-[a-z0-9_]{{8}}"
                      r"\.tmp")


# the debris of skreid versions before the pattern above recorded its writer
def _legacy_pattern(path):
    return re.compile(rf"\.{re.escape(os.path.basename(os.fspath(path)))}\.[a-z0-9_]{{8}}\.tmp")


def _process_alive(pid, since):
    """Whether process ``pid`` of this host runs and could have written a file at ``since``."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists (another user's)
    except OverflowError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        with open("/proc/stat", "rb") as fh:
            boot = next(int(line.split()[1]) for line in fh if line.startswith(b"btime"))
    except (OSError, StopIteration, IndexError, ValueError):
        return True  # no /proc (macOS): trust kill(0)
    if fields[0] in (b"Z", b"X"):  # killed, not yet reaped by its parent
        return False
    started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    return started <= since + 2  # a later process that got the same pid is not the writer


def remove_stale_temporaries(path, *, stale_after=STALE_AFTER_S):
    """Remove the temporary files that killed writers of ``path`` left beside it.

    Only names of skreid's temporary pattern for this target are considered: those whose
    writer (recorded in the name) no longer runs on this host, and any untouched for
    ``stale_after`` seconds. Returns the paths removed.
    """
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    own, legacy = _temp_pattern(path), _legacy_pattern(path)
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    removed = []
    now = time.time()
    for name in names:
        match = own.fullmatch(name)
        if match is None and legacy.fullmatch(name) is None:
            continue
        full = os.path.join(folder, name)
        try:
            info = os.lstat(full)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode):
            continue
        old = now - info.st_mtime > stale_after
        dead = (match is not None and match.group(2) == _HOST
                and not _process_alive(int(match.group(1)), info.st_mtime))
        if old or dead:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)
                removed.append(full)
    return removed


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file is removed on any exception (KeyboardInterrupt included), so ``path``
    holds either its previous content or the complete new one, never a partial write. The
    debris of earlier writers of ``path`` that were killed is removed first
    (:func:`remove_stale_temporaries`).
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{_tag(path)}.skreid-{os.getpid()}-{_HOST}-",
                               suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; give it the permissions a plain open() would (umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _check_timeout(timeout):
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout != timeout \
            or timeout < 0:
        raise ValueError(f"lock_timeout must be a number of seconds >= 0, got {timeout!r}.")
    return float(timeout)


@contextlib.contextmanager
def writer_lock(path, timeout=DEFAULT_LOCK_TIMEOUT):
    """Hold the writer lock of ``path`` (other processes' writers of it wait).

    Parameters
    ----------
    path : str or path-like
        The file about to be written; its folder must exist.
    timeout : float, default=120
        Seconds to wait for another writer; then :class:`FileLockedError` names the file.
    """
    from filelock import FileLock, Timeout

    timeout = _check_timeout(timeout)
    lock_file = lock_path(path)
    held = getattr(_HELD, "paths", None)
    if held is None:
        held = _HELD.paths = {}
    if held.get(lock_file):  # re-entered by the same thread: it already holds the lock
        held[lock_file] += 1
        try:
            yield lock_file
        finally:
            held[lock_file] -= 1
        return
    lock = FileLock(lock_file, timeout=timeout)
    try:
        lock.acquire()
    except Timeout:
        raise FileLockedError(
            f"{os.fspath(path)} is being written by another process (it holds {lock_file}); "
            f"waited {timeout:g} s. Try again once that process has finished. Nothing was "
            "written."
        ) from None
    held[lock_file] = 1
    try:
        yield lock_file
    finally:
        held.pop(lock_file, None)
        # removed while still held, so that no empty lock file is left beside the target: a
        # waiter that opened it finds its lock on an unlinked file and opens a new one
        # (filelock checks the link count after flock), so two writers never both hold it
        with contextlib.suppress(OSError):
            os.unlink(lock_file)
        lock.release()


def open_regular(path, what="file"):
    """Open ``path`` for reading in binary mode, only if it is a regular file.

    A FIFO, socket or device named like a data file would block a plain ``open`` forever
    (a FIFO without a writer) or stream without end (``/dev/zero``); this opens without
    blocking and refuses anything but a regular file (after following symbolic links).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    IsADirectoryError
        ``path`` is a folder.
    ValueError
        ``path`` is a FIFO, socket or device; the message names it.
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such {what}.") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path}: is a folder, not a {what}.") from None
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(f"{path}: is a folder, not a {what}.")
        if not stat.S_ISREG(mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else
                    "a socket" if stat.S_ISSOCK(mode) else "a device")
            raise ValueError(f"{path}: is {kind}, not a regular {what}; refusing to read it.")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
