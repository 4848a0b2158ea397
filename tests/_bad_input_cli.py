"""Bad input to the ``skreid`` command (issue 25, classes 4 and 5): each case exits 2 with one
``skreid: error:`` line that names what is wrong, prints nothing on stdout, writes nothing and
leaves no traceback. tests/test_bad_input.py collects :func:`test_cli_user_error_exits_2`.

The "no-tf" cases run the real command in a fresh process where ``import tensorflow`` and
``import keras`` fail (a meta-path finder on PYTHONPATH, see :func:`no_tensorflow_env`), as in
an installation of ``skreid[runtime]`` only.
"""

import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from _bad_input_data import snapshot
from PIL import Image

from skreid.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_BLOCKER = textwrap.dedent('''
    """Make TensorFlow and Keras unimportable, as in an installation of skreid[runtime] only."""
    import sys

    BLOCKED = ("tensorflow", "keras", "tf_keras", "tf2onnx")


    class _NoTensorFlow:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r}", name=name)
            return None


    sys.meta_path.insert(0, _NoTensorFlow())
''')


def no_tensorflow_env(folder):
    """Environment for a subprocess in which TensorFlow, Keras and tf2onnx cannot be
    imported: a ``sitecustomize`` that installs a meta-path finder refusing them."""
    folder = os.fspath(folder)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "sitecustomize.py"), "w") as fh:
        fh.write(_BLOCKER)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [folder, ROOT, *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def _write_crops(folder, n=8, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for k in range(n):
        Image.fromarray(rng.integers(0, 256, (32, 16, 3), dtype=np.uint8)).save(
            folder / f"{k // 2 + 1:04d}_c{k % 2 + 1}s1_{k:06d}_00.png")
    return folder


@pytest.fixture(scope="module")
def cli_models(tmp_path_factory):
    """Saved models (PCAReID, an unfitted and a fitted tiny TripletEmbedder), a gallery
    folder and an exact index of it, outside each case's folder."""
    import skreid
    from skreid.reid import PCAReID, TripletEmbedder

    root = tmp_path_factory.mktemp("cli-models")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_CACHE_HOME", str(root / "cache"))
    gallery = _write_crops(root / "gallery")
    images = np.stack([np.asarray(Image.open(p)) for p in sorted(gallery.iterdir())])
    ids = np.repeat(np.arange(4), 2)
    models = {"gallery": str(gallery), "cache": str(root / "cache")}
    models["pca"] = str(root / "pca.skreid")
    skreid.save(PCAReID(n_components=3).fit(images, ids), models["pca"])
    models["unfitted"] = str(root / "unfitted.skreid")
    skreid.save(TripletEmbedder(), models["unfitted"])
    models["triplet"] = str(root / "triplet.skreid")
    triplet = TripletEmbedder(backbone="seed", weights=None, image_size=None, epochs=1,
                              batch_size=4, images_per_identity=2, validation_fraction=0.0,
                              random_state=0).fit(images, ids)
    skreid.save(triplet, models["triplet"])
    models["index"] = str(root / "gallery.idx")
    assert main(["index", models["pca"], str(gallery), "--out", models["index"], "--quiet"]) == 0
    mp.undo()
    return models


def _argv(*args):
    def make(tmp, m):
        return [a.format(tmp=tmp, **m) for a in args]
    return make


def _with_folder(name, *args):
    def make(tmp, m):
        (tmp / name).mkdir()
        return _argv(*args)(tmp, m)
    return make


def _with_file(name, *args):
    def make(tmp, m):
        (tmp / name).write_text("keep me")
        return _argv(*args)(tmp, m)
    return make


def _non_utf8_gallery(*args):
    def make(tmp, m):
        folder = _write_crops(tmp / "g", n=2)
        with open(os.path.join(os.fsencode(folder), b"caf\xe9_0001.png"), "wb") as fh:
            fh.write((folder / "0001_c1s1_000000_00.png").read_bytes())
        return _argv(*args)(tmp, m)
    return make


def _non_utf8_query(tmp, m):
    path = os.path.join(os.fsencode(tmp), b"qu\xe9ry.png")
    with open(path, "wb") as fh:
        fh.write(open(os.path.join(m["gallery"], "0001_c1s1_000000_00.png"), "rb").read())
    return ["search", m["index"], os.fsdecode(path), "--top", "2", "--out", str(tmp / "res")]


# (id, make(tmp, models) -> argv, pattern of the one error line, how: "main" or "no-tf")
CASES = [
    # class 4: tracebacks and exit 1 before
    ("export-unfitted-model", _argv("export", "{unfitted}", "--out", "{tmp}/m.onnx"),
     r"MODEL .*unfitted\.skreid: the TripletEmbedder in it is not fitted", "main"),
    ("export-out-folder-missing", _argv("export", "{triplet}", "--out", "{tmp}/no/m.onnx"),
     r"--out .*no/m\.onnx: folder .*/no does not exist", "main"),
    ("export-opset-3", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx", "--opset", "3"),
     r"argument --opset: must be between 11 and 18, got 3", "main"),
    ("export-opset-99", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx", "--opset", "99"),
     r"argument --opset: must be between 11 and 18, got 99", "main"),
    ("export-opset-word", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx", "--opset",
                                "max"), r"argument --opset: must be an integer, got 'max'",
     "main"),
    ("export-out-is-folder", _with_folder("dir", "export", "{triplet}", "--out", "{tmp}/dir",
                                          "--force"), r"--out .*dir: is a folder", "main"),
    ("export-out-exists", _with_file("m.onnx", "export", "{triplet}", "--out", "{tmp}/m.onnx"),
     r"m\.onnx' exists; pass --force", "main"),
    ("export-model-is-folder", _with_folder("dir", "export", "{tmp}/dir", "--out",
                                            "{tmp}/m.onnx"), r"MODEL .*dir: is a folder", "main"),
    ("export-numpy-estimator", _argv("export", "{pca}", "--out", "{tmp}/m.onnx"),
     r"export_onnx exports TripletEmbedder.*got PCAReID", "main"),
    ("index-out-is-folder", _with_folder("dir", "index", "{pca}", "{gallery}", "--out",
                                         "{tmp}/dir"), r"--out .*dir: is a folder", "main"),
    ("index-out-folder-missing", _argv("index", "{pca}", "{gallery}", "--out",
                                       "{tmp}/no/g.idx"), r"--out .*folder .*/no does not exist",
     "main"),
    ("index-out-unwritable", _argv("index", "{triplet}", "{gallery}", "--out", "/proc/g.idx"),
     r"--out /proc/g\.idx: cannot write in /proc", "main"),
    ("index-out-under-a-file", _with_file("f", "index", "{pca}", "{gallery}", "--out",
                                          "{tmp}/f/g.idx"), r"--out .*f/g\.idx: folder", "main"),
    ("index-model-is-folder", _argv("index", "{gallery}", "{gallery}", "--out", "{tmp}/g.idx"),
     r"MODEL .*gallery: is a folder", "main"),
    ("index-unfitted-model", _argv("index", "{unfitted}", "{gallery}", "--out", "{tmp}/g.idx"),
     r"MODEL .*unfitted\.skreid: not a re-ID model fitted", "main"),
    ("index-images-missing", _argv("index", "{pca}", "{tmp}/none", "--out", "{tmp}/g.idx"),
     r"IMAGES: .*none: no such file or folder", "main"),
    ("index-non-utf8-name", _non_utf8_gallery("index", "{pca}", "{tmp}/g", "--out",
                                              "{tmp}/g.idx"),
     r"IMAGES: 1 path\(s\) are not valid UTF-8.*caf\\xe9_0001\.png", "main"),
    ("search-non-utf8-query", _non_utf8_query, r"QUERY_IMAGE: 1 path\(s\) are not valid UTF-8",
     "main"),
    ("search-index-is-folder", _with_folder("dir", "search", "{tmp}/dir", "{gallery}",
                                            "--top", "2", "--out", "{tmp}/res"),
     r"INDEX .*dir: is a folder",
     "main"),
    ("search-model-is-folder", _with_folder("dir", "search", "{index}", "{gallery}", "--model",
                                            "{tmp}/dir", "--top", "2", "--out", "{tmp}/res"),
     r"--model .*dir: is a folder", "main"),
    # class 5: misleading messages before
    ("export-atol-negative", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx", "--atol",
                                   "-1"), r"argument --atol: must be a finite number >= 0, got -1",
     "main"),
    ("export-atol-nan", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx", "--atol", "nan"),
     r"argument --atol: must be a finite number >= 0, got nan", "main"),
    ("index-faiss-on-exact-index", _argv("index", "{pca}", "{gallery}", "--out", "{index}",
                                         "--backend", "faiss"),
     r"--backend faiss: INDEX .*gallery\.idx uses the exact backend", "main"),
    ("index-batch-size-0", _argv("index", "{pca}", "{gallery}", "--out", "{tmp}/g.idx",
                                 "--batch-size", "0"), r"argument --batch-size: must be at least 1",
     "main"),
    ("search-top-0", _argv("search", "{index}", "{gallery}", "--top", "0", "--out",
                           "{tmp}/res"), r"argument --top: must be at least 1, got 0", "main"),
    ("reid-epochs-0", _argv("reid", "--data", "{gallery}", "--epochs", "0", "--out",
                            "{tmp}/r"), r"argument --epochs: must be at least 1, got 0", "main"),
    ("pets-image-size-8", _argv("pets", "--data", "{gallery}", "--image-size", "8", "--out",
                                "{tmp}/r"), r"argument --image-size: must be at least 32, got 8",
     "main"),
    ("weights-is-folder", _with_folder("dir", "demo", "--weights", "{tmp}/dir", "--out",
                                       "{tmp}/r"), r"--weights .*dir: is a folder", "main"),
    ("weights-missing-names-imagenet", _argv("demo", "--weights", "{tmp}/w.h5", "--out",
                                             "{tmp}/r"),
     r"--weights .*w\.h5: no such file \(pass a \.weights\.h5 file, or 'imagenet'", "main"),
    # the runtime-only installation (skreid[runtime], no TensorFlow)
    ("no-tf-demo", _argv("demo", "--size", "tiny", "--out", "{tmp}/r"),
     r"skreid demo .*needs keras, which is not installed: pip install 'skreid\[tf-cpu\]'",
     "no-tf"),
    ("no-tf-export", _argv("export", "{triplet}", "--out", "{tmp}/m.onnx"),
     r"skreid export needs keras, which is not installed: pip install 'skreid\[tf-cpu\]'",
     "no-tf"),
    ("no-tf-index-keras-model", _argv("index", "{triplet}", "{gallery}", "--out",
                                      "{tmp}/g.idx"),
     r"triplet\.skreid: .*Keras network: install Keras and TensorFlow.*skreid\[tf-cpu\]",
     "no-tf"),
    ("no-tf-reid-triplet", _argv("reid", "--data", "{gallery}", "--method", "triplet",
                                 "--out", "{tmp}/r"),
     r"TripletEmbedder .*needs keras, which is not installed: pip install 'skreid\[tf-cpu\]'",
     "no-tf"),
    ("no-tf-pets", _argv("pets", "--data", "{gallery}", "--out", "{tmp}/r"),
     r"skreid pets .*needs keras.*skreid\[tf-cpu\]", "no-tf"),
]


@pytest.mark.parametrize("case, make, pattern, how", CASES, ids=[c[0] for c in CASES])
def test_cli_user_error_exits_2(cli_models, tmp_path, monkeypatch, capsys, case, make, pattern,
                                how):
    monkeypatch.setenv("XDG_CACHE_HOME", cli_models["cache"])
    work = tmp_path / "case"
    work.mkdir()
    argv = make(work, cli_models)
    before, models_before = snapshot(work), snapshot(os.path.dirname(cli_models["pca"]))
    if how == "no-tf":
        proc = subprocess.run([sys.executable, "-m", "skreid.cli", *argv],
                              env=no_tensorflow_env(tmp_path / "no-tf"), capture_output=True,
                              text=True, timeout=300, cwd=work)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        monkeypatch.chdir(work)
        code = main(argv)
        out, err = capsys.readouterr()
    lines = [line for line in err.strip().splitlines() if not line.startswith("[")]  # progress
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("skreid: error: "), err
    assert "Traceback" not in err
    assert re.search(pattern, lines[0]), lines[0]
    assert out == ""
    assert snapshot(work) == before  # nothing written, no temporary file left
    assert snapshot(os.path.dirname(cli_models["pca"])) == models_before  # index untouched
