"""The ``skreid`` command under hostile input and faults (issue 25): what the search page reads,
thumbnails of hostile files, non-UTF-8 names, TensorFlow's log lines, user errors found before
any work, and the one table of user errors."""

import errno
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from _bad_input_cli import no_tensorflow_env
from _bad_input_data import png_bomb
from PIL import Image

import skreid
from skreid.cli import main
from skreid.reid import PCAReID
from skreid.search import GalleryIndex

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _crops(folder, n=8, seed=0, start=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for k in range(start, start + n):
        path = folder / f"{k // 2 + 1:04d}_c{k % 2 + 1}s1_{k:06d}_00.png"
        Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("trust")
    gallery = _crops(root / "gallery")
    queries = _crops(root / "query", n=2, seed=1, start=100)
    images = np.stack([np.asarray(Image.open(p)) for p in gallery])
    model = root / "pca.skreid"
    skreid.save(PCAReID(n_components=3).fit(images, np.repeat(np.arange(4), 2)), model)
    return {"root": root, "gallery": gallery, "queries": queries, "model": str(model)}


def _shown_images(page_path):
    """Base names of the images a page embeds (its <img> alt texts)."""
    page = open(page_path, encoding="utf-8").read()
    return re.findall(r'<img src="data:image/jpeg;base64,[^"]+" alt="([^"]+)"', page)


def _search(setup, index, out, *extra):
    return main(["search", str(index), setup["queries"][0], "--top", "1", "--out", str(out),
                 "--quiet", *extra])


def _crafted_index(setup, path, keys, origin=None):
    """An index 'from someone else' whose keys name files on this machine."""
    from skreid.cli._search import file_sha256

    sha = file_sha256(setup["model"])
    index = GalleryIndex("euclidean", model_fingerprint=sha)
    index.add(np.zeros((len(keys), 3), np.float32), keys=keys)
    index.meta.update(model_path=setup["model"], model_fingerprint=sha, input_shape=[32, 16, 3])
    if origin is not None:
        index.meta["origin"] = origin
    index.save(path)
    return str(path)


# ------------------------------------------------------------------ what the page reads
@pytest.mark.parametrize("origin", [None, {"roots": ["/"], "tag": "0" * 64},
                                    {"roots": "/", "tag": 1}, "garbage"],
                         ids=["no-origin", "forged-tag", "wrong-types", "not-a-record"])
def test_page_never_reads_files_named_by_a_foreign_index(setup, tmp_path, capsys, origin):
    private = tmp_path / "private"
    _crops(private, n=1, seed=7)
    secret = str(next(private.iterdir()))
    index = _crafted_index(setup, tmp_path / "foreign.idx", [secret], origin)
    assert _search(setup, index, tmp_path / "res") == 0
    shown = _shown_images(tmp_path / "res" / "index.html")
    assert shown == [os.path.basename(setup["queries"][0])]  # the query, not the private file
    page = (tmp_path / "res" / "index.html").read_text()
    assert f"(not shown: {os.path.basename(secret)})" in page


def test_page_shows_the_folders_this_user_indexed_here_only(setup, tmp_path, monkeypatch):
    idx = tmp_path / "g.idx"
    assert main(["index", setup["model"], str(setup["root"] / "gallery"), "--out", str(idx),
                 "--quiet"]) == 0
    origin = GalleryIndex.load(idx).meta["origin"]
    assert origin["roots"] == [str(setup["root"] / "gallery")] and len(origin["tag"]) == 64
    assert _search(setup, idx, tmp_path / "mine") == 0
    assert len(_shown_images(tmp_path / "mine" / "index.html")) == 2  # query and its match
    # another user (another key): same index file, no gallery image
    with monkeypatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path / "other-user"))
        assert _search(setup, idx, tmp_path / "theirs") == 0
    assert len(_shown_images(tmp_path / "theirs" / "index.html")) == 1
    # a key outside the signed folders, added to a signed index, is not read either
    index = GalleryIndex.load(idx)
    outside = _crops(tmp_path / "elsewhere", n=1, seed=3, start=50)[0]
    index.add(np.asarray(index.embeddings[:1]) + 0.0, keys=[outside])
    index.save(tmp_path / "grown.idx")
    res = tmp_path / "grown"
    assert main(["search", str(tmp_path / "grown.idx"), setup["gallery"][0], "--top", "9",
                 "--out", str(res), "--quiet"]) == 0
    shown = _shown_images(res / "index.html")
    assert os.path.basename(outside) not in shown and len(shown) == 1 + 8


def test_old_index_gets_its_images_back_by_indexing_again(setup, tmp_path, capsys):
    idx = _crafted_index(setup, tmp_path / "old.idx", setup["gallery"][:1])  # no origin
    assert main(["search", idx, setup["queries"][0], "--top", "1", "--out",
                 str(tmp_path / "a")]) == 0
    assert "shows no gallery images" in capsys.readouterr().err
    assert len(_shown_images(tmp_path / "a" / "index.html")) == 1
    assert main(["index", setup["model"], setup["gallery"][0], "--out", idx, "--quiet"]) == 0
    assert _search(setup, idx, tmp_path / "b") == 0
    assert len(_shown_images(tmp_path / "b" / "index.html")) == 2


def test_origin_key_is_private_and_made_once(tmp_path, monkeypatch):
    from skreid.cli import _origin

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert _origin.secret_key() is None  # reading never creates it
    key = _origin.secret_key(create=True)
    assert len(key) == 32 and _origin.secret_key(create=True) == key
    info = os.stat(_origin.key_path())
    assert info.st_mode & 0o777 == 0o600
    os.chmod(_origin.key_path(), 0o644)  # readable by others: no longer a secret, not used
    assert _origin.secret_key() is None


# ------------------------------------------------------------- hostile gallery files
def _swap_and_search(setup, tmp_path, write):
    gallery = tmp_path / "g"
    _crops(gallery, n=2)
    idx = tmp_path / "g.idx"
    assert main(["index", setup["model"], str(gallery), "--out", str(idx), "--quiet"]) == 0
    victim = sorted(gallery.iterdir())[0]
    victim.unlink()
    write(victim)
    return idx, victim


def test_a_huge_png_swapped_in_gives_no_thumbnail_and_no_crash(setup, tmp_path, capsys):
    idx, victim = _swap_and_search(setup, tmp_path, lambda p: p.write_bytes(png_bomb()))
    out = tmp_path / "res"
    assert main(["search", str(idx), setup["queries"][0], "--top", "2", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    page = (out / "index.html").read_text()
    assert f"(cannot show: {victim.name})" in page
    assert len(_shown_images(out / "index.html")) == 2  # the query and the other image


def test_a_large_but_real_image_is_refused_from_its_header(tmp_path):
    from skreid.cli.report import thumbnail_uri

    path = tmp_path / "wide.png"
    Image.new("1", (9000, 5000)).save(path)  # 45 megapixels, over MAX_PIXELS, a 6 kB file
    with pytest.raises(ValueError, match="9000x5000 pixels, too large to show"):
        thumbnail_uri(str(path))


def test_a_fifo_swapped_in_does_not_hang_the_page(setup, tmp_path):
    idx, victim = _swap_and_search(setup, tmp_path, lambda p: os.mkfifo(p))
    proc = subprocess.run(
        [sys.executable, "-m", "skreid.cli", "search", str(idx), setup["queries"][0], "--top",
         "2", "--out", str(tmp_path / "res"), "--quiet"], capture_output=True, text=True,
        timeout=120, env={**os.environ, "PYTHONPATH": ROOT})
    assert proc.returncode == 0, proc.stderr
    assert f"(cannot show: {victim.name})" in (tmp_path / "res" / "index.html").read_text()


# ------------------------------------------------------------------- non-UTF-8 file names
def test_non_utf8_names_are_left_out_consistently(setup, tmp_path, capsys):
    gallery = tmp_path / "g"
    _crops(gallery, n=2)
    odd = os.path.join(os.fsencode(gallery), b"caf\xe9.png")
    with open(odd, "wb") as fh:
        fh.write(open(setup["gallery"][0], "rb").read())
    idx = str(tmp_path / "g.idx")
    assert main(["index", setup["model"], str(gallery), "--out", idx]) == 2
    assert "caf\\xe9.png" in capsys.readouterr().err
    assert not os.path.exists(idx)
    assert main(["index", setup["model"], str(gallery), "--out", idx, "--skip-unreadable",
                 "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["added"] == 2 and len(summary["unreadable"]) == 1
    assert main(["search", idx, setup["queries"][0], "--top", "2", "--out",
                 str(tmp_path / "res")]) == 0


def test_a_crafted_index_with_undecodable_keys_still_prints_and_writes(setup, tmp_path, capsys):
    idx = _crafted_index(setup, tmp_path / "odd.idx", ["/nowhere/caf\udce9.png",
                                                       "/nowhere/x\ud800y.png"])
    out = tmp_path / "res"
    assert main(["search", idx, setup["queries"][0], "--top", "2", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "caf\\xe9.png" in printed and "x\\ud800y.png" in printed
    assert "caf\\xe9.png" in (out / "index.html").read_text()
    assert len(json.loads((out / "results.json").read_text())["queries"][0]["matches"]) == 2


# ------------------------------------------------------------------- before any work
def test_unwritable_index_out_is_refused_before_the_model_is_loaded(setup, capsys):
    assert main(["index", setup["model"], str(setup["root"] / "gallery"), "--out",
                 "/proc/g.idx"]) == 2
    err = capsys.readouterr().err
    assert "cannot write in /proc" in err
    assert "loading the model" not in err and "embedding" not in err


def test_backend_faiss_is_refused_on_an_exact_index_and_kept_otherwise(setup, tmp_path, capsys):
    pytest.importorskip("faiss")
    idx = str(tmp_path / "f.idx")
    assert main(["index", setup["model"], setup["gallery"][0], "--out", idx, "--backend",
                 "faiss", "--quiet"]) == 0
    # an existing index keeps its backend: no --backend extends it as faiss
    assert main(["index", setup["model"], setup["gallery"][1], "--out", idx, "--quiet"]) == 0
    assert GalleryIndex.load(idx).backend == "faiss"
    assert main(["index", setup["model"], setup["gallery"][2], "--out", idx, "--backend",
                 "exact"]) == 2
    assert "uses the faiss backend" in capsys.readouterr().err
    assert len(GalleryIndex.load(idx)) == 2


def test_weights_imagenet_is_supported_and_says_so_offline(tmp_path, capsys, monkeypatch):
    from test_cli import keras_imagenet_cached

    import skreid.cli._weights as weights_cli

    if keras_imagenet_cached():
        pytest.skip("Keras's ImageNet weights are cached here: nothing to download")
    # a proxy on a closed port: the real download code fails at once, without the internet
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.setattr(weights_cli, "IMAGENET_TIMEOUT_S", 5)
    import urllib.request

    urllib.request.install_opener(None)
    try:
        code = main(["demo", "--only", "pets", "--weights", "imagenet", "--out",
                     str(tmp_path / "r")])
    finally:
        urllib.request.install_opener(None)
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.strip().splitlines()[-1].startswith(
        "skreid: error: --weights imagenet: Keras's ImageNet weights for mobilenet_v3_small "
        "could not be downloaded (")
    assert "Downloading data from" not in err  # Keras's own half line
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------- TensorFlow's log lines
def test_tensorflow_log_lines_are_kept_off_stderr(setup, tmp_path):
    unfitted = tmp_path / "unfitted.skreid"
    from skreid.reid import TripletEmbedder

    skreid.save(TripletEmbedder(), unfitted)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = ROOT
    proc = subprocess.run([sys.executable, "-m", "skreid.cli", "export", str(unfitted), "--out",
                           str(tmp_path / "m.onnx")], capture_output=True, text=True,
                          timeout=300, env=env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    # TensorFlow was imported (it logs "I0000 ... oneDNN" and an absl notice on import)
    assert re.fullmatch(rf"\[ *[0-9.]+s\] loading {re.escape(str(unfitted))}", lines[0])
    assert lines[1:] == [f"skreid: error: export: MODEL {unfitted}: the TripletEmbedder in it is "
                     "not fitted; fit it, then skreid.save it again."], proc.stderr


def test_native_log_filter_keeps_everything_else_and_respects_the_user(tmp_path):
    script = (
        "import os, sys\n"
        "from skreid.cli._native_log import filter_native_logs\n"
        "with filter_native_logs():\n"
        "    os.write(2, b'E0000 00:00:1796615307.747627   25865 util.cc:131] oneDNN noise\\n')\n"
        "    os.write(2, b'WARNING: All log messages before absl::InitializeLog() is called "
        "are written to STDERR\\n')\n"
        "    os.write(2, b'F0000 00:00:1796615307.747627   25865 x.cc:1] fatal stays\\n')\n"
        "    print('progress stays', file=sys.stderr, flush=True)\n"
        "print('after', file=sys.stderr)\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = ROOT
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=60)
    assert run.stderr.splitlines() == [
        "F0000 00:00:1796615307.747627   25865 x.cc:1] fatal stays", "progress stays", "after"]
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # the user wants TensorFlow's lines: all pass
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         env=env, timeout=60)
    assert len(run.stderr.splitlines()) == 5


# ------------------------------------------------------------------ runtime-only install
def test_runtime_only_install_still_indexes_and_searches_a_numpy_model(setup, tmp_path):
    env = no_tensorflow_env(tmp_path / "no-tf")
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    idx = str(tmp_path / "g.idx")
    for argv in (["index", setup["model"], str(setup["root"] / "gallery"), "--out", idx],
                 ["search", idx, setup["queries"][0], "--top", "2", "--out",
                  str(tmp_path / "res")]):
        proc = subprocess.run([sys.executable, "-m", "skreid.cli", *argv, "--quiet"], env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr
    probe = subprocess.run([sys.executable, "-c", "import tensorflow"], env=env,
                           capture_output=True, text=True)
    assert "No module named 'tensorflow'" in probe.stderr  # the blocker really blocks


# -------------------------------------------------------------- the one table of user errors
@pytest.mark.parametrize("exc, expected", [
    (FileNotFoundError(errno.ENOENT, "No such file or directory", "/x/y"),
     "/x/y: No such file or directory."),
    (IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp/a", None, "/tmp/b"),
     "/tmp/a -> /tmp/b: Is a directory."),
    (OSError(errno.ENOSPC, "No space left on device", "/data/g.idx"),
     "/data/g.idx: No space left on device."),
    (ModuleNotFoundError("No module named 'faiss'", name="faiss"),
     "this command needs faiss, which is not installed: pip install 'skreid[search]'."),
    (ImportError("ONNX export needs tf2onnx and onnx: pip install 'skreid[export]'."),
     "ONNX export needs tf2onnx and onnx: pip install 'skreid[export]'."),
    (ModuleNotFoundError("No module named 'numpy.core._x'", name="numpy.core._x"), None),
    (ImportError("cannot import name 'x' from 'skreid'"), None),
    (OSError(errno.EIO, "Input/output error", "/dev/sda"), None),
    (FileNotFoundError("/x/m.skreid: no such file."), "/x/m.skreid: no such file."),
    (OSError("no file named"), None),
    (RuntimeError("a bug"), None),
    (ValueError("a bug"), None),
])
def test_user_error_table(exc, expected):
    from skreid.cli._errors import user_error

    assert user_error(exc) == expected


def test_not_fitted_and_refused_files_are_user_errors():
    from sklearn.exceptions import NotFittedError

    from skreid.cli._errors import user_error
    from skreid.search import IncompatibleIndexError
    from skreid.utils import UnsafeArchiveError

    assert user_error(NotFittedError("This PCAReID instance is not fitted yet.")).startswith(
        "the model is not fitted")
    assert user_error(UnsafeArchiveError("m.skreid: member x.npy is not listed")) == \
        "m.skreid: member x.npy is not listed"
    assert user_error(IncompatibleIndexError("made by another model")) == "made by another model"
