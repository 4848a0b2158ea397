"""Every Dask call is bounded by its timeout: a loopback listener that accepts connections and
never answers (the peer a firewall or a wrong service gives), malformed addresses, bad
timeouts. Before, the silent peer held embed_images(timeout=2) until it closed the socket."""

import os
import re
import socket
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("distributed")

import skreid  # noqa: E402
from skreid.cli import main  # noqa: E402
from skreid.parallel import connect, embed_images  # noqa: E402
from skreid.reid import PCAReID  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
MARGIN = 3.0  # seconds over the timeout: scheduling on a loaded 2-core machine


@pytest.fixture
def silent_peer():
    """``tcp://127.0.0.1:PORT`` of a listener that accepts every connection and never answers."""
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
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (12, 32, 16, 3), dtype=np.uint8)
    paths = []
    for i, image in enumerate(X):
        paths.append(str(root / f"{i:04d}_c1s1_{i:06d}_00.png"))
        Image.fromarray(image).save(paths[-1])
    model = PCAReID(n_components=4).fit(X, np.arange(12) % 4)
    skreid.save(model, root / "m.skreid")
    return {"paths": paths, "model": model, "model_file": str(root / "m.skreid"),
            "folder": str(root)}


def _timed(fn):
    start = time.monotonic()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - returned to be checked
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


@pytest.mark.parametrize("model", ["fitted", "file"])
def test_embed_images_against_a_silent_peer_returns_within_its_timeout(silent_peer, files,
                                                                      model):
    model = files["model"] if model == "fitted" else files["model_file"]
    exc, took = _timed(lambda: embed_images(model, files["paths"], client=silent_peer,
                                            timeout=2))
    assert isinstance(exc, ConnectionError), exc
    assert re.search(r"No Dask scheduler answered at 'tcp://127\.0\.0\.1:\d+' within 2 s",
                     str(exc))
    assert took < 2 + MARGIN, took


def test_connect_to_a_silent_peer_returns_within_its_timeout(silent_peer):
    exc, took = _timed(lambda: connect(silent_peer, timeout=2))
    assert isinstance(exc, ConnectionError) and "within 2 s" in str(exc), exc
    assert took < 2 + MARGIN, took


def test_skreid_index_against_a_silent_peer_exits_2_within_its_timeout(silent_peer, files,
                                                                       tmp_path, capsys):
    out = tmp_path / "g.idx"
    # the first import of distributed takes seconds on a loaded machine: not the call's time
    import distributed  # noqa: F401

    start = time.monotonic()
    code = main(["index", files["model_file"], files["folder"], "--out", str(out),
                 "--scheduler", silent_peer, "--scheduler-timeout", "2", "--quiet"])
    took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 2 and "No Dask scheduler answered" in err and "within 2 s" in err, err
    assert took < 2 + MARGIN + 2, took  # + loading the model and listing the folder
    assert not out.exists()


@pytest.mark.parametrize("address", ["nonsense", "tcp://127.0.0.1", "tcp://h:99999",
                                     "tcp://:8786", "", "tcp:// h:1"])
def test_a_malformed_address_is_refused_at_once(files, address):
    exc, took = _timed(lambda: embed_images(files["model"], files["paths"], client=address))
    assert isinstance(exc, ValueError) and "scheduler address" in str(exc), exc
    assert took < 1.0


@pytest.mark.parametrize("timeout", [-1, 0, float("nan"), float("inf"), "2", True])
def test_a_bad_timeout_is_refused_by_name(files, timeout):
    with pytest.raises(ValueError, match=r"timeout must be a positive number of seconds, got"):
        embed_images(files["model"], files["paths"], client="tcp://127.0.0.1:1",
                     timeout=timeout)


def test_skreid_index_with_a_malformed_address_exits_2_without_hanging_at_exit(files,
                                                                              tmp_path):
    proc = subprocess.Popen(
        [sys.executable, "-m", "skreid", "index", files["model_file"], files["folder"],
         "--out", str(tmp_path / "g.idx"), "--scheduler", "tcp://nohost", "--quiet"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stderr.readline()  # the error, once the CLI reached it
    said = time.monotonic()
    rest = proc.stderr.read()
    proc.wait(timeout=60)
    assert proc.returncode == 2
    assert line.startswith("skreid: error: --scheduler: address 'tcp://nohost'") and \
        "port" in line, line + rest
    assert "Traceback" not in rest
    assert time.monotonic() - said < 5  # it used to hang 20 s at exit
