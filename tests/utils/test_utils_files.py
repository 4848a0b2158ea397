"""skreid.utils' file writing: one writer at a time across processes, no debris, regular files."""

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from skreid.utils import (
    FileLockedError,
    atomic_write,
    lock_path,
    open_regular,
    remove_stale_temporaries,
    writer_lock,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _python(code, *args):
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_concurrent_processes_never_interleave_their_read_modify_write(tmp_path):
    counter = tmp_path / "counter"
    counter.write_text("0")
    code = """
        import sys, time
        from skreid.utils import writer_lock
        path, n = sys.argv[1], int(sys.argv[2])
        for _ in range(n):
            with writer_lock(path + ".target", timeout=60):
                value = int(open(path).read())
                time.sleep(0.001)  # widen the window a lost update needs
                open(path, "w").write(str(value + 1))
    """
    procs = [_python(code, counter, 40) for _ in range(4)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    assert counter.read_text() == "160"  # no increment lost
    assert sorted(os.listdir(tmp_path)) == ["counter"]  # no lock file left


def test_a_second_writer_waits_then_fails_by_name(tmp_path):
    target = tmp_path / "gallery.idx"
    holder = _python("""
        import sys, time
        from skreid.utils import writer_lock
        with writer_lock(sys.argv[1]):
            print("held", flush=True)
            time.sleep(30)
    """, target)
    try:
        assert holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        with pytest.raises(FileLockedError, match=r"gallery\.idx is being written by another "
                                                  r"process.*waited 0\.5 s"):
            with writer_lock(target, timeout=0.5):
                pass
        assert 0.4 < time.monotonic() - start < 5
    finally:
        holder.kill()
        holder.wait()
    with writer_lock(target, timeout=5):  # a killed holder's lock is free at once
        pass
    assert not os.path.exists(lock_path(target))


def test_writer_lock_is_reentrant_in_one_thread_and_exclusive_between_threads(tmp_path):
    target = tmp_path / "m.skreid"
    order = []
    with writer_lock(target), writer_lock(target):  # re-entered: no deadlock
        def other():
            with writer_lock(target, timeout=10):
                order.append("other")

        thread = threading.Thread(target=other)
        thread.start()
        time.sleep(0.3)
        order.append("first")  # the other thread is still waiting
    thread.join(10)
    assert order == ["first", "other"]


@pytest.mark.parametrize("timeout", [-1, float("nan"), "5", True])
def test_writer_lock_refuses_a_bad_timeout(tmp_path, timeout):
    with pytest.raises(ValueError, match="lock_timeout must be a number"), \
            writer_lock(tmp_path / "x", timeout=timeout):
        pass


def _debris_of_a_killed_writer(target):
    """Start a process that writes ``target`` through atomic_write, SIGKILL it mid-write."""
    proc = _python("""
        import sys, time
        from skreid.utils import atomic_write
        with atomic_write(sys.argv[1]) as fh:
            fh.write(b"partial")
            fh.flush()
            print("writing", flush=True)
            time.sleep(60)
    """, target)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    return [n for n in os.listdir(target.parent) if n.endswith(".tmp")]


def test_the_next_write_removes_the_debris_of_a_killed_writer(tmp_path):
    target = tmp_path / "model.skreid"
    target.write_bytes(b"old")
    debris = _debris_of_a_killed_writer(target)
    assert len(debris) == 1 and debris[0].startswith(".model.skreid.skreid-")
    assert target.read_bytes() == b"old"  # the killed write left the old file intact
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert sorted(os.listdir(tmp_path)) == ["model.skreid"]
    assert target.read_bytes() == b"new"


def test_debris_cleanup_spares_live_writers_other_targets_and_user_files(tmp_path):
    target = tmp_path / "a.idx"
    live = tmp_path / f".a.idx.skreid-{os.getpid()}-{'0' * 8}-abcdefgh.tmp"  # other host
    from skreid.utils import _files

    mine = tmp_path / f".a.idx.skreid-{os.getpid()}-{_files._HOST}-abcdefgh.tmp"  # running
    other_target = tmp_path / ".b.idx.skreid-999999999-00000000-abcdefgh.tmp"
    users = [tmp_path / ".a.idx.notes.tmp", tmp_path / "a.idx.tmp", tmp_path / ".a.idx.tmp"]
    legacy_new = tmp_path / ".a.idx.k3j5h2ab.tmp"  # an old skreid's temporary, recent
    legacy_old = tmp_path / ".a.idx.zz99aa11.tmp"  # ... and one untouched for 2 hours
    for p in [live, mine, other_target, *users, legacy_new, legacy_old]:
        p.write_bytes(b"x")
    past = time.time() - 7200
    os.utime(legacy_old, (past, past))
    removed = remove_stale_temporaries(target)
    assert removed == [str(legacy_old)]
    assert all(p.exists() for p in [live, mine, other_target, *users, legacy_new])


def test_debris_of_a_reused_pid_is_removed(tmp_path):
    """A temporary older than the process that now has its pid is debris too."""
    from skreid.utils import _files

    stale = tmp_path / f".a.idx.skreid-{os.getpid()}-{_files._HOST}-abcdefgh.tmp"
    stale.write_bytes(b"x")
    past = time.time() - 3000  # before this test process started, less than the age bound
    os.utime(stale, (past, past))
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("no /proc: a process start time cannot be read")
    assert remove_stale_temporaries(tmp_path / "a.idx") == [str(stale)]


def test_open_regular_refuses_fifos_devices_and_folders_without_blocking(tmp_path):
    fifo = tmp_path / "p.jpg"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(ValueError, match=r"p\.jpg: is a FIFO \(named pipe\), not a regular"):
        open_regular(fifo)
    assert time.monotonic() - start < 2
    with pytest.raises(ValueError, match="is a device"):
        open_regular("/dev/zero")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        open_regular(tmp_path)
    with pytest.raises(FileNotFoundError, match="nope"):
        open_regular(tmp_path / "nope")
    (tmp_path / "a.bin").write_bytes(b"data")
    os.symlink(tmp_path / "a.bin", tmp_path / "link.bin")
    with open_regular(tmp_path / "link.bin") as fh:  # a link to a regular file is fine
        assert fh.read() == b"data"
