"""skreid.save / skreid.load: round trips in a fresh process, refused files, atomic writes,
metadata and the model card. (The Keras estimators: tests/saving/test_saving_keras.py.)"""

import json
import os
import pickle
import subprocess
import sys
import zipfile

import numpy as np
import pytest
from sklearn.base import BaseEstimator, clone
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import skreid
from skreid.datasets import make_people
from skreid.preprocessing import FlattenImages, Grayscale, ResizeImages
from skreid.reid import PCAReID, make_classical_reid
from skreid.saving import UnsupportedEstimatorError, read_metadata
from skreid.utils import UnsafeArchiveError, write_archive

# Loads every file named in a JSON list and compares each output with the saved expectation;
# reports which heavy modules were imported after the non-Keras files and after
# read_metadata, so one subprocess checks everything (a Python start costs seconds here).
CHECK_SCRIPT = r"""
import json, sys
import numpy as np
import skreid
from skreid.saving import read_metadata

cases = json.load(open(sys.argv[1]))
report = {}
for case in cases:
    if case.get("keras") and "tf_after_classical" not in report:
        report["tf_after_classical"] = "tensorflow" in sys.modules or "keras" in sys.modules
        for c in cases:
            read_metadata(c["path"])
        report["tf_after_read_metadata"] = "tensorflow" in sys.modules
    est = skreid.load(case["path"])
    expected = np.load(case["expected"], allow_pickle=False)
    X = np.load(case["inputs"], allow_pickle=False)
    results = {}
    for method in case["methods"]:
        out = getattr(est, method)(X)
        if isinstance(out, tuple):
            out = np.concatenate([np.asarray(o, np.float64) for o in out], axis=1)
        ref = expected[method]
        results[method] = bool(out.shape == ref.shape and out.dtype == ref.dtype
                               and np.array_equal(out, ref))
    report[case["name"]] = results
report.setdefault("tf_after_classical", "tensorflow" in sys.modules or "keras" in sys.modules)
print("REPORT" + json.dumps(report))
"""


def run_in_fresh_process(cases, tmp_path):
    """Save each case's outputs, load every file in ONE new Python process, compare there."""
    spec = []
    for case in cases:
        name = case["name"]
        expected = {}
        for method in case["methods"]:
            out = getattr(case["estimator"], method)(case["X"])
            if isinstance(out, tuple):
                out = np.concatenate([np.asarray(o, np.float64) for o in out], axis=1)
            expected[method] = out
        np.savez(tmp_path / f"{name}.expected.npz", **expected)
        np.save(tmp_path / f"{name}.inputs.npy", case["X"])
        spec.append({"name": name, "path": str(case["path"]), "methods": case["methods"],
                     "expected": str(tmp_path / f"{name}.expected.npz"),
                     "inputs": str(tmp_path / f"{name}.inputs.npy"),
                     "keras": case.get("keras", False)})
    (tmp_path / "cases.json").write_text(json.dumps(spec))
    (tmp_path / "check.py").write_text(CHECK_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [os.path.dirname(os.path.dirname(skreid.__file__)), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, str(tmp_path / "check.py"),
                           str(tmp_path / "cases.json")], capture_output=True, text=True,
                          env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("REPORT")][-1]
    return json.loads(line[len("REPORT"):])


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=8, n_images_per_identity=4, n_cameras=2,
                       image_shape=(32, 16, 3), random_state=0)


@pytest.fixture(scope="module")
def pca(people):
    return PCAReID(n_components=10, projection="xqda", metric="cosine").fit(
        people.images, people.person_ids)


@pytest.fixture
def saved(pca, tmp_path):
    path = tmp_path / "pca.skreid"
    skreid.save(pca, path)
    return path


REID_METHODS = ["transform", "predict", "decision_function", "kneighbors"]


def test_classical_round_trip_in_a_fresh_process_without_tensorflow(people, tmp_path):
    X, y, cams = people.images, people.person_ids, people.camera_ids
    gallery = PCAReID(n_components=0.9, projection="lda", whiten=True, image_size=(16, 8),
                      grayscale=True, random_state=0).fit(X, y)
    gallery.set_gallery(X[::2], y[::2], cameras=cams[::2])  # a gallery other than training
    estimators = {
        "pca_xqda": PCAReID(n_components=10, projection="xqda", metric="cosine").fit(X, y),
        "pca_kissme_gallery": PCAReID(n_components=12, projection="kissme").fit(X, y),
        "pca_lda_set_gallery": gallery,
        "classical": make_classical_reid(n_components=10, cell_size=4, n_scales=2).fit(X, y),
        "resize_pca": make_pipeline(ResizeImages((16, 8)), PCAReID(n_components=0.9)).fit(X, y),
        "preprocessing": make_pipeline(ResizeImages((16, 8), order=0), Grayscale("bt709"),
                                       FlattenImages(), StandardScaler(),
                                       PCAReID(n_components=8)).fit(X, y),
        "sklearn_via_skops": make_pipeline(FlattenImages(), KNeighborsClassifier(3)).fit(X, y),
    }
    cases = []
    for name, est in estimators.items():
        path = tmp_path / f"{name}.skreid"
        skreid.save(est, path)
        methods = ["predict"] if name == "sklearn_via_skops" else REID_METHODS
        if name == "sklearn_via_skops":
            methods = ["predict", "predict_proba"]
        elif name in ("classical", "resize_pca", "preprocessing"):
            methods = ["transform", "predict"]
        cases.append({"name": name, "path": path, "estimator": est, "X": X, "methods": methods})
    gray = Grayscale().fit(X)
    skreid.save(gray, tmp_path / "gray.skreid")
    cases.append({"name": "gray", "path": tmp_path / "gray.skreid", "estimator": gray, "X": X,
                  "methods": ["transform"]})
    report = run_in_fresh_process(cases, tmp_path)
    assert report.pop("tf_after_classical") is False
    for name, results in report.items():
        assert results and all(results.values()), (name, results)


def test_loaded_estimator_pickles_clones_and_refits(saved, pca, people):
    loaded = skreid.load(saved)
    again = pickle.loads(pickle.dumps(loaded))
    np.testing.assert_array_equal(again.transform(people.images), pca.transform(people.images))
    assert clone(loaded).get_params() == pca.get_params()
    assert type(loaded.input_shape_) is tuple  # tuples stay tuples (shape comparisons)
    # the gallery index shares the estimator's embeddings: stored once, shared again
    if hasattr(pca, "gallery_index_"):
        assert loaded.gallery_embeddings_ is loaded.gallery_index_.embeddings
        with zipfile.ZipFile(saved) as zf:
            n_arrays = sum(name.startswith("arrays/") for name in zf.namelist())
        assert n_arrays == len({id(v) for v in _arrays_of(pca)})
    loaded.fit(people.images, people.person_ids)  # a loaded model is a normal estimator


def _arrays_of(obj):
    """Every ndarray reachable through instance attributes (what the file must store)."""
    for value in vars(obj).values():
        if isinstance(value, np.ndarray):
            yield value
        elif hasattr(value, "__dict__") and not isinstance(value, type):
            yield from _arrays_of(value)


# ------------------------------------------------------------------ refused files
def _rewrite(src, dst, *, manifest=None, extra=None, replace=None):
    """Copy a saved model, editing its manifest and members (a crafted file)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json" and manifest:
                m = json.loads(data)
                manifest(m)
                data = json.dumps(m).encode()
            if replace and item.filename in replace:
                data = replace[item.filename]
            zout.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)
    return dst


def _craft(tmp_path, tree, files=None, arrays=None):
    path = tmp_path / "crafted.skreid"
    write_archive(path, kind="model", format_version=1,
                  meta={"estimator": tree, "metadata": {}}, files=files, arrays=arrays)
    return path


def test_pickle_files_and_pickle_payloads_are_refused(saved, pca, tmp_path):
    import joblib

    pickled = tmp_path / "model.pkl"
    pickled.write_bytes(pickle.dumps(pca))
    joblib.dump(pca, tmp_path / "model.joblib")
    for path in (pickled, tmp_path / "model.joblib"):
        with pytest.raises(UnsafeArchiveError, match="a pickle .*not a skreid file"):
            skreid.load(path)
        with pytest.raises(UnsafeArchiveError, match="a pickle .*not a skreid file"):
            read_metadata(path)

    def add(m):
        m["arrays"].append("evil")

    evil = pickle.dumps(pca)
    bad = _rewrite(saved, tmp_path / "bad.skreid", manifest=add,
                   extra={"arrays/evil.npy": evil})
    with pytest.raises(UnsafeArchiveError, match="pickle payload"):
        skreid.load(bad)
    # an object .npy (np.save with allow_pickle) is a pickle too
    import io

    buf = io.BytesIO()
    np.save(buf, np.array([{}], dtype=object), allow_pickle=True)
    bad = _rewrite(saved, tmp_path / "bad2.skreid", replace={"arrays/0.npy": buf.getvalue()})
    with pytest.raises(UnsafeArchiveError, match="without pickle"):
        skreid.load(bad)


def test_unknown_types_and_tags_are_refused(tmp_path):
    tree = {"__skreid__": "estimator", "class": "os.system", "params": {}, "attrs": {}}
    with pytest.raises(UnsafeArchiveError, match="unknown type 'os.system'"):
        skreid.load(_craft(tmp_path, tree))
    with pytest.raises(UnsafeArchiveError, match="unknown type tag 'pickle'"):
        skreid.load(_craft(tmp_path, {"__skreid__": "pickle", "data": "gASV"}))
    tree = {"__skreid__": "estimator", "class": "skreid.reid.PCAReID",
            "params": {"n_components": 3}, "attrs": {"__class__": "x"}}
    with pytest.raises(UnsafeArchiveError, match="invalid attribute name '__class__'"):
        skreid.load(_craft(tmp_path, tree))
    tree = {"__skreid__": "estimator", "class": "skreid.reid.PCAReID",
            "params": {"exec": "print(1)"}, "attrs": {}}
    with pytest.raises(UnsafeArchiveError, match="do not fit skreid.reid.PCAReID"):
        skreid.load(_craft(tmp_path, tree))
    tree = {"__skreid__": "estimator", "class": "skreid.reid.PCAReID",
            "params": {}, "attrs": {"a_": {"__skreid__": "ndarray", "array": "7"}}}
    with pytest.raises(UnsafeArchiveError, match="missing member '7'"):
        skreid.load(_craft(tmp_path, tree))


def test_untrusted_skops_types_are_refused(tmp_path):
    sio = pytest.importorskip("skops.io")
    from sklearn.preprocessing import FunctionTransformer

    data = sio.dumps(FunctionTransformer(func=os.getcwd))
    path = _craft(tmp_path, {"__skreid__": "skops", "file": "x.skops"}, files={"x.skops": data})
    with pytest.raises(UnsafeArchiveError, match="untrusted types.*getcwd"):
        skreid.load(path)
    with pytest.raises(UnsupportedEstimatorError, match="does not trust"):
        skreid.save(make_pipeline(FunctionTransformer(func=os.getcwd)), tmp_path / "f.skreid")


def test_escaping_paths_newer_versions_and_other_zips_are_refused(saved, tmp_path):
    def escape(m):
        m["files"].append("../../evil.sh")

    bad = _rewrite(saved, tmp_path / "esc.skreid", manifest=escape,
                   extra={"files/../../evil.sh": b"echo"})
    with pytest.raises(UnsafeArchiveError, match="outside the archive"):
        skreid.load(bad)

    def newer(m):
        m["format_version"] = 99

    bad = _rewrite(saved, tmp_path / "new.skreid", manifest=newer)
    with pytest.raises(UnsafeArchiveError, match="format version 99.*Upgrade skreid"):
        skreid.load(bad)
    with pytest.raises(UnsafeArchiveError, match="Upgrade skreid"):
        read_metadata(bad)

    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("hello.txt", "hi")
    with pytest.raises(UnsafeArchiveError, match="without manifest.json"):
        skreid.load(plain)
    other = tmp_path / "index.skreid"
    write_archive(other, kind="gallery-index", format_version=1)
    with pytest.raises(UnsafeArchiveError, match="'gallery-index', expected 'model'"):
        skreid.load(other)
    empty = tmp_path / "empty.skreid"
    write_archive(empty, kind="model", format_version=1, meta={"x": 1})
    with pytest.raises(UnsafeArchiveError, match="without a model"):
        skreid.load(empty)


def test_deeply_nested_json_is_refused(tmp_path):
    for depth in (100_000, 900):
        manifest = ('{"format": "skreid-archive", "kind": "model", "format_version": 1, '
                    '"meta": {"metadata": {}, "estimator": {"x": ' + "[" * depth + "]" * depth
                    + '}}, "arrays": [], "files": []}')
        path = tmp_path / f"deep{depth}.skreid"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("manifest.json", manifest)
        with pytest.raises(UnsafeArchiveError, match="nested too deeply"):
            skreid.load(path)


def test_missing_and_truncated_files_are_refused(saved, tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        skreid.load(tmp_path / "nope.skreid")
    data = saved.read_bytes()
    for cut in (len(data) // 2, len(data) - 10):
        truncated = tmp_path / f"cut{cut}.skreid"
        truncated.write_bytes(data[:cut])
        with pytest.raises(UnsafeArchiveError, match="not a skreid file|truncated|damaged"):
            skreid.load(truncated)


# ------------------------------------------------------------------ what save refuses
def test_unsupported_estimators_are_refused_when_saving(pca, tmp_path):
    class MyReID(PCAReID):
        pass

    class Thing(BaseEstimator):
        def __init__(self, a=1):
            self.a = a

    for est, match in [(Thing(), "a Thing"), (MyReID(), "a MyReID"),
                       (make_pipeline(Thing()), r"steps\[0\]\[1\]"), (len, "function")]:
        with pytest.raises(UnsupportedEstimatorError, match=match):
            skreid.save(est, tmp_path / "x.skreid")
    est = clone(pca)
    est.set_params(random_state=np.random.RandomState(3))  # data, stored exactly
    skreid.save(est, tmp_path / "rs.skreid")
    state = skreid.load(tmp_path / "rs.skreid").random_state.get_state()
    np.testing.assert_array_equal(state[1], np.random.RandomState(3).get_state()[1])
    assert not (tmp_path / "x.skreid").exists()


def test_save_is_atomic(saved, pca, people, monkeypatch):
    before = saved.read_bytes()
    card_before = (saved.parent / "pca.skreid.card.md").read_bytes()
    calls = []
    real = zipfile.ZipFile.writestr

    def interrupted(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # Ctrl-C in the middle of writing the zip
        return real(self, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "writestr", interrupted)
    other = PCAReID(n_components=5).fit(people.images, people.person_ids)
    with pytest.raises(KeyboardInterrupt):
        skreid.save(other, saved)
    monkeypatch.undo()
    assert saved.read_bytes() == before
    assert (saved.parent / "pca.skreid.card.md").read_bytes() == card_before
    assert sorted(p.name for p in saved.parent.iterdir()) == ["pca.skreid", "pca.skreid.card.md"]
    np.testing.assert_array_equal(skreid.load(saved).transform(people.images),
                                  pca.transform(people.images))


# ------------------------------------------------------------------ metadata and card
METADATA = {
    "training_data": {"folder": "/data/market1501/cab420_subset", "n_images": 32,
                      "n_identities": 8, "image_size": [32, 16]},
    "evaluation": {"rank1": 0.75, "mAP": 0.61, "protocol": "CAB420 probes vs one-shot gallery"},
    "training_time_s": 12.5,
    "run": "demo",
}


def test_read_metadata_returns_the_metadata_and_skreid_facts(pca, tmp_path):
    path = tmp_path / "m.skreid"
    skreid.save(pca, path, metadata=METADATA)
    meta = read_metadata(path)
    for key, value in METADATA.items():
        assert meta[key] == value
    assert meta["model"]["class"] == "skreid.reid.PCAReID"
    assert meta["model"]["params"]["projection"] == "xqda"
    facts = meta["model"]["facts"]
    assert facts["n_gallery_identities"] == 8 and facts["embedding_dim"] == pca.projection_.shape[1]
    assert facts["n_training_images"] == 32 and facts["input_image_shape"] == [32, 16, 3]
    assert meta["versions"]["skreid"] == skreid.__version__ and meta["versions"]["keras"]
    assert meta["hardware"]["cpu_count"] == os.cpu_count()
    assert meta["task"] == "reid"
    given = {"cpu": "4x test CPU"}
    skreid.save(pca, path, metadata={"hardware": given})
    assert read_metadata(path)["hardware"] == given
    with pytest.raises(ValueError, match="written by skreid.save itself"):
        skreid.save(pca, path, metadata={"model": 1})
    with pytest.raises(TypeError, match="JSON"):
        skreid.save(pca, path, metadata={"x": object()})


def test_model_card_content(pca, tmp_path):
    path = tmp_path / "m.skreid"
    card = skreid.save(pca, path, metadata=METADATA)
    assert card == f"{path}.card.md"
    text = open(card, encoding="utf-8").read()
    for expected in ["skreid.reid.PCAReID", "| projection | `xqda` |", "n_gallery_identities",
                     "| embedding_dim |", "/data/market1501/cab420_subset", "| rank1 | 0.75 |",
                     "Protocol: CAB420 probes vs one-shot gallery", "Training time: 12.5 s",
                     "| cpu_count |", "| skreid | `", "| tensorflow |", "Consent",
                     "Surveillance", "research only", "| run | `demo` |"]:
        assert expected in text, expected
    pipe = make_pipeline(Grayscale(), FlattenImages()).fit(np.zeros((2, 8, 4, 3)))
    text = open(skreid.save(pipe, path), encoding="utf-8").read()  # replaces skreid's card
    assert "Consent" not in text and "Not recorded" in text


def test_an_existing_card_not_written_by_skreid_is_never_overwritten(pca, tmp_path):
    path = tmp_path / "m.skreid"
    mine = tmp_path / "m.skreid.card.md"
    mine.write_text("# my notes\n")
    with pytest.raises(FileExistsError, match="not a model card written by skreid"):
        skreid.save(pca, path)
    assert mine.read_text() == "# my notes\n"
    assert not path.exists()  # refused before writing anything
