"""``skreid index --camera-normalization`` / ``--camera`` and ``skreid search --camera`` on
crops written to disk, through the real command line (in-process ``main`` and a subprocess)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import skreid
from skreid.cli import main
from skreid.metrics.pairwise import CameraStatistics
from skreid.reid import PCAReID
from skreid.search import GalleryIndex


@pytest.fixture(scope="module")
def tinted(tmp_path_factory):
    """6 identities seen by 2 cameras, camera 2 strongly tinted; Market-1501 file names."""
    root = tmp_path_factory.mktemp("tinted")
    rng = np.random.default_rng(1)
    colours = rng.integers(40, 200, (6, 2, 3))
    paths = {"gallery": [], "query": []}
    images, ids, cams = [], [], []
    for pid in range(1, 7):
        for n in range(6):
            cam = 1 + n % 2
            img = np.empty((32, 16, 3))
            img[:16], img[16:] = colours[pid - 1]
            img += rng.normal(0, 12, img.shape) + (0 if cam == 1 else [50, -30, 0])
            img = np.clip(img, 0, 255).astype(np.uint8)
            split = "query" if n == 0 else "gallery"
            folder = root / split
            folder.mkdir(exist_ok=True)
            path = folder / f"{pid:04d}_c{cam}s1_{100 * pid + n:06d}_00.png"
            Image.fromarray(img).save(path)
            paths[split].append(str(path))
            images.append(img), ids.append(pid), cams.append(cam)
    model = PCAReID(n_components=0.95).fit(np.stack(images), np.array(ids))
    skreid.save(model, root / "pca.skreid")
    return {"root": root, "model": str(root / "pca.skreid"), **paths,
            "cams": np.array(cams), "images": np.stack(images), "estimator": model}


def _one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("skreid: error:"), err
    return err[0]


@pytest.mark.parametrize("mode", ["center", "whiten"])
def test_index_with_camera_normalization_saves_the_statistics(tinted, tmp_path, capsys, mode):
    idx = str(tmp_path / "g.idx")
    assert main(["index", tinted["model"], str(tinted["root"] / "gallery"), "--out", idx,
                 "--camera-normalization", mode, "--quiet"]) == 0
    index = GalleryIndex.load(idx)
    assert index.camera_normalization == mode
    assert index.camera_statistics.cameras_.tolist() == [1, 2]
    emb = tinted["estimator"].transform(np.stack([np.asarray(Image.open(p))
                                                  for p in sorted(index.keys)]))
    cams = [int(os.path.basename(p).split("_c")[1][0]) for p in sorted(index.keys)]
    want = CameraStatistics(mode).fit(emb, cams)
    order = np.argsort(index.keys)
    assert np.allclose(index.embeddings[order], emb, atol=1e-4)
    assert np.allclose(index.camera_statistics.means_, want.means_, atol=1e-4)
    out = tmp_path / "results"
    assert main(["search", idx, *tinted["query"], "--top", "3", "--out", str(out),
                 "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["camera_normalization"] == mode
    assert all(q["camera"] in (1, 2) for q in results["queries"])


def test_camera_option_replaces_the_name_camera(tinted, tmp_path, capsys):
    plain = tmp_path / "plain"
    plain.mkdir()
    for n, path in enumerate(tinted["gallery"][:6]):
        os.link(path, plain / f"crop{n}.png")  # names without identity or camera
    idx = str(tmp_path / "g.idx")
    assert main(["index", tinted["model"], str(plain), "--out", idx, "--camera", "3",
                 "--camera-normalization", "center", "--quiet"]) == 0
    index = GalleryIndex.load(idx)
    assert index.cameras.tolist() == [3] * 6 and set(index.ids) == {None}
    assert index.camera_statistics.cameras_.tolist() == [3]
    # a query camera the index never saw: global statistics, said in one line on stderr
    assert main(["search", idx, tinted["query"][0], "--camera", "7", "--top", "2",
                 "--out", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert "note: query_cameras holds camera(s) [7]" in err and "Warning" not in err
    results = json.loads((tmp_path / "r" / "results.json").read_text())
    assert results["queries"][0]["camera"] == 7


def test_camera_normalization_helps_the_tinted_cameras(tinted, tmp_path):
    """Cross-camera rank-1 of the queries (camera 1) against camera-2 gallery images."""
    hits = {}
    for mode in (None, "center"):
        idx = str(tmp_path / f"{mode}.idx")
        extra = ["--camera-normalization", mode] if mode else []
        assert main(["index", tinted["model"], str(tinted["root"] / "gallery"), "--out", idx,
                     "--quiet", *extra]) == 0
        out = tmp_path / f"r-{mode}"
        assert main(["search", idx, *tinted["query"], "--top", "20", "--out", str(out),
                     "--quiet"]) == 0
        results = json.loads((out / "results.json").read_text())
        hits[mode] = sum(next(m for m in q["matches"] if m["camera"] != q["camera"])["same_id"]
                         for q in results["queries"])
    assert hits["center"] >= hits[None]


def test_bad_camera_options_exit_2_with_one_line(tinted, tmp_path, capsys):
    idx = str(tmp_path / "g.idx")
    assert main(["index", tinted["model"], tinted["gallery"][0], "--out", idx,
                 "--camera", "-1"]) == 2
    assert "--camera must be a camera id >= 0, got -1" in _one_error_line(capsys)
    assert not os.path.exists(idx)
    assert main(["index", tinted["model"], tinted["gallery"][0], "--out", idx, "--quiet"]) == 0
    capsys.readouterr()
    assert main(["index", tinted["model"], tinted["gallery"][1], "--out", idx,
                 "--camera-normalization", "whiten", "--quiet"]) == 2
    line = _one_error_line(capsys)
    assert "--camera-normalization whiten" in line and "built with none" in line
    assert len(GalleryIndex.load(idx)) == 1  # unchanged
    assert main(["search", idx, tinted["query"][0], "--camera", "-2"]) == 2
    assert "--camera must be a camera id >= 0, got -2" in _one_error_line(capsys)
    assert main(["index", tinted["model"], tinted["gallery"][0], "--out", idx,
                 "--camera-normalization", "zca"]) == 2
    assert "invalid choice: 'zca'" in capsys.readouterr().err


def test_the_installed_command_runs_in_a_subprocess(tinted, tmp_path):
    idx = str(tmp_path / "g.idx")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(skreid.__file__)), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-m", "skreid", "index", tinted["model"],
                           str(tinted["root"] / "gallery"), "--out", idx,
                           "--camera-normalization", "center", "--json", "--quiet"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 30
    assert GalleryIndex.load(idx).camera_normalization == "center"
