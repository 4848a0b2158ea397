"""The ``skreid`` command: a tiny demo writes the report, bad input exits 2 in one line."""

import json
import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from skreid.cli import main  # noqa: E402
from skreid.cli._common import MARKER_FILE, ReportFolder  # noqa: E402


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    """One tiny demo for the whole module (it trains the Keras estimators for one epoch)."""
    out = tmp_path_factory.mktemp("demo") / "report"
    mp = pytest.MonkeyPatch()
    import io
    import sys

    stdout, stderr = io.StringIO(), io.StringIO()
    mp.setattr(sys, "stdout", stdout)
    mp.setattr(sys, "stderr", stderr)
    try:
        code = main(["demo", "--size", "tiny", "--json", "--out", str(out), "--seed", "1"])
    finally:
        mp.undo()
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
