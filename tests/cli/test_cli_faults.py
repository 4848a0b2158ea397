"""Interrupting the CLI while it replaces a report: whatever the moment, SIGTERM or SIGINT, the
``--out`` folder holds the old report or the new complete one, and nothing else is left."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from _bad_input_data import snapshot, write_image_folder

import skreid
from skreid.cli._common import (
    MARKER_FILE,
    Interrupted,
    ReportFolder,
    handle_signals,
    read_marker,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(skreid.__file__)))


def _old_report(parent):
    folder = ReportFolder(parent / "proj")
    folder.write_json("results.json", {"run": "old"})
    folder.write_text("report.md", "# old report")
    folder.commit()
    return snapshot(parent / "proj")


def _temp_folders(parent):
    return [p for p in parent.iterdir() if p.name.startswith(".proj-")]


def _wait_for(proc, parent, point, timeout=300):
    """Poll until the run reaches ``point``; False if it ended first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        tmp = _temp_folders(parent)
        if point == "start" or (tmp and point == "temp folder"):
            return True
        if tmp:
            try:
                names = os.listdir(tmp[0])
            except FileNotFoundError:
                names = []
            if point == "figures" and len(names) >= 2:
                return True
            if point == "report.md" and "report.md" in names:
                return True
        time.sleep(0.005)
    raise AssertionError(f"the run never reached {point!r}")


def _check_outcome(parent, old, extra=("data",)):
    out = parent / "proj"
    # no debris: only the report folder and the inputs next to it
    assert sorted(p.name for p in parent.iterdir()) == sorted(["proj", *extra])
    if snapshot(out) == old:
        return "old"
    listed = read_marker(out)
    assert listed is not None, sorted(os.listdir(out))
    assert set(os.listdir(out)) == listed | {MARKER_FILE}
    results = json.loads((out / "results.json").read_text())
    assert sorted(results["files"]) == sorted(listed)
    assert (out / "report.md").read_text().startswith("# skreid")
    return "new"


def _interrupt(tmp_path, argv, point, signum):
    old = _old_report(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, "-m", "skreid.cli", *argv, "--quiet",
                             "--out", str(tmp_path / "proj")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=tmp_path)
    try:
        reached = _wait_for(proc, tmp_path, point)
        if reached:
            proc.send_signal(signum)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    outcome = _check_outcome(tmp_path, old)
    code = proc.returncode
    expected = 130 if signum == signal.SIGINT else 128 + signum
    assert code in (0, expected), err.decode()[-2000:]
    if code == 0:  # it finished before the signal: the new report is complete
        assert outcome == "new"
    elif point in ("temp folder", "figures"):  # cut during the work: the old report stays
        assert outcome == "old"
    # at "report.md" the signal may land during the swap: it is held, the new report is there
    return outcome, code


def _points(fast):
    """Kill points x signals; those not in ``fast`` are marked slow (each run is a process)."""
    out = []
    for point in ("temp folder", "figures", "report.md"):
        for signum in (signal.SIGTERM, signal.SIGINT):
            marks = () if (point, signum) in fast else (pytest.mark.slow,)
            out.append(pytest.param(point, signum, marks=marks,
                                    id=f"{point.replace(' ', '-')}-{signum.name}"))
    return out


POINTS = _points({("temp folder", signal.SIGTERM), ("figures", signal.SIGINT),
                  ("report.md", signal.SIGTERM)})


@pytest.mark.parametrize("point, signum", POINTS)
def test_interrupted_reid_run_leaves_old_or_new_report_and_no_debris(tmp_path, point, signum):
    write_image_folder(tmp_path / "data", n_ids=8, per_id=3)
    _interrupt(tmp_path, ["reid", "--data", str(tmp_path / "data"), "--method", "pca"], point,
               signum)


def test_sigterm_during_demo_cleans_up(tmp_path):
    (tmp_path / "data").mkdir()  # _check_outcome expects it
    outcome, code = _interrupt(tmp_path, ["demo", "--size", "tiny"], "temp folder",
                               signal.SIGTERM)
    assert (outcome, code) == ("old", 143)


@pytest.mark.slow
@pytest.mark.parametrize("point, signum", _points(set()))
def test_interrupted_demo_leaves_old_or_new_report(tmp_path, point, signum):
    (tmp_path / "data").mkdir()
    _interrupt(tmp_path, ["demo", "--size", "tiny"], point, signum)


def test_signal_during_the_swap_is_held_until_it_is_done(tmp_path, monkeypatch):
    """The swap's renames and the old report's removal run with SIGTERM/SIGINT deferred."""
    import skreid.cli._common as common

    old = _old_report(tmp_path)
    folder = ReportFolder(tmp_path / "proj")
    folder.write_json("results.json", {"run": "new"})
    folder.write_text("report.md", "# skreid new")
    real_remove = common._remove_report

    def remove_then_signal(path):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives mid-commit
        time.sleep(0.05)
        real_remove(path)

    monkeypatch.setattr(common, "_remove_report", remove_then_signal)
    with pytest.raises(Interrupted), handle_signals():
        try:
            folder.commit()
        except BaseException:
            folder.abort()
            raise
    assert snapshot(tmp_path / "proj") != old
    assert json.loads((tmp_path / "proj" / "results.json").read_text()) == {"run": "new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["proj"]


def test_report_folders_honour_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        folder = ReportFolder(tmp_path / "proj")
        folder.write_text("report.md", "# x")
        folder.commit()
    finally:
        os.umask(previous)
    assert (tmp_path / "proj").stat().st_mode & 0o777 == 0o755
