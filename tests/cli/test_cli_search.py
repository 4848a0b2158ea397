"""``skreid index`` / ``skreid search`` on synthetic crops written to disk by the test."""

import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

import skreid
from skreid.cli import main
from skreid.cli._common import CLIError
from skreid.cli._indexing import build_index
from skreid.cli._search import search_index
from skreid.cli.report import search_page
from skreid.reid import PCAReID
from skreid.search import GalleryIndex

HAS_SAVE = hasattr(skreid, "save") and hasattr(skreid, "load")
needs_save = pytest.mark.skipif(not HAS_SAVE, reason="skreid.save/skreid.load (#15a) not here")


def write_crops(folder, images, ids, cams, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n, (img, pid, cam) in enumerate(zip(images, ids, cams, strict=True), start=start):
        path = folder / f"{pid:04d}_c{cam}s1_{n:06d}_00.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def crops(tmp_path_factory):
    """Gallery and query folders of 6 easy identities, and a PCAReID fitted on the gallery."""
    root = tmp_path_factory.mktemp("crops")
    rng = np.random.default_rng(0)
    # easy people: each identity wears its own top and trousers colours; cameras add a little
    # brightness and every image its own noise
    colours = rng.integers(30, 226, (6, 2, 3))
    ids = np.repeat(np.arange(1, 7), 5)
    cams = np.tile([1, 2, 1, 2, 2], 6)
    images = np.empty((30, 32, 16, 3), dtype=np.uint8)
    for n, (pid, cam) in enumerate(zip(ids, cams, strict=True)):
        img = np.empty((32, 16, 3))
        img[:16], img[16:] = colours[pid - 1, 0], colours[pid - 1, 1]
        img += 8 * (cam - 1.5) + rng.normal(0, 10, img.shape)
        images[n] = np.clip(img, 0, 255)
    people = type("People", (), {"images": images, "person_ids": ids, "camera_ids": cams})
    q = np.arange(30) % 5 == 0  # one query per identity, the other four in the gallery
    g = ~q
    gallery = write_crops(root / "gallery", people.images[g], people.person_ids[g],
                          people.camera_ids[g])
    queries = write_crops(root / "query", people.images[q], people.person_ids[q],
                          people.camera_ids[q], start=1000)
    model = PCAReID(n_components=0.95).fit(people.images[g], people.person_ids[g])
    return {"root": root, "gallery": gallery, "queries": queries, "model": model,
            "query_ids": people.person_ids[q]}


def test_build_and_search_rank_the_right_identity_first(crops, tmp_path):
    out = tmp_path / "gallery.idx"
    summary = build_index(crops["model"], [str(crops["root"] / "gallery")], str(out),
                          fingerprint="model-1", progress=lambda m: None, quiet=True)
    assert summary["added"] == len(crops["gallery"]) == 24 and summary["total"] == 24
    index = GalleryIndex.load(out, model_fingerprint="model-1")
    assert sorted(index.keys) == sorted(crops["gallery"])
    assert sorted(set(index.ids)) == [1, 2, 3, 4, 5, 6] and set(index.cameras) <= {1, 2}
    results = search_index(index, crops["model"], [str(crops["root"] / "query")], top=5)
    assert [r["id"] for r in results] == crops["query_ids"].tolist()
    for r in results:
        assert r["matches"][0]["id"] == r["id"] and r["matches"][0]["same_id"] is True
        d = [m["distance"] for m in r["matches"]]
        assert d == sorted(d) and len(d) == 5
    page = search_page(results, index_path=out, gallery_roots=[str(crops["root"])])
    shown = re.findall(r'<img src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', page)
    expected = [os.path.basename(r["query"]) for r in results]
    expected += [os.path.basename(m["key"]) for r in results for m in r["matches"]]
    assert sorted(shown) == sorted(expected)  # every image shown is named, none is missing


def test_reindex_grown_folder_adds_only_new_files(crops, tmp_path):
    folder = tmp_path / "g"
    shutil.copytree(crops["root"] / "gallery", folder)
    out = str(tmp_path / "g.idx")
    kw = {"fingerprint": "m", "progress": lambda m: None, "quiet": True}
    assert build_index(crops["model"], [str(folder)], out, **kw)["added"] == 24
    before = os.path.getmtime(out)
    assert build_index(crops["model"], [str(folder)], out, **kw)["added"] == 0
    assert os.path.getmtime(out) == before  # nothing new: the file is not rewritten
    for p in crops["queries"][:2]:
        shutil.copy(p, folder)
    calls = []
    embed = crops["model"].transform

    class Counting:  # the real model, counting how many images it embeds
        input_shape_ = crops["model"].input_shape_
        metric = crops["model"].metric

        def transform(self, X):
            calls.append(len(X))
            return embed(X)

    summary = build_index(Counting(), [str(folder)], out, **kw)
    assert (summary["added"], summary["already_indexed"], summary["total"]) == (2, 24, 26)
    assert sum(calls) == 2
    # another model's index is refused, and the failed run leaves the index as it was
    data = open(out, "rb").read()
    with pytest.raises(CLIError, match="another model|with this model"):
        build_index(crops["model"], [str(folder)], out, **{**kw, "fingerprint": "other"})
    (folder / "broken.png").write_bytes(b"not an image")
    with pytest.raises(CLIError, match="cannot be read: .*broken.png"):
        build_index(crops["model"], [str(folder)], out, **kw)
    assert open(out, "rb").read() == data
    summary = build_index(crops["model"], [str(folder)], out, **kw, skip_unreadable=True)
    assert summary["added"] == 0 and summary["unreadable"][0].endswith("broken.png")


def test_search_errors(crops, tmp_path):
    out = str(tmp_path / "g.idx")
    build_index(crops["model"], crops["gallery"][:3], out, fingerprint="m",
                progress=lambda m: None, quiet=True)
    index = GalleryIndex.load(out)
    with pytest.raises(CLIError, match="--top 4: must be between 1 and the gallery size"):
        search_index(index, crops["model"], crops["queries"][:1], top=4)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG nonsense")
    with pytest.raises(CLIError, match="query image.*cannot be read: .*bad.png"):
        search_index(index, crops["model"], [str(bad)], top=1)
    # re-ranking (3 gallery items, k1 clipped by the reference's rules) still ranks id 1 first
    reranked = search_index(index, crops["model"], crops["queries"][:1], top=3, rerank=True)
    plain = search_index(index, crops["model"], crops["queries"][:1], top=3)
    assert [m["key"] for m in reranked[0]["matches"]] and reranked[0]["matches"] != plain[0][
        "matches"]
    with pytest.raises(CLIError, match="empty"):
        search_index(GalleryIndex(), crops["model"], crops["queries"][:1], top=1)
    other = PCAReID(n_components=3).fit(
        np.stack([np.asarray(Image.open(p)) for p in crops["gallery"]]),
        [int(os.path.basename(p)[:4]) for p in crops["gallery"]])
    with pytest.raises(CLIError, match="another model"):
        search_index(index, other, crops["queries"][:1], top=1)


def test_cli_errors_exit_2(crops, tmp_path, capsys):
    assert main(["search", str(tmp_path / "none.idx"), crops["queries"][0]]) == 2
    assert "no such file" in capsys.readouterr().err
    GalleryIndex().save(tmp_path / "empty.idx")
    assert main(["search", str(tmp_path / "empty.idx"), crops["queries"][0]]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["index", str(tmp_path / "none.model"), crops["gallery"][0], "--out",
                 str(tmp_path / "x.idx")]) == 2
    assert "no such file" in capsys.readouterr().err


# ------------------------------------------------------------- the commands, end to end
@pytest.fixture(scope="module")
def model_file(crops):
    if not HAS_SAVE:
        pytest.skip("skreid.save/skreid.load (#15a) not here")
    path = crops["root"] / "pca.skreid"
    skreid.save(crops["model"], path)
    return str(path)


@needs_save
def test_index_and_search_commands(crops, model_file, tmp_path, capsys):
    idx, out = str(tmp_path / "g.idx"), tmp_path / "results"
    assert main(["index", model_file, str(crops["root"] / "gallery"), "--out", idx]) == 0
    assert "24 images added" in capsys.readouterr().out
    code = main(["search", idx, *crops["queries"], "--top", "3", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    results = json.loads((out / "results.json").read_text())
    for q in results["queries"]:
        assert q["matches"][0]["id"] == q["id"]
        assert os.path.basename(q["matches"][0]["key"]) in printed
    page = (out / "index.html").read_text()
    for q in results["queries"]:
        for name in [q["query"]] + [m["key"] for m in q["matches"]]:
            assert f'alt="{os.path.basename(name)}"' in page
    assert main(["search", idx, *crops["queries"], "--top", "3", "--rerank", "--quiet",
                 "--out", str(tmp_path / "reranked")]) == 0
    reranked = json.loads((tmp_path / "reranked" / "results.json").read_text())
    assert reranked["rerank"] is True
    assert [q["matches"][0]["id"] for q in reranked["queries"]] == [q["id"] for q in
                                                                   reranked["queries"]]
    capsys.readouterr()
    # a grown folder: only the new files are embedded
    shutil.copy(crops["queries"][0], crops["root"] / "gallery" / "extra.png")
    try:
        assert main(["index", model_file, str(crops["root"] / "gallery"), "--out", idx]) == 0
        assert "1 images added, 24 already indexed" in capsys.readouterr().out
    finally:
        os.unlink(crops["root"] / "gallery" / "extra.png")
    assert main(["search", idx, crops["queries"][0], "--top", "26"]) == 2
    assert "--top 26" in capsys.readouterr().err


@pytest.mark.slow
def test_page_renders_in_headless_chromium(crops, tmp_path):
    """Open the page in a real browser and check the screenshot is not blank."""
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(chromium):
        pytest.skip("chromium is not installed")
    out = str(tmp_path / "g.idx")
    build_index(crops["model"], [str(crops["root"] / "gallery")], out, fingerprint="m",
                progress=lambda m: None, quiet=True)
    results = search_index(GalleryIndex.load(out), crops["model"], crops["queries"][:4], top=6)
    page = tmp_path / "moved" / "index.html"
    page.parent.mkdir()
    page.write_text(search_page(results, index_path=out, gallery_roots=[str(crops["root"])]))
    shot = tmp_path / "shot.png"
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1100,900", page.as_uri()],
                   check=True, capture_output=True, timeout=120)
    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert img.std() > 20  # not a blank page
    # the green frame of a correct rank-1 match is drawn (#22aa22)
    green = (abs(img[..., 0] - 0x22) < 30) & (abs(img[..., 1] - 0xAA) < 30) & (
        abs(img[..., 2] - 0x22) < 30)
    assert green.sum() > 100
    keep = os.environ.get("SKREID_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)


def test_onnx_model_indexes_and_searches(tmp_path, capsys):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    import sys

    # tests/runtime is on sys.path only when pytest collected it first: name it here
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "runtime"))
    from test_runtime import SHAPE, _embedder_file, _images

    model = _embedder_file(tmp_path / "toy.onnx")
    images = _images(8, SHAPE)
    paths = write_crops(tmp_path / "g", images, np.repeat([1, 2, 3, 4], 2), np.tile([1, 2], 4))
    idx = str(tmp_path / "g.idx")
    assert main(["index", model, str(tmp_path / "g"), "--out", idx, "--quiet"]) == 0
    assert "8 images added" in capsys.readouterr().out
    out = tmp_path / "res"
    assert main(["search", idx, paths[3], "--top", "2", "--out", str(out), "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["queries"][0]["matches"][0]["key"] == paths[3]  # finds itself first
