"""Bad input to the library's newer surfaces, table-driven (issue 25): the one pixel rule of
every estimator and of the runtime, crafted model files, crafted gallery indexes, crafted ONNX
metadata, metric inputs, numeric parameters and directories passed for files.

Each case asserts the error type, that the message names what is wrong, and that nothing was
written (the case's folder is unchanged, crafted files included). The file and concurrency
cases live in their own module; the original table is tests/test_bad_input.py.
"""

import os
import re
import warnings

import numpy as np
import pytest
from _bad_input_data import (
    crafted_model,
    model_tree,
    rewrite_archive,
    snapshot,
    toy_images,
    toy_onnx,
)

import skreid
from skreid.metrics import cmc_curve, evaluate_reid, mean_average_precision
from skreid.metrics.pairwise import (
    BlockedDistances,
    average_query_expansion,
    rerank_k_reciprocal,
)
from skreid.search import GalleryIndex
from skreid.utils import PixelScaleWarning, UnsafeArchiveError

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

RNG = np.random.RandomState(0)
IMAGES = RNG.randint(0, 256, (12, 16, 8, 3)).astype(np.uint8)
IDS = np.repeat(np.arange(6), 2)
BREEDS = IDS % 2

# the bad pixel batches every estimator and the runtime refuse, with the message they give
BAD_PIXELS = {
    "uint16-above-255": (lambda X: X.astype(np.uint16) * 257, ValueError,
                         r"X has pixel values in \[0, 6\.5\d*e\+04\] \(dtype uint16\)"),
    "int64-negative": (lambda X: X.astype(np.int64) - 128, ValueError,
                       r"X has pixel values in \[-128, .*\(dtype int64\)"),
    "float-above-255": (lambda X: X.astype(np.float32) * 2, ValueError,
                        r"X has pixel values in \[0, 510\] \(dtype float32\)"),
    "float-negative": (lambda X: X.astype(np.float32) - 255, ValueError,
                       r"X has pixel values in \[-255, .*outside \[0, 255\]"),
    "bool": (lambda X: X > 128, ValueError, r"X holds booleans \(dtype bool\)"),
    "nan": (lambda X: np.where(X > 250, np.nan, X / 1.0), ValueError, r"X contains NaN"),
}
# after a fit on [0, 1] floats
BAD_AFTER_UNIT_FIT = {
    "0-255-floats-after-01-fit": (lambda X: X.astype(np.float32), ValueError,
                                  r"float pixels up to 255, but .* was fitted on float pixels "
                                  r"in \[0, 1\]"),
    "float-negative-after-01-fit": (lambda X: X / 255.0 - 0.5, ValueError,
                                    r"X has pixel values in \[-0\.5"),
}


def _run_case(tmp_path, monkeypatch, action, error, pattern, fitted=None, attr=None):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", np.exceptions.ComplexWarning)
        with pytest.raises(error, match=re.compile(pattern, re.S)):
            action()
    if fitted is not None:
        assert not hasattr(fitted, attr)  # nothing fitted
    assert snapshot(tmp_path) == before  # nothing written, crafted files unchanged


# ------------------------------------------------------------------------- estimators
def _pca(**params):
    from skreid.reid import PCAReID

    return PCAReID(**{"n_components": 2, **params})


def _lomo(**params):
    from skreid.reid import LOMOFeatures

    return LOMOFeatures(**{"cell_size": 4, "n_scales": 1, **params})


def _triplet(**params):
    from _tiny import tiny_triplet

    return tiny_triplet(**{"batch_size": 4, "test_time_flip": False, **params})


def _multitask(**params):
    from skreid.pets import MultiTaskPetNet

    return MultiTaskPetNet(**{**dict(epochs=1, batch_size=4, image_size=(16, 16), width=2,
                                     depth=1, augment=False, random_state=0), **params})


def _finetuned(**params):
    from skreid.pets import FineTunedPetNet

    return FineTunedPetNet(**{**dict(weights=None, image_size=32, epochs=1, head_epochs=1,
                                     decoder_width=4, batch_size=12, augment=False,
                                     random_state=0), **params})


ESTIMATORS = {  # name -> (factory, y, fitted attribute, the method that reads images)
    "pca": (_pca, IDS, "pca_", "transform"),
    "lomo": (_lomo, None, "input_shape_", "transform"),
    "triplet": (_triplet, IDS, "model_", "transform"),
    "multitask": (_multitask, BREEDS, "model_", "predict_proba"),
    "finetuned": (_finetuned, BREEDS, "model_", "predict_proba"),
}
KERAS = {"triplet", "multitask", "finetuned"}

FIT_CASES = [(f"{est}-fit-{bad}", est, bad) for est in ESTIMATORS for bad in BAD_PIXELS]


@pytest.mark.parametrize("case, est, bad", FIT_CASES, ids=[c[0] for c in FIT_CASES])
def test_every_estimator_refuses_bad_pixels_in_fit(tmp_path, monkeypatch, case, est, bad):
    if est in KERAS:
        pytest.importorskip("keras")
    factory, y, attr, _ = ESTIMATORS[est]
    make, error, pattern = BAD_PIXELS[bad]
    model = factory()
    _run_case(tmp_path, monkeypatch, lambda: model.fit(make(IMAGES), y), error, pattern,
              fitted=model, attr=attr)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    """Every estimator fitted on uint8 images and (but FineTunedPetNet) on [0, 1] floats,
    and the toy runtime exports (fitted on 0-255 pixels, on [0, 1] floats, and a file from
    before skreid recorded ``pixel_range``)."""
    from skreid.runtime import OnnxEmbedder, OnnxPetNet

    out = {}
    for name, (factory, y, _, _) in ESTIMATORS.items():
        if name in KERAS and not _has_keras():
            continue
        out[name] = factory().fit(IMAGES, y)
        if name != "finetuned":
            out[name + "-01"] = factory().fit(IMAGES / 255.0, y)
    folder = tmp_path_factory.mktemp("onnx")
    for kind, cls in (("embedder", OnnxEmbedder), ("petnet", OnnxPetNet)):
        out[f"onnx-{kind}"] = cls(toy_onnx(folder / f"{kind}.onnx", kind)).fit()
        out[f"onnx-{kind}-01"] = cls(toy_onnx(folder / f"{kind}01.onnx", kind,
                                              pixel_range=1.0)).fit()
    out["onnx-embedder-old"] = OnnxEmbedder(
        toy_onnx(folder / "old.onnx", pixel_range="absent")).fit()
    return out


def _has_keras():
    try:
        import keras  # noqa: F401
    except ImportError:
        return False
    return True


RUNTIME = {"onnx-embedder": "transform", "onnx-petnet": "predict_proba",
           "onnx-embedder-old": "transform"}
UINT8_FITTED = [*ESTIMATORS, *RUNTIME]
UNIT_FITTED = [e for e in ESTIMATORS if e != "finetuned"] + ["onnx-embedder", "onnx-petnet"]


def _method(fitted, name):
    key = name.removesuffix("-01")
    method = RUNTIME.get(key) or ESTIMATORS[key][3]
    if name not in fitted:
        pytest.skip("needs Keras")
    return getattr(fitted[name], method)


def _images_for(name):
    return toy_images(12) if name.startswith("onnx") else IMAGES


CALL_CASES = [(f"{m}-{bad}", m, bad) for m in UINT8_FITTED for bad in BAD_PIXELS] + \
    [(f"{m}-01-{bad}", m + "-01", bad) for m in UNIT_FITTED for bad in BAD_AFTER_UNIT_FIT]


@pytest.mark.parametrize("case, model, bad", CALL_CASES, ids=[c[0] for c in CALL_CASES])
def test_every_estimator_and_the_runtime_refuse_bad_pixels(tmp_path, monkeypatch, fitted, case,
                                                           model, bad):
    method = _method(fitted, model)
    make, error, pattern = {**BAD_PIXELS, **BAD_AFTER_UNIT_FIT}[bad]
    X = _images_for(model)
    _run_case(tmp_path, monkeypatch, lambda: method(make(X)), error, pattern)


WARN_CASES = [f"{m}-01-floats-after-uint8-fit" for m in UINT8_FITTED]


@pytest.mark.parametrize("case", WARN_CASES)
def test_01_floats_into_a_0_255_model_warn_everywhere(fitted, case):
    model = case.removesuffix("-01-floats-after-uint8-fit")
    method = _method(fitted, model)
    with pytest.warns(PixelScaleWarning, match=r"X holds float pixels in \[0, 1\]"):
        method(_images_for(model) / 255.0)


@pytest.mark.parametrize("model", UNIT_FITTED)
def test_uint8_reads_as_0_255_after_a_fit_on_01_floats_everywhere(fitted, model):
    method = _method(fitted, model + "-01")
    X = _images_for(model)
    np.testing.assert_allclose(method(X), method(X / 255.0), atol=1e-5)


def test_the_runtime_feeds_the_graph_what_the_estimator_would():
    """The toy embedder projects raw pixels: on a [0, 1] export, uint8 images reach the graph
    divided by 255 (before issue 25 they went in raw, and 16-bit, negative and boolean
    images were accepted)."""
    from skreid.runtime import OnnxEmbedder

    X = toy_images(4)
    flat = X.reshape(4, -1).astype("f4") / 255
    w = np.random.default_rng(0).normal(size=(flat.shape[1], 5)).astype("f4")
    ref = flat @ w
    ref /= np.linalg.norm(ref, axis=1, keepdims=True)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        est = OnnxEmbedder(toy_onnx(os.path.join(tmp, "e.onnx"), pixel_range=1.0)).fit()
        np.testing.assert_allclose(est.transform(X), ref, atol=1e-5)


# ----------------------------------------------------------------- crafted model files
@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """A real PCAReID and a real Pipeline saved by skreid (the base of crafted files)."""
    from sklearn.decomposition import PCA
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from skreid.preprocessing import FlattenImages

    folder = tmp_path_factory.mktemp("models")
    pca = _pca(n_components=3).fit(IMAGES, IDS)
    pipe = make_pipeline(FlattenImages(), StandardScaler(), PCA(3)).fit(IMAGES)
    skreid.save(pca, folder / "pca.skreid")
    skreid.save(pipe, folder / "pipe.skreid")
    return folder


def _edit_tree(source, edit):
    def make(tmp, models):
        def meta(m):
            edit(m["estimator"])

        return rewrite_archive(models / source, tmp / "crafted.skreid", kind="model", meta=meta)
    return make


def _attr(name, value=1, source="pca.skreid"):
    return _edit_tree(source, lambda t: t["attrs"].__setitem__(name, value))


def _param(name, value, source="pca.skreid"):
    return _edit_tree(source, lambda t: t["params"].__setitem__(name, value))


def _step_attr(name, value=1):
    # the Pipeline's second step (StandardScaler)
    return _edit_tree("pipe.skreid", lambda t: t["params"]["steps"][1]["items"][1]["attrs"]
                      .__setitem__(name, value))


def _tree(tree):
    return lambda tmp, models: crafted_model(tmp / "crafted.skreid", tree)


def _param_as_attr(name, value):
    def edit(t):
        t["params"].pop(name, None)
        t["attrs"][name] = value
    return _edit_tree("pca.skreid", edit)


SHADOW = r"invalid attribute name '{}': it would shadow the {} PCAReID\.{}"
UNDECLARED = r"invalid attribute name '{}': it is neither a fitted attribute"
# (id, make(tmp, models) -> path, error type, pattern)
LOAD_CASES = [
    *[(f"pca-attr-shadows-{m}", _attr(m), UnsafeArchiveError, SHADOW.format(m, "method", m))
      for m in ("transform", "predict", "fit", "score", "kneighbors", "set_gallery",
                "get_params", "set_params", "decision_function", "fit_transform")],
    ("pca-attr-shadows-property", _attr("gallery_index_"), UnsafeArchiveError,
     r"'gallery_index_': it would shadow"),
    ("pca-attr-shadows-constraints", _attr("_parameter_constraints", {}), UnsafeArchiveError,
     r"'_parameter_constraints': it would shadow the class attribute"),
    ("pca-attr-shadows-saved-state-list", _attr("_saved_state_attrs", []), UnsafeArchiveError,
     r"'_saved_state_attrs': it would shadow"),
    ("pca-attr-dunder", _attr("__class__", "x"), UnsafeArchiveError,
     r"invalid attribute name '__class__'"),
    ("pca-attr-dunder-dict", _attr("__dict__", {}), UnsafeArchiveError,
     r"invalid attribute name '__dict__'"),
    ("pca-attr-not-identifier", _attr("a-b_"), UnsafeArchiveError,
     r"invalid attribute name 'a-b_': it is not a valid attribute name"),
    *[(f"pca-attr-undeclared-{n}", _attr(n), UnsafeArchiveError, UNDECLARED.format(n))
      for n in ("_evil", "_cache", "plain", "memory")],
    ("pca-param-as-attr-metric", _param_as_attr("metric", "mahalanobis"), UnsafeArchiveError,
     r"'metric': it is neither a fitted attribute"),
    ("pca-param-as-attr-rerank", _param_as_attr("rerank", {"k1": -1}), UnsafeArchiveError,
     r"'rerank': it is neither a fitted attribute"),
    ("pca-param-and-attr", _attr("n_components", 3), UnsafeArchiveError,
     r"'n_components': it is a constructor parameter"),
    ("pca-attr-transient-of-index", _edit_tree("pca.skreid", lambda t: t["attrs"].update(
        {"_faiss": None})), UnsafeArchiveError, r"'_faiss': it is neither"),
    ("pca-param-n-components-negative", _param("n_components", -5), UnsafeArchiveError,
     r"'n_components' parameter of PCAReID must be .* Got -5"),
    ("pca-param-metric-unknown", _param("metric", "mahalanobis"), UnsafeArchiveError,
     r"'metric' parameter of PCAReID must be .* Got 'mahalanobis'"),
    ("pca-param-projection-unknown", _param("projection", "rm -rf"), UnsafeArchiveError,
     r"'projection' parameter of PCAReID"),
    ("pca-param-whiten-str", _param("whiten", "yes"), UnsafeArchiveError,
     r"'whiten' parameter of PCAReID"),
    ("pca-param-unknown-name", _param("exec", "print(1)"), UnsafeArchiveError,
     r"do not fit skreid\.reid\.PCAReID"),
    ("pca-params-a-list", _edit_tree("pca.skreid", lambda t: t.__setitem__("params", [])),
     UnsafeArchiveError, r"parameters must be a JSON object"),
    ("pca-attrs-a-list", _edit_tree("pca.skreid", lambda t: t.__setitem__("attrs", [1])),
     UnsafeArchiveError, r"attributes must be a JSON object"),
    ("pca-class-unknown", _edit_tree("pca.skreid", lambda t: t.__setitem__("class", "os.system")),
     UnsafeArchiveError, r"unknown type 'os\.system'"),
    ("pipeline-memory-folder", _param("memory", "/tmp/anywhere", "pipe.skreid"),
     UnsafeArchiveError, r"memory='/tmp/anywhere' is not allowed: a Pipeline in a skreid file "
                         r"has memory=None"),
    ("pipeline-memory-relative", _param("memory", "cache", "pipe.skreid"),
     UnsafeArchiveError, r"memory='cache' is not allowed"),
    ("pipeline-memory-as-attr", _edit_tree("pipe.skreid", lambda t: (
        t["params"].pop("memory"), t["attrs"].__setitem__("memory", "/tmp/x"))),
     UnsafeArchiveError, r"'memory': it is neither a fitted attribute"),
    ("pipeline-verbose-str", _param("verbose", "loud", "pipe.skreid"), UnsafeArchiveError,
     r"'verbose' parameter of Pipeline"),
    ("pipeline-step-shadows-transform", _step_attr("transform"), UnsafeArchiveError,
     r"StandardScaler>: invalid attribute name 'transform': it would shadow the method"),
    ("pipeline-step-undeclared", _step_attr("_evil"), UnsafeArchiveError,
     r"StandardScaler>: invalid attribute name '_evil'"),
    ("triplet-shadows-transform", _tree(model_tree("skreid.reid.TripletEmbedder",
                                                   attrs={"transform": 1})),
     UnsafeArchiveError, r"'transform': it would shadow the method TripletEmbedder\.transform"),
    ("multitask-shadows-predict", _tree(model_tree("skreid.pets.MultiTaskPetNet",
                                                   attrs={"predict": 1})),
     UnsafeArchiveError, r"'predict': it would shadow the method MultiTaskPetNet\.predict"),
    ("finetuned-undeclared-private", _tree(model_tree("skreid.pets.FineTunedPetNet",
                                                      attrs={"_stage_at": 1})),
     UnsafeArchiveError, r"'_stage_at': it would shadow the method"),
    ("lomo-param-negative", _tree(model_tree("skreid.reid.LOMOFeatures",
                                             params={"cell_size": -1})),
     UnsafeArchiveError, r"'cell_size' parameter of LOMOFeatures"),
    ("gallery-index-shadows-search", _tree(model_tree("skreid.search.GalleryIndex",
                                                      attrs={"search": 1})),
     UnsafeArchiveError, r"'search': it would shadow the method GalleryIndex\.search"),
    ("gallery-index-undeclared", _tree(model_tree("skreid.search.GalleryIndex",
                                                  attrs={"_evil": 1})),
     UnsafeArchiveError, r"'_evil': it is neither a fitted attribute .* GalleryIndex"),
]


@pytest.mark.parametrize("case, make, error, pattern", LOAD_CASES,
                         ids=[c[0] for c in LOAD_CASES])
def test_crafted_model_files_are_refused_by_name(tmp_path, monkeypatch, saved_models, case,
                                                  make, error, pattern):
    path = make(tmp_path, saved_models)
    _run_case(tmp_path, monkeypatch, lambda: skreid.load(path), error, pattern)


def _pipeline_with_memory(tmp):
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), memory=str(tmp)).fit(IMAGES.reshape(12, -1) * 1.0)


def _with_attr(name, value):
    def make(tmp):
        est = _pca(n_components=2).fit(IMAGES, IDS)
        est.__dict__[name] = value
        return est
    return make


# (id, make(tmp) -> estimator, pattern): skreid.save never writes what load would refuse
SAVE_CASES = [
    ("pipeline-with-memory", _pipeline_with_memory, r"memory=.* is not allowed.*set_params"),
    ("attr-shadows-transform", _with_attr("transform", 1),
     r"PCAReID>\.transform: it would shadow the method"),
    ("attr-undeclared-private", _with_attr("_scratch", 1),
     r"PCAReID>\._scratch: it is neither a fitted attribute"),
    ("attr-not-fitted-name", _with_attr("notes", "x"),
     r"PCAReID>\.notes: it is neither a fitted attribute"),
    ("param-invalid", lambda tmp: _pca(n_components=2).fit(IMAGES, IDS).set_params(
        metric="hamming"), r"'metric' parameter of PCAReID"),
]


@pytest.mark.parametrize("case, make, pattern", SAVE_CASES, ids=[c[0] for c in SAVE_CASES])
def test_save_refuses_what_load_would_refuse(tmp_path, monkeypatch, case, make, pattern):
    from skreid.saving import UnsupportedEstimatorError

    est = make(tmp_path)
    _run_case(tmp_path, monkeypatch, lambda: skreid.save(est, tmp_path / "m.skreid"),
              UnsupportedEstimatorError, pattern)


# --------------------------------------------------------------- crafted gallery indexes
@pytest.fixture(scope="module")
def saved_indexes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("indexes")
    X = RNG.rand(30, 4).astype(np.float32)
    keys = [f"img{i}.jpg" for i in range(30)]
    GalleryIndex().add(X, ids=np.arange(30) % 5, cameras=np.arange(30) % 2,
                       keys=keys).save(folder / "exact.index")
    pytest.importorskip("faiss")
    GalleryIndex(backend="faiss").add(X, keys=keys).save(folder / "faiss.index")
    GalleryIndex(backend="faiss").add(RNG.rand(30, 6).astype(np.float32),
                                      keys=keys).save(folder / "faiss6.index")
    GalleryIndex("cosine", backend="faiss").add(X, keys=keys).save(folder / "cosine.index")
    GalleryIndex(backend="faiss", faiss_params={"index_type": "ivf"}).add(
        X, keys=keys).save(folder / "ivf.index")
    return folder


def _index(source="exact.index", meta=None, arrays=None, files=None):
    def make(tmp, indexes):
        return rewrite_archive(indexes / source, tmp / "crafted.index", kind="gallery-index",
                               meta=meta, arrays=arrays, files=files)
    return make


def _faiss_member(source):
    from skreid.utils import read_archive

    def get(indexes):
        return read_archive(indexes / source, kind="gallery-index",
                            max_format_version=99).files["faiss.index"]
    return get


def _swap_faiss(source, donor, meta=None):
    def make(tmp, indexes):
        return rewrite_archive(indexes / source, tmp / "crafted.index", kind="gallery-index",
                               meta=meta, files={"faiss.index": _faiss_member(donor)(indexes)})
    return make


def _set(key, value):
    return lambda m: m.__setitem__(key, value)


def _del(key):
    return lambda m: m.pop(key)


def _flat_faiss(tmp, indexes):
    import faiss

    flat = faiss.IndexFlatL2(4)
    flat.add(RNG.rand(30, 4).astype(np.float32))
    data = faiss.serialize_index(flat).tobytes()
    return rewrite_archive(indexes / "faiss.index", tmp / "crafted.index", kind="gallery-index",
                           files={"faiss.index": data})


def _truncated_faiss(tmp, indexes):
    data = _faiss_member("faiss.index")(indexes)
    return rewrite_archive(indexes / "faiss.index", tmp / "crafted.index", kind="gallery-index",
                           files={"faiss.index": data[: len(data) // 2]})


NOT_INDEX = r"crafted\.index: not a valid gallery index \("
INDEX_CASES = [
    ("faiss-garbage-member", _index("faiss.index", files={"faiss.index": b"garbage" * 20}),
     ValueError, r"crafted\.index: the faiss member is damaged \(Error in"),
    ("faiss-truncated-member", _truncated_faiss, ValueError, r"faiss member is damaged"),
    ("faiss-empty-member", _index("faiss.index", files={"faiss.index": b""}), ValueError,
     r"faiss member is damaged"),
    ("faiss-width-mismatch", _swap_faiss("faiss.index", "faiss6.index"), ValueError,
     r"the faiss index holds 30 vectors of width 6 for 30 items of width 4"),
    ("faiss-metric-mismatch", _swap_faiss("faiss.index", "cosine.index"), ValueError,
     r"the faiss member does not search by the index's metric 'euclidean'"),
    ("faiss-type-mismatch", _swap_faiss("faiss.index", "ivf.index"), ValueError,
     r"the faiss member is a IndexIVFFlat, not the IndexHNSWFlat"),
    ("faiss-flat-index", _flat_faiss, ValueError, r"faiss member is a IndexFlatL2"),
    ("faiss-count-mismatch", _index("faiss.index", meta=_set("n_items", 29), arrays={
        "embeddings": RNG.rand(29, 4).astype(np.float32), "keys": np.array(
            [f"k{i}" for i in range(29)])}), ValueError,
     r"holds 30 vectors of width 4 for 29 items"),
    ("faiss-member-in-exact-index", _index("exact.index", files={"faiss.index": b"x"}),
     ValueError, NOT_INDEX + r"the faiss member and the backend disagree"),
    ("faiss-info-missing", _index("faiss.index", meta=_set("faiss_info", None)), ValueError,
     NOT_INDEX + r"faiss_info None is not what skreid writes"),
    ("faiss-info-unknown-type", _index("faiss.index", meta=_set(
        "faiss_info", {"index_type": "lsh"})), ValueError,
     r"faiss_info \{'index_type': 'lsh'\} is not what skreid writes"),
    ("faiss-info-type-a-list", _index("faiss.index", meta=_set(
        "faiss_info", {"index_type": ["hnsw"]})), ValueError,
     NOT_INDEX + r"faiss_info \{'index_type': \['hnsw'\]\} is not what skreid writes"),
    ("faiss-info-bad-efsearch", _index("faiss.index", meta=_set(
        "faiss_info", {"index_type": "hnsw", "efSearch": -1})), ValueError,
     NOT_INDEX + r"faiss_info \{'efSearch': -1, 'index_type': 'hnsw'\}"),
    ("ids-without-flags", _index(arrays={"has_id": None}), ValueError,
     NOT_INDEX + r"ids and has_id come together"),
    ("flags-without-ids", _index(arrays={"ids": None}), ValueError,
     NOT_INDEX + r"ids and has_id come together"),
    ("ids-wrong-length", _index(arrays={"ids": np.arange(3)}), ValueError,
     r"ids is int64 of shape \(3,\), expected 30 entries"),
    ("ids-float", _index(arrays={"ids": np.zeros(30)}), ValueError,
     r"ids is float64 of shape \(30,\), expected 30 entries"),
    ("flags-not-bool", _index(arrays={"has_id": np.ones(30, int)}), ValueError,
     r"has_id is int64 of shape \(30,\)"),
    ("keys-not-strings", _index(arrays={"keys": np.arange(30)}), ValueError,
     r"keys is int64 of shape \(30,\)"),
    ("keys-duplicate", _index(arrays={"keys": np.array(["a.jpg"] * 30)}), ValueError,
     NOT_INDEX + r"keys are not unique"),
    ("cameras-float", _index(arrays={"cameras": np.zeros(30)}), ValueError,
     r"cameras is float64 of shape \(30,\)"),
    ("embeddings-float64", _index(arrays={"embeddings": RNG.rand(30, 4)}), ValueError,
     r"embeddings are float64 of shape \(30, 4\), expected float32"),
    ("embeddings-1d", _index(arrays={"embeddings": RNG.rand(30).astype(np.float32)}),
     ValueError, r"embeddings are float32 of shape \(30,\), expected float32 of 30 rows"),
    ("embeddings-nan", _index(arrays={"embeddings": np.full((30, 4), np.nan, np.float32)}),
     ValueError, r"its embeddings contains NaN values"),
    ("embeddings-inf", _index(arrays={"embeddings": np.full((30, 4), np.inf, np.float32)}),
     ValueError, r"its embeddings contains infinite values"),
    ("embeddings-missing", _index(arrays={"embeddings": None}), ValueError,
     r"the embeddings member is missing"),
    ("n-items-mismatch", _index(meta=_set("n_items", 31)), ValueError,
     r"embeddings are float32 of shape \(30, 4\), expected float32 of 31 rows"),
    ("n-features-mismatch", _index(meta=_set("n_features", 5)), ValueError,
     r"embeddings have 4 columns, the manifest says 5"),
    ("n-features-str", _index(meta=_set("n_features", "4")), ValueError,
     r"n_features is '4', not an integer >= 1"),
    ("metric-unknown", _index(meta=_set("metric", "hamming")), ValueError,
     NOT_INDEX + r"metric must be one of"),
    ("backend-unknown", _index(meta=_set("backend", "annoy")), ValueError,
     NOT_INDEX + r"backend must be one of"),
    ("metric-missing", _index(meta=_del("metric")), ValueError,
     NOT_INDEX + r"metric must be one of \['euclidean', 'cosine'\], got None"),
    ("faiss-params-list", _index(meta=_set("faiss_params", [1])), ValueError,
     r"faiss_params must be a dict or None, got \[1\]"),
    ("faiss-params-unknown", _index(meta=_set("faiss_params", {"nope": 1})), ValueError,
     r"faiss_params: unknown parameter\(s\) \['nope'\]"),
    ("user-meta-list", _index(meta=_set("user", [1, 2])), ValueError,
     NOT_INDEX + r"'user' metadata is not a JSON object"),
    ("unknown-array-member", _index(arrays={"extra": np.zeros(3)}), ValueError,
     r"member 'extra' \(arrays\) is not part of a skreid gallery-index file"),
    ("unknown-file-member", _index(files={"notes.txt": b"hi"}), ValueError,
     r"member 'notes\.txt' \(files\) is not part of a skreid gallery-index file"),
]


@pytest.mark.parametrize("case, make, error, pattern", INDEX_CASES,
                         ids=[c[0] for c in INDEX_CASES])
def test_crafted_indexes_are_refused_by_name(tmp_path, monkeypatch, saved_indexes, case, make,
                                             error, pattern):
    path = make(tmp_path, saved_indexes)
    _run_case(tmp_path, monkeypatch, lambda: GalleryIndex.load(path), error, pattern)


# ------------------------------------------------------------------ crafted ONNX metadata
def _onnx(kind="embedder", **kwargs):
    return lambda tmp: toy_onnx(tmp / "crafted.onnx", kind, **kwargs)


def _load_onnx(kind):
    from skreid.runtime import OnnxEmbedder, OnnxPetNet

    cls = OnnxEmbedder if kind == "embedder" else OnnxPetNet
    return lambda path: cls(path).fit()


META = r"crafted\.onnx'?: the 'skreid' metadata has "
ONNX_CASES = [
    ("missing-input", "embedder", _onnx(drop=["input"]), META + r"input=None, expected a dict"),
    ("input-a-list", "embedder", _onnx(meta={"input": [1]}), META + r"input=\[1\]"),
    ("shape-missing", "embedder", _onnx(meta={"input.shape": None}), META + r"input\.shape=None"),
    ("shape-3-entries", "embedder", _onnx(meta={"input.shape": [None, 4, 2]}),
     META + r"input\.shape=\[None, 4, 2\]"),
    ("shape-negative", "embedder", _onnx(meta={"input.shape": [None, -4, 2, 3]}),
     META + r"input\.shape=\[None, -4, 2, 3\]"),
    ("shape-float", "embedder", _onnx(meta={"input.shape": [None, 4.5, 2, 3]}),
     META + r"input\.shape"),
    ("shape-free-channels", "embedder", _onnx(meta={"input.shape": [None, 4, 2, None]}),
     META + r"input\.shape=.*a fixed number of channels"),
    ("dtype-float16", "embedder", _onnx(meta={"input.dtype": "float16"}),
     META + r"input\.dtype='float16', expected 'float32'"),
    ("scale-not-text", "embedder", _onnx(meta={"input.scale": 255}), META + r"input\.scale=255"),
    ("pixel-range-7", "embedder", _onnx(meta={"input.pixel_range": 7}),
     META + r"input\.pixel_range=7, expected 1\.0, 255\.0 or null"),
    ("pixel-range-text", "embedder", _onnx(meta={"input.pixel_range": "0-255"}),
     META + r"input\.pixel_range='0-255'"),
    ("metric-unknown", "embedder", _onnx(meta={"metric": "hamming"}),
     META + r"metric='hamming', expected one of"),
    ("metric-not-text", "embedder", _onnx(meta={"metric": ["cosine"]}),
     META + r"metric=\['cosine'\]"),
    ("estimator-missing", "embedder", _onnx(drop=["estimator"]), META + r"estimator=None"),
    ("estimator-not-text", "embedder", _onnx(meta={"estimator": 3}), META + r"estimator=3"),
    ("kind-unknown", "embedder", _onnx(meta={"kind": "detector"}),
     r"unknown exported model kind 'detector'"),
    ("kind-a-list", "embedder", _onnx(meta={"kind": ["embedder"]}),
     r"unknown exported model kind \['embedder'\]"),
    ("kind-other-without-estimator", "petnet", _onnx(drop=["estimator"]),
     META + r"estimator=None"),
    ("versions-a-list-in-newer-file", "embedder", _onnx(meta={"format_version": 99,
                                                               "versions": [1]}),
     r"exported by skreid \? with metadata format 99"),
    ("kind-other", "petnet", _onnx(), r"holds a skreid\.reid\.Toy export \(kind 'embedder'\), "
                                      r"not a 'petnet'"),
    ("format-version-text", "embedder", _onnx(meta={"format_version": "one"}),
     r"the 'skreid' metadata is not valid skreid JSON"),
    ("format-version-newer", "embedder", _onnx(meta={"format_version": 99}),
     r"metadata format 99.*Upgrade skreid"),
    ("metadata-not-json", "embedder", _onnx(raw_meta="{not json"),
     r"the 'skreid' metadata is not valid skreid JSON"),
    ("metadata-a-list", "embedder", _onnx(raw_meta="[1, 2]"),
     r"the 'skreid' metadata is not valid skreid JSON"),
    ("metadata-missing", "embedder", _onnx(raw_meta=""), r"not valid skreid JSON"),
    ("input-renamed", "embedder", _onnx(input_name="pixels"),
     r"expected one input 'images'.*found inputs \['pixels'\]"),
    ("output-renamed", "embedder", _onnx(outputs=["features"]),
     r"outputs \['embeddings'\].*found .*outputs \['features'\]"),
    ("petnet-classes-missing", "petnet", _onnx("petnet", drop=["classes"]),
     META + r"classes=None, expected a non-empty list"),
    ("petnet-classes-empty", "petnet", _onnx("petnet", meta={"classes": []}),
     META + r"classes=\[\]"),
    ("petnet-classes-dict", "petnet", _onnx("petnet", meta={"classes": {"a": 1}}),
     META + r"classes=\{'a': 1\}"),
    ("petnet-classes-bool", "petnet", _onnx("petnet", meta={"classes": [True, False]}),
     META + r"classes=\[True, False\]"),
    ("petnet-classes-dtype-object", "petnet", _onnx("petnet", meta={"classes_dtype": "|O"}),
     META + r"classes_dtype='\|O', expected a numeric or string NumPy dtype"),
    ("petnet-classes-dtype-garbage", "petnet", _onnx("petnet", meta={"classes_dtype": "zz"}),
     META + r"classes_dtype='zz'"),
    ("petnet-segmentation-unknown", "petnet", _onnx("petnet", meta={"segmentation": "panoptic"}),
     META + r"segmentation='panoptic', expected 'binary' or 'trimap'"),
    ("not-an-onnx-file", "embedder", lambda tmp: _write(tmp / "crafted.onnx", b"not onnx"),
     r"crafted\.onnx' is not a loadable ONNX model"),
]


def _write(path, data):
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("case, kind, make, pattern", ONNX_CASES, ids=[c[0] for c in ONNX_CASES])
def test_crafted_onnx_metadata_is_refused_by_name(tmp_path, monkeypatch, case, kind, make,
                                                  pattern):
    path = make(tmp_path)
    _run_case(tmp_path, monkeypatch, lambda: _load_onnx(kind)(path), ValueError, pattern)


# ----------------------------------------------------------------------- metric inputs
Q, G = RNG.rand(4, 3), RNG.rand(8, 3)
QI, GI = [0, 1, 2, 3], [0, 1, 2, 3, 0, 1, 2, 3]


def _nan(X, row=1):
    X = X.copy()
    X[row, 0] = np.nan
    return X


def _inf(X, row=0):
    X = X.copy()
    X[row, 1] = np.inf
    return X


D = RNG.rand(4, 8)
METRIC_CASES = [
    ("evaluate-nan-query", lambda: evaluate_reid(_nan(Q), QI, G, GI),
     r"query_features contains NaN values \(in 1 row\(s\), first at row 1\)"),
    ("evaluate-nan-gallery", lambda: evaluate_reid(Q, QI, _nan(G, 5), GI),
     r"gallery_features contains NaN values .*first at row 5"),
    ("evaluate-inf-query", lambda: evaluate_reid(_inf(Q), QI, G, GI),
     r"query_features contains infinite values"),
    ("evaluate-1d-query", lambda: evaluate_reid(Q[0], QI, G, GI), r"query_features"),
    ("evaluate-3d-gallery", lambda: evaluate_reid(Q, QI, G[None], GI), r"gallery_features"),
    ("evaluate-width-mismatch", lambda: evaluate_reid(Q, QI, RNG.rand(8, 5), GI),
     r"gallery_features"),
    ("evaluate-ids-length", lambda: evaluate_reid(Q, QI[:3], G, GI), r"query_ids"),
    ("evaluate-gallery-ids-length", lambda: evaluate_reid(Q, QI, G, GI[:5]), r"gallery_ids"),
    ("evaluate-strings", lambda: evaluate_reid(np.array([["a", "b", "c"]] * 4), QI, G, GI),
     r"query_features must hold real numbers, got dtype <U1"),
    ("evaluate-complex", lambda: evaluate_reid(Q + 1j, QI, G, GI),
     r"query_features must hold real numbers, got dtype complex128"),
    ("rerank-complex", lambda: rerank_k_reciprocal(Q, G + 1j), r"gallery_features must hold real"),
    ("index-complex", lambda: GalleryIndex().add(G + 1j),
     r"embeddings must be a 2-D array of numbers"),
    ("evaluate-unknown-metric", lambda: evaluate_reid(Q, QI, G, GI, metric="hamming-ish"),
     r"metric"),
    ("evaluate-ids-2d", lambda: evaluate_reid(Q, np.zeros((4, 2)), G, GI),
     r"query_ids must be 1-D"),
    ("cmc-nan-distances", lambda: cmc_curve(_nan(D), QI, GI),
     r"distances contains NaN or infinite values"),
    ("cmc-1d-distances", lambda: cmc_curve(D[0], QI, GI), r"distances must be 2-D"),
    ("cmc-ids-length", lambda: cmc_curve(D, QI[:2], GI), r"query_ids"),
    ("cmc-chunk-size-zero", lambda: cmc_curve(D, QI, GI, chunk_size=0), r"chunk_size"),
    ("map-ap-mode", lambda: mean_average_precision(D, QI, GI, ap_mode="voc"), r"ap_mode"),
    ("map-nan-distances", lambda: mean_average_precision(_nan(D), QI, GI), r"distances"),
    ("rerank-nan-query", lambda: rerank_k_reciprocal(_nan(Q), G),
     r"query_features contains NaN values"),
    ("rerank-inf-gallery", lambda: rerank_k_reciprocal(Q, _inf(G)),
     r"gallery_features contains infinite values"),
    ("rerank-width-mismatch", lambda: rerank_k_reciprocal(Q, RNG.rand(8, 5)),
     r"gallery_features has 5 features but query_features has 3"),
    ("rerank-k1-zero", lambda: rerank_k_reciprocal(Q, G, k1=0), r"k1"),
    ("rerank-k2-zero", lambda: rerank_k_reciprocal(Q, G, k2=0), r"k2"),
    ("rerank-lambda-negative", lambda: rerank_k_reciprocal(Q, G, lambda_value=-0.1),
     r"lambda_value"),
    ("rerank-lambda-above-1", lambda: rerank_k_reciprocal(Q, G, lambda_value=2), r"lambda_value"),
    ("rerank-metric-unknown", lambda: rerank_k_reciprocal(Q, G, metric="hamming"), r"metric"),
    ("rerank-empty", lambda: rerank_k_reciprocal(np.zeros((0, 3)), G),
     r"query_features must be a non-empty 2-D array"),
    ("qe-nan-query", lambda: average_query_expansion(_nan(Q), G),
     r"query_features contains NaN values"),
    ("qe-k-negative", lambda: average_query_expansion(Q, G, k=-1), r"k must be an int >= 0"),
    ("qe-alpha-negative", lambda: average_query_expansion(Q, G, alpha=-1.0), r"alpha"),
    ("index-nan-add", lambda: GalleryIndex().add(_nan(G)),
     r"embeddings contains NaN values \(in 1 row\(s\), first at row 1\)"),
    ("index-nan-search", lambda: GalleryIndex().add(G).search(_nan(Q), 2),
     r"queries contains NaN values"),
    ("index-width-search", lambda: GalleryIndex().add(G).search(RNG.rand(2, 5), 2),
     r"queries have 5 features but the index holds 3-d"),
    ("index-k-zero", lambda: GalleryIndex().add(G).search(Q, 0), r"k"),
    ("index-exclusion-without-cameras", lambda: GalleryIndex().add(G).search(
        Q, 2, exclude_same_camera=True), r"exclude_same_camera=True needs query_cameras"),
    ("index-empty-search", lambda: GalleryIndex().search(Q, 1), r"k|empty"),
    ("blocked-distances-nan", lambda: BlockedDistances(_nan(Q), G, "euclidean"),
     r"the query or gallery features contain NaN values \(1 row\(s\), first at row 1\)"),
    ("blocked-distances-overflow", lambda: BlockedDistances(
        np.full((2, 2), 1e20, np.float32), np.ones((2, 2), np.float32), "euclidean"),
     r"too large: their distances overflow float32"),
]


@pytest.mark.parametrize("case, action, pattern", METRIC_CASES, ids=[c[0] for c in METRIC_CASES])
def test_bad_metric_inputs_raise_a_named_error(tmp_path, monkeypatch, case, action, pattern):
    _run_case(tmp_path, monkeypatch, action, ValueError, pattern)


# ------------------------------------------------------------------ numeric parameters
def _connect(**kwargs):
    pytest.importorskip("distributed")
    from skreid.parallel import connect

    return lambda: connect("tcp://127.0.0.1:9", **kwargs)


def _embed(**kwargs):
    from skreid.parallel import embed_images

    return lambda: embed_images("model.skreid", ["a.jpg"], client="tcp://127.0.0.1:9", **kwargs)


def _fetch(**kwargs):
    from skreid.datasets import fetch_oxford_pets

    return lambda: fetch_oxford_pets(data_home="data", download_if_missing=False, **kwargs)


TIMEOUT = r"timeout must be a positive number of seconds, got "
PARAM_CASES = [
    ("connect-timeout-negative", lambda: _connect(timeout=-1)(), TIMEOUT + r"-1\."),
    ("connect-timeout-zero", lambda: _connect(timeout=0)(), TIMEOUT + r"0\."),
    ("connect-timeout-text", lambda: _connect(timeout="10")(), TIMEOUT + r"'10'\."),
    ("connect-timeout-nan", lambda: _connect(timeout=float("nan"))(), TIMEOUT + r"nan"),
    ("connect-timeout-bool", lambda: _connect(timeout=True)(), TIMEOUT + r"True\."),
    ("embed-timeout-negative", lambda: _embed(timeout=-1)(), TIMEOUT + r"-1\."),
    ("embed-timeout-inf", lambda: _embed(timeout=float("inf"))(), TIMEOUT + r"inf"),
    ("embed-timeout-none", lambda: _embed(timeout=None)(), TIMEOUT + r"None"),
    ("fetch-timeout-negative", lambda: _fetch(timeout=-1)(), TIMEOUT + r"-1\."),
    ("fetch-retries-negative", lambda: _fetch(n_retries=-1)(),
     r"n_retries must be an int >= 0, got -1"),
    ("fetch-retries-float", lambda: _fetch(n_retries=2.5)(),
     r"n_retries must be an int >= 0, got 2\.5"),
]


@pytest.mark.parametrize("case, action, pattern", PARAM_CASES, ids=[c[0] for c in PARAM_CASES])
def test_numeric_parameters_are_checked_by_name(tmp_path, monkeypatch, case, action, pattern):
    _run_case(tmp_path, monkeypatch, action, ValueError, pattern)


# ---------------------------------------------------------- a directory passed as a file
def _dir(name="given"):
    def make(tmp):
        (tmp / name).mkdir()
        return tmp / name
    return make


def _runtime(path):
    from skreid.runtime import OnnxEmbedder

    return OnnxEmbedder(path).fit()


def _metadata(path):
    from skreid.runtime import read_onnx_metadata

    return read_onnx_metadata(path)


def _embed_from(path):
    from skreid.parallel import embed_images

    return embed_images(path, ["a.jpg"])


DIR_CASES = [
    ("load-model", skreid.load, UnsafeArchiveError, r"given: is a folder, not a skreid file"),
    ("read-metadata", skreid.saving.read_metadata, UnsafeArchiveError,
     r"given: is a folder, not a skreid file"),
    ("load-index", GalleryIndex.load, UnsafeArchiveError, r"given: is a folder"),
    ("onnx-embedder", _runtime, IsADirectoryError,
     r"ONNX model path '.*given' is a directory, not a file"),
    ("read-onnx-metadata", _metadata, IsADirectoryError, r"given' is a directory"),
    ("embed-images-model", _embed_from, IsADirectoryError, r"given' is a directory"),
    ("check-weights", lambda p: skreid.utils.check_weights(p), ValueError,
     r"weights is a directory: '.*given'"),
]


@pytest.mark.parametrize("case, action, error, pattern", DIR_CASES, ids=[c[0] for c in DIR_CASES])
def test_a_directory_is_called_a_directory(tmp_path, monkeypatch, case, action, error, pattern):
    path = _dir()(tmp_path)
    _run_case(tmp_path, monkeypatch, lambda: action(path), error, pattern)
    assert not issubclass(error, FileNotFoundError)


def test_case_count():
    """The size of this table (reported in the closing note of issue 25)."""
    n = len(FIT_CASES) + len(CALL_CASES) + len(WARN_CASES) + len(LOAD_CASES) + \
        len(SAVE_CASES) + len(INDEX_CASES) + len(ONNX_CASES) + len(METRIC_CASES) + \
        len(PARAM_CASES) + len(DIR_CASES)
    assert n >= 200, n


def test_exports_fitted_on_01_floats_run_like_their_estimator(tmp_path):
    """A pets network and an embedder fitted on [0, 1] floats: their exports record
    pixel_range 1.0, and the runtime reads uint8 and [0, 1] images as the estimator does
    (a pets export of a [0, 1] fit failed its own verification before issue 25)."""
    pytest.importorskip("tf2onnx")
    from skreid import export_onnx
    from skreid.runtime import OnnxEmbedder, OnnxPetNet

    pets = _multitask().fit(IMAGES / 255.0, BREEDS)
    triplet = _triplet().fit(IMAGES / 255.0, IDS)
    for est, cls, method in ((pets, OnnxPetNet, "predict_proba"),
                             (triplet, OnnxEmbedder, "transform")):
        path = tmp_path / f"{type(est).__name__}.onnx"
        meta = export_onnx(est, path)
        assert meta["input"]["pixel_range"] == 1.0
        runtime = cls(path).fit()
        for X in (IMAGES, IMAGES / 255.0):
            np.testing.assert_allclose(getattr(runtime, method)(X), getattr(est, method)(X),
                                       atol=1e-4)
        with pytest.raises(ValueError, match=r"fitted on float pixels in \[0, 1\]"):
            getattr(runtime, method)(IMAGES.astype(np.float32))
