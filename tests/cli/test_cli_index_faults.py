"""``skreid index`` under faults, with real processes: concurrent writers of one index, a run
killed with SIGKILL while writing, a FIFO among the images, a changed folder re-indexed."""

import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

import skreid
from skreid.cli import main
from skreid.reid import PCAReID
from skreid.search import GalleryIndex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


def _folder(path, n, seed):
    path.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(
            path / f"{seed:02d}{i:02d}_c1s1_{i:06d}_00.png")
    return path


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("faults")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 256, (40, 32, 16, 3), dtype=np.uint8)
    model = root / "m.skreid"
    skreid.save(PCAReID(n_components=6).fit(X, np.arange(40) % 8), model)
    folders = [_folder(root / f"part{k}", 12, k) for k in range(3)]
    return {"root": root, "model": str(model), "folders": [str(f) for f in folders]}


def _index(model, *args, **popen):
    return subprocess.Popen([sys.executable, "-m", "skreid", "index", model, *args],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            **popen)


def _debris(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith((".tmp", ".skreid-lock")))


def test_concurrent_index_runs_on_one_out_lose_no_entry(setup, tmp_path):
    out = str(tmp_path / "shared.idx")
    procs = [_index(setup["model"], folder, "--out", out, "--quiet")
             for folder in setup["folders"]]
    added = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=300)
        assert p.returncode == 0, stderr
        added.append(int(re.search(r"(\d+) images added", stdout).group(1)))
    index = GalleryIndex.load(out)
    assert len(index) == 36 and sorted(added) == [12, 12, 12]  # each run's report is true
    expected = sorted(os.path.join(f, n) for f in setup["folders"] for n in os.listdir(f))
    assert sorted(index.keys.tolist()) == expected
    assert _debris(tmp_path) == []


def test_a_writer_that_waits_too_long_fails_by_name_and_changes_nothing(setup, tmp_path):
    out = tmp_path / "g.idx"
    assert main(["index", setup["model"], setup["folders"][0], "--out", str(out),
                 "--quiet"]) == 0
    before = out.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from skreid.utils import writer_lock
            with writer_lock(sys.argv[1]):
                print("held", flush=True)
                time.sleep(60)
        """), str(out)], env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        run = _index(setup["model"], setup["folders"][1], "--out", str(out), "--quiet",
                     "--lock-timeout", "0.5")
        stdout, stderr = run.communicate(timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert run.returncode == 2 and stdout == ""
    assert re.search(r"skreid: error: --out .*g\.idx is being written by another process.*"
                     r"waited 0\.5 s", stderr), stderr
    assert out.read_bytes() == before


# the child slows each member it writes so that SIGKILL can land while the index is written
_SLOW_WRITER = """
import sys, time, zipfile
real = zipfile.ZipFile.writestr
def slow(self, *args, **kwargs):
    time.sleep(0.3)
    return real(self, *args, **kwargs)
zipfile.ZipFile.writestr = slow
from skreid.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_index_run_killed_while_writing_leaves_the_old_index_and_no_debris(setup, tmp_path):
    out = tmp_path / "g.idx"
    assert main(["index", setup["model"], setup["folders"][0], "--out", str(out),
                 "--quiet"]) == 0
    before = out.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SLOW_WRITER), "index", setup["model"],
         *setup["folders"], "--out", str(out), "--quiet"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the run never started writing"
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert _debris(tmp_path), "the kill was meant to land mid-write"
    assert out.read_bytes() == before  # the old index, intact
    assert len(GalleryIndex.load(out)) == 12
    assert main(["index", setup["model"], *setup["folders"], "--out", str(out),
                 "--quiet"]) == 0
    assert _debris(tmp_path) == [] and len(GalleryIndex.load(out)) == 36


def test_a_fifo_named_like_an_image_does_not_hang_index(setup, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for name in os.listdir(setup["folders"][0])[:3]:
        os.link(os.path.join(setup["folders"][0], name), folder / name)
    os.mkfifo(folder / "p.jpg")
    out = tmp_path / "g.idx"
    run = _index(setup["model"], str(folder), "--out", str(out), "--quiet")
    stdout, stderr = run.communicate(timeout=120)  # it blocked forever before
    assert run.returncode == 2
    assert re.search(r"1 image\(s\) cannot be read: .*p\.jpg", stderr), stderr
    assert not out.exists()
    assert main(["index", setup["model"], str(folder), "--out", str(out), "--quiet",
                 "--skip-unreadable"]) == 0
    assert len(GalleryIndex.load(out)) == 3


def test_reindexing_a_changed_folder_updates_and_prunes(setup, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    names = sorted(os.listdir(setup["folders"][0]))[:4]
    for name in names:
        (folder / name).write_bytes(open(os.path.join(setup["folders"][0], name), "rb").read())
    out = str(tmp_path / "g.idx")
    assert main(["index", setup["model"], str(folder), "--out", out, "--quiet"]) == 0
    first = GalleryIndex.load(out)
    other = os.path.join(setup["folders"][1], sorted(os.listdir(setup["folders"][1]))[0])
    (folder / names[0]).write_bytes(open(other, "rb").read())  # new content, same name
    os.remove(folder / names[1])
    os.utime(folder / names[2], ns=(5, 5))  # touched only
    capsys.readouterr()
    assert main(["index", setup["model"], str(folder), "--out", out, "--quiet"]) == 0
    assert ("1 updated, 0 removed, 4 in all; 1 indexed images no longer exist (--prune "
            "removes them)") in capsys.readouterr().out
    second = GalleryIndex.load(out)
    changed = str(folder / names[0])
    row = second.keys.tolist().index(changed)
    assert not np.allclose(second.embeddings[row], first.embeddings[row])
    others = [i for i in range(4) if i != row]
    np.testing.assert_array_equal(second.embeddings[others], first.embeddings[others])
    assert main(["index", setup["model"], str(folder), "--out", out, "--quiet",
                 "--prune"]) == 0
    assert "0 images added, 3 already indexed, 0 updated, 1 removed, 3 in all" in \
        capsys.readouterr().out
    assert str(folder / names[1]) not in GalleryIndex.load(out).keys.tolist()


def test_search_with_a_gallery_file_swapped_for_a_fifo_does_not_hang(setup, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    names = sorted(os.listdir(setup["folders"][0]))[:4]
    for name in names:
        os.link(os.path.join(setup["folders"][0], name), folder / name)
    out = str(tmp_path / "g.idx")
    assert main(["index", setup["model"], str(folder), "--out", out, "--quiet"]) == 0
    os.remove(folder / names[0])
    os.mkfifo(folder / names[0])
    query = os.path.join(setup["folders"][1], sorted(os.listdir(setup["folders"][1]))[0])
    run = subprocess.Popen([sys.executable, "-m", "skreid", "search", out, query, "--top", "4",
                            "--quiet", "--out", str(tmp_path / "res")],
                           env={**ENV, "XDG_CACHE_HOME": os.environ["XDG_CACHE_HOME"]},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stdout, stderr = run.communicate(timeout=120)  # the page blocked on the FIFO before
    assert run.returncode == 0, stderr
    assert f"(cannot show: {names[0]})" in (tmp_path / "res" / "index.html").read_text()
