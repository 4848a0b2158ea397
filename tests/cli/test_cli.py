"""The ``skreid`` command: a tiny demo writes the report, bad input exits 2 in one line."""

import contextlib
import json
import os
import re
import socket
import threading
import urllib.request

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from _report_html import assert_not_blank, check_report, screenshot  # noqa: E402

from skreid.cli import main  # noqa: E402
from skreid.cli._common import MARKER_FILE, ReportFolder  # noqa: E402


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@contextlib.contextmanager
def black_hole():
    """A TCP server on 127.0.0.1 that accepts connections and never answers: a network that
    swallows packets. Yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
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
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in held:
            conn.close()
        server.close()


def keras_imagenet_cached():
    """Whether Keras already has the MobileNetV3-Small ImageNet weights (then no download)."""
    home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
    name = "weights_mobilenet_v3_small_224_0.75_float_no_top_v2.h5"
    return any(os.path.isfile(os.path.join(d, "models", name))
               for d in (home, os.path.join("/tmp", ".keras")))


IMAGENET_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One tiny demo for the whole module (it trains the Keras estimators for one epoch).

    Keras's ImageNet download goes through a proxy on 127.0.0.1 that never answers: the real
    download code meets a hanging network (no traffic leaves the machine), and the run must
    give up after the CLI's timeout and fall back to random initialisation.
    """
    out = tmp_path_factory.mktemp("demo") / "report"
    mp = pytest.MonkeyPatch()
    import io
    import sys

    import skreid.cli._weights as weights_cli

    stdout, stderr = io.StringIO(), io.StringIO()
    mp.setattr(sys, "stdout", stdout)
    mp.setattr(sys, "stderr", stderr)
    mp.setattr(weights_cli, "IMAGENET_TIMEOUT_S", IMAGENET_TIMEOUT_S)
    # urlopen keeps the first opener it builds, proxies included: drop it before and after,
    # so the proxy applies here (and nowhere else)
    urllib.request.install_opener(None)
    try:
        with black_hole() as port:
            for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
                mp.setenv(var, f"http://127.0.0.1:{port}")
            mp.delenv("no_proxy", raising=False)
            mp.delenv("NO_PROXY", raising=False)
            code = main(["demo", "--size", "tiny", "--json", "--out", str(out), "--seed", "1"])
    finally:
        mp.undo()
        urllib.request.install_opener(None)
    return code, stdout.getvalue(), stderr.getvalue(), out


def test_demo_tiny_writes_report(demo_run):
    code, out, err, folder = demo_run
    assert code == 0, err
    results = json.loads(out)  # --json: stdout is exactly one JSON document
    assert results["command"] == "demo" and results["size"] == "tiny"
    assert set(results["reid"]["methods"]) >= {"PCAReID (report baseline)"}
    for row in results["reid"]["methods"].values():
        assert 0 <= row["rank1"] <= row["rank5"] <= row["rank10"] <= 1
        assert 0 <= row["mAP"] <= 1
    files = sorted(os.listdir(folder))
    # every file is listed, plus the hidden marker that lets a later run replace the folder
    assert files == sorted([*results["files"], MARKER_FILE])
    assert {"report.md", "results.json", "reid_cmc.png", "reid_ranked_matches.png"} <= set(files)
    saved = json.loads((folder / "results.json").read_text())
    assert saved["reid"]["methods"].keys() == results["reid"]["methods"].keys()
    report = (folder / "report.md").read_text()
    assert "| method | Top-1 |" in report and "![" in report
    # every figure the report links exists
    for name, _ in saved["reid"]["figures"] + saved.get("pets", {}).get("figures", []):
        assert (folder / name).is_file()
    # progress went to stderr, with timestamps
    assert "re-ID: fitting" in err
    # no temporary folder left next to the report
    assert sorted(p.name for p in folder.parent.iterdir()) == ["report"]


def test_demo_report_html_shows_the_run(demo_run):
    code, out, err, folder = demo_run
    assert code == 0, err
    page, results = check_report(folder)
    text = " ".join(page.text)
    for title in ("Person re-identification", "Pets: breed + segmentation", "Settings",
                  "Top-N is the CMC at rank N", "pixel accuracy and pet IoU"):
        assert title in text
    assert "keras" in results["versions"] and "scikit-learn" in results["versions"]
    # the Markdown is rendered from the same content: same captions, same rounded numbers
    report_md = (folder / "report.md").read_text()
    for cell in page.cells:
        assert f" {cell['text']} |" in report_md


def test_demo_without_weights_falls_back_fast_and_says_so(demo_run):
    code, out, err, folder = demo_run
    assert code == 0, err
    row = json.loads(out)["pets"]["methods"]["FineTunedPetNet"]
    if keras_imagenet_cached():  # nothing to download: the weights were used
        assert row["init"] == "ImageNet (Keras)"
        return
    assert row["init"] == "random init: expect chance"
    # the hanging proxy was given up on after the timeout, not after minutes
    stamps = {key: float(re.search(rf"\[\s*([0-9.]+)s\] pets: {key}", err).group(1))
              for key in ("loading Keras's ImageNet", "weights='imagenet' could not")}
    waited = stamps["weights='imagenet' could not"] - stamps["loading Keras's ImageNet"]
    assert waited < IMAGENET_TIMEOUT_S + 60, err  # 60 s: building the network on a busy CPU
    assert "timed out" in err
    # one line says what happened; Keras's own "Downloading data from URL" half line is gone
    assert "Downloading data from" not in err
    assert "pets: weights='imagenet' could not be downloaded (timed out); FineTunedPetNet " \
        "starts from random weights" in err
    for name in ("report.md", "report.html"):
        assert "random init: expect chance" in (folder / name).read_text()
    # the table on the terminal says it too (--json here: the row carries it)
    from skreid.cli.report import text_tables

    assert "random init: expect chance" in text_tables(json.loads((folder / "results.json")
                                                                  .read_text()))


@pytest.mark.slow
@pytest.mark.skipif(not os.path.exists("/usr/bin/chromium"), reason="Debian's chromium is "
                    "not installed (apt-get install chromium)")
def test_demo_report_html_renders_in_chromium(demo_run, tmp_path):
    code, _, err, folder = demo_run
    assert code == 0, err
    check_report(folder)  # every <img> decodes to the PNG the run drew
    png = screenshot(folder, str(tmp_path / "report.png"))
    assert_not_blank(png)
    if os.environ.get("SKREID_SCREENSHOT"):  # keep it to look at
        import shutil

        shutil.copy(png, os.environ["SKREID_SCREENSHOT"])


def test_demo_tiny_runs_both_problems(demo_run):
    code, out, _, folder = demo_run
    results = json.loads(out)
    assert code == 0
    assert "pets" in results
    for row in results["pets"]["methods"].values():
        assert 0 <= row["accuracy"] <= 1
    assert any(name.startswith("pets_") for name in os.listdir(folder))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["demo", "--bogus"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice"),
        (["reid"], "--data"),
        (["reid", "--data", "{tmp}/missing"], "no such folder"),
        (["reid", "--data", "{tmp}", "--method", "xyz"], "invalid choice"),
        (["demo", "--size", "huge"], "invalid choice"),
        (["demo", "--seed", "abc"], "invalid int"),
        (["demo", "--weights", "{tmp}/missing.weights.h5"], "no such file"),
        (["pets", "--data", "{tmp}", "--image-size", "8"], "at least 32"),
        (["demo", "--out", "{tmp}/a_file/report"], "cannot write"),
        (["demo", "--out", "{tmp}/not_a_report"], "not a skreid report"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(tmp_path, capsys, argv, message):
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "not_a_report").mkdir()
    (tmp_path / "not_a_report" / "precious.txt").write_text("keep me")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run(capsys, *(a.format(tmp=tmp_path) for a in argv))
    assert code == 2
    lines = err.strip().splitlines()
    assert lines[-1].startswith("skreid: error:") and message in lines[-1]
    assert "Traceback" not in err
    assert out == ""
    # nothing written: no report folder, no temporary folder, the user's folder untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "not_a_report" / "precious.txt").read_text() == "keep me"


def test_reid_data_in_neither_layout_exits_2(tmp_path, capsys):
    data = tmp_path / "data"
    data.mkdir()
    (data / "notes.txt").write_text("no images here")
    code, _, err = run(capsys, "reid", "--data", str(data), "--out", str(tmp_path / "out"))
    assert code == 2
    assert "neither a Market-1501 layout" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]


def test_weights_file_that_does_not_fit_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.weights.h5"
    bad.write_bytes(b"not an hdf5 file")
    code, _, err = run(capsys, "demo", "--only", "pets", "--weights", str(bad),
                       "--out", str(tmp_path / "out"))
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("skreid: error: --weights")
    assert not (tmp_path / "out").exists()


def test_unexpected_failure_exits_1_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    import skreid.cli._reid as reid_cli

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(reid_cli, "run_reid", boom)
    code, _, err = run(capsys, "demo", "--size", "tiny", "--only", "reid", "--quiet",
                       "--out", str(tmp_path / "out"))
    assert code == 1
    assert "RuntimeError: boom" in err
    assert list(tmp_path.iterdir()) == []


def test_help_and_version(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "demo" in out and "reid" in out and "pets" in out
    assert "Exit codes" in out
    from skreid.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert {"demo", "reid", "pets", "fetch"} <= set(sub.choices)
    for command in ([], *([name] for name in sub.choices)):
        code, out, _ = run(capsys, *command, "--help")
        # plain text: no reStructuredText literals
        assert code == 0 and "``" not in out and "usage: skreid" in out
    for command in ("demo", "reid", "pets"):  # --weights says what it takes, imagenet too
        code, out, _ = run(capsys, command, "--help")
        assert "--weights FILE|imagenet" in out and "'imagenet'" in out
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("skreid ")


def test_report_folder_replaces_an_old_report_atomically(tmp_path):
    target = tmp_path / "report"
    first = ReportFolder(target)
    first.write_json("results.json", {"run": 1})
    first.commit()
    second = ReportFolder(target)
    # until commit the old report is intact
    assert json.loads((target / "results.json").read_text()) == {"run": 1}
    second.write_json("results.json", {"run": 2})
    second.write_text("report.md", "# new")
    second.commit()
    assert json.loads((target / "results.json").read_text()) == {"run": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_fetch_pets_reports_success_and_failure(tmp_path, capsys, monkeypatch):
    import numpy as np
    from sklearn.utils import Bunch

    import skreid.datasets

    def fake_fetch(data_home=None, download_if_missing=True, **kwargs):
        return Bunch(images=np.zeros((3, 4, 4, 3), np.uint8))

    monkeypatch.setattr(skreid.datasets, "fetch_oxford_pets", fake_fetch)
    code, out, _ = run(capsys, "fetch", "pets", "--data-home", str(tmp_path), "--json")
    assert code == 0
    result = json.loads(out)
    assert result["images"] == 3 and result["path"] == str(tmp_path / "oxford_pets")

    def offline(data_home=None, download_if_missing=True, **kwargs):
        raise OSError("could not reach www.robots.ox.ac.uk\nsecond line")

    monkeypatch.setattr(skreid.datasets, "fetch_oxford_pets", offline)
    code, _, err = run(capsys, "fetch", "pets", "--data-home", str(tmp_path))
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "skreid: error: fetch pets: could not reach www.robots.ox.ac.uk")
