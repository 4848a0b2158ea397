"""Bad input, table-driven, for files, archives, locks and Dask waits (issue 25, classes 1 and
2, and re-indexing): the cases of tests/_bad_input_files.py, each checked like those of
tests/test_bad_input.py (the error type, a message naming what is wrong, nothing written or
lost, and exit 2 with one line for the CLI), and each bounded in time: a case that hangs
fails after a minute instead of stalling the suite."""

import re
import socket
import threading

import numpy as np
import pytest
from _bad_input_data import snapshot
from _bad_input_files import FILE_CASES, FILE_CLI_CASES
from PIL import Image

import skreid
from skreid.cli import main
from skreid.reid import PCAReID
from skreid.search import IncompatibleIndexError
from skreid.utils import FileLockedError, UnsafeArchiveError

ERRORS = {cls.__name__: cls for cls in (
    FileExistsError, IsADirectoryError, TypeError, ValueError, KeyError, ConnectionError,
    UnsafeArchiveError, FileLockedError, IncompatibleIndexError)}
LIMIT_S = 60


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    """A saved model, a folder of its images, and a listener that accepts and never answers."""
    root = tmp_path_factory.mktemp("ctx")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (24, 32, 16, 3), dtype=np.uint8)
    skreid.save(PCAReID(n_components=5).fit(X, np.arange(24) % 6), root / "m.skreid")
    images = root / "images"
    images.mkdir()
    for i in range(6):
        Image.fromarray(X[i]).save(images / f"{i:04d}_c1s1_{i:06d}_00.png")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held, stop = [], threading.Event()

    def accept():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield {"model": root / "m.skreid", "images": images,
           "silent_peer": f"tcp://127.0.0.1:{server.getsockname()[1]}"}
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


def _bounded(action):
    """Run ``action`` in a daemon thread; ``(returned, raised)``; fails if it outlives LIMIT_S."""
    out = {}

    def run():
        try:
            out["returned"] = action()
        except BaseException as exc:  # noqa: BLE001 - checked by the caller
            out["raised"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(LIMIT_S)
    assert not thread.is_alive(), f"still running after {LIMIT_S} s: it hangs"
    return out.get("returned"), out.get("raised")


@pytest.fixture
def cleanup(ctx):
    ctx["cleanup"] = []
    yield
    for proc in ctx.pop("cleanup"):
        proc.kill()
        proc.wait()


@pytest.mark.parametrize("case, make, error, pattern", FILE_CASES,
                         ids=[c[0] for c in FILE_CASES])
def test_bad_files_raise_a_named_error_and_lose_nothing(tmp_path, ctx, cleanup, case, make,
                                                        error, pattern):
    action = make(tmp_path, ctx)
    before = snapshot(tmp_path)
    returned, raised = _bounded(action)
    assert isinstance(raised, ERRORS[error]), (returned, raised)
    assert re.search(pattern, str(raised), re.S), str(raised)
    assert snapshot(tmp_path) == before  # nothing written, replaced or left behind


@pytest.mark.parametrize("case, make, pattern", FILE_CLI_CASES,
                         ids=[c[0] for c in FILE_CLI_CASES])
def test_cli_bad_files_exit_2_with_one_line_and_lose_nothing(tmp_path, ctx, cleanup, capsys,
                                                             case, make, pattern):
    argv = make(tmp_path, ctx)
    before = snapshot(tmp_path)
    code, raised = _bounded(lambda: main(argv))
    out, err = capsys.readouterr()
    assert raised is None, raised
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("skreid: error:"), err
    assert re.search(pattern, lines[0]), lines[0]
    assert out == ""
    assert snapshot(tmp_path) == before


def test_bad_file_case_count():
    """The size of these tables (reported in the closing note of issue 25)."""
    assert len(FILE_CASES) + len(FILE_CLI_CASES) >= 80
