"""skreid.runtime without TensorFlow: files built here with onnx.helper (no Keras involved),
run by onnxruntime; bad files and bad images refused before any work.

Exports of real estimators, compared with Keras, are in tests/_keras/test_onnx_export.py.
"""

import json
import pickle
import subprocess
import sys

import numpy as np
import pytest
from sklearn.base import clone

onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402

from skreid.runtime import OnnxEmbedder, OnnxPetNet, read_onnx_metadata  # noqa: E402

SHAPE = (4, 2, 3)  # height, width, channels of the toy embedder's input
N_DIMS = 5


def _weights():
    return np.random.default_rng(0).normal(size=(int(np.prod(SHAPE)), N_DIMS)).astype("f4")


def _embedder_file(path, *, meta_overrides=None, with_meta=True, shape=SHAPE):
    """images (n, 4, 2, 3) -> flatten -> matmul -> L2-normalise, with skreid metadata."""
    nodes = [
        helper.make_node("Reshape", ["images", "flat_shape"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["proj"]),
        helper.make_node("LpNormalization", ["proj"], ["embeddings"], axis=1, p=2),
    ]
    inits = [helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, int(np.prod(shape))]),
             onnx.numpy_helper.from_array(_weights()[: int(np.prod(shape))], "W")]
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                                     [None, *shape])],
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [None, N_DIMS])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if with_meta:
        meta = {"format_version": 1, "kind": "embedder", "estimator": "skreid.reid.Toy",
                "input": {"name": "images", "layout": "NHWC", "dtype": "float32",
                          "shape": [None, *shape], "scale": "pixels in [0, 255]"},
                "outputs": ["embeddings"], **(meta_overrides or {})}
        helper.set_model_props(model, {"skreid": json.dumps(meta)})
    onnx.save(model, path)
    return str(path)


def _images(n, shape=SHAPE, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape)).astype(np.uint8)


def _reference(X):
    e = X.reshape(len(X), -1).astype("f4") @ _weights()
    return e / np.linalg.norm(e, axis=1, keepdims=True)


@pytest.fixture
def toy(tmp_path):
    return _embedder_file(tmp_path / "toy.onnx")


def test_embedder_transforms_and_matches_a_gallery(toy):
    X, ids = _images(12), np.repeat(np.arange(6), 2)
    est = OnnxEmbedder(toy, batch_size=5).fit(X, ids)
    np.testing.assert_allclose(est.transform(X), _reference(X), atol=1e-5)
    assert est.score(X, ids) == 1.0  # each image finds itself in the gallery
    assert est.kneighbors(X[:3], n_neighbors=1, return_distance=False).ravel().tolist() == \
        [0, 1, 2]
    assert est.input_shape_ == SHAPE and est.n_features_in_ == 24
    assert est.metadata_["estimator"] == "skreid.reid.Toy"
    assert read_onnx_metadata(toy)["kind"] == "embedder"


def test_gallery_can_be_set_after_a_plain_fit(toy):
    X, ids = _images(6), [0, 0, 1, 1, 2, 2]
    est = OnnxEmbedder(toy).fit()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="no gallery.*set_gallery"):
        est.predict(X)
    est.set_gallery(X, ids)
    assert est.score(X, ids) == 1.0
    with pytest.raises(NotFittedError, match="call fit"):
        OnnxEmbedder(toy).set_gallery(X, ids)


def test_embedder_pickles_and_clones(toy):
    X = _images(4)
    est = OnnxEmbedder(toy).fit(X, [0, 0, 1, 1])
    back = pickle.loads(pickle.dumps(est))  # the onnxruntime session is re-opened
    np.testing.assert_array_equal(back.transform(X), est.transform(X))
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    assert clone(est).get_params()["path"] == toy


def test_wrong_image_shape_names_the_file_and_the_shape(toy):
    est = OnnxEmbedder(toy).fit()
    with pytest.raises(ValueError, match=r"\(8, 4, 3\).*toy\.onnx.*expects images of shape "
                                         r"\(4, 2, 3\)"):
        est.transform(_images(2, (8, 4, 3)))
    with pytest.raises(ValueError, match=r"expects images of shape \(4, 2, 3\)"):
        OnnxEmbedder(toy).fit(_images(2, (4, 2, 1)), [0, 1])
    flat = _images(2).reshape(2, -1)  # flat rows of the right size are read as images
    np.testing.assert_array_equal(est.transform(flat), est.transform(_images(2)))
    with pytest.raises(ValueError, match=r"23 features.*toy\.onnx.*\(4, 2, 3\)"):
        est.transform(flat[:, :-1])


@pytest.mark.parametrize("content, match", [
    (None, "not found"),
    (b"not an onnx model", "not a loadable ONNX model"),
])
def test_missing_or_invalid_file(tmp_path, content, match):
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match=match) as info:
        OnnxEmbedder(path).fit()
    assert "model.onnx" in str(info.value)


def test_foreign_newer_and_wrong_kind_files_are_refused(tmp_path):
    plain = _embedder_file(tmp_path / "plain.onnx", with_meta=False)
    with pytest.raises(ValueError, match="not a skreid export"):
        OnnxEmbedder(plain).fit()
    newer = _embedder_file(tmp_path / "newer.onnx", meta_overrides={"format_version": 99})
    with pytest.raises(ValueError, match="metadata format 99.*Upgrade skreid"):
        OnnxEmbedder(newer).fit()
    embedder = _embedder_file(tmp_path / "emb.onnx")
    with pytest.raises(ValueError, match="not a 'petnet'.*OnnxEmbedder"):
        OnnxPetNet(embedder).fit()


def test_parameters_are_checked_in_fit(toy):
    with pytest.raises(ValueError, match=r"'batch_size' parameter of OnnxEmbedder must be an "
                       r"int in the range \[1, inf\)\. Got 0"):
        OnnxEmbedder(toy, batch_size=0).fit()
    with pytest.raises(ValueError, match=r"'metric' parameter of OnnxEmbedder must be a str "
                                         r"among \{.*\}\. Got 'manhattan'"):
        OnnxEmbedder(toy, metric="manhattan").fit()
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        OnnxEmbedder(toy).transform(_images(1))


def test_runtime_runs_without_tensorflow(toy):
    """Embedding and matching in a fresh process load neither TensorFlow nor Keras."""
    code = f"""
import sys, numpy as np
from skreid.runtime import OnnxEmbedder
X = np.random.default_rng(0).integers(0, 256, size=(6, 4, 2, 3)).astype("uint8")
est = OnnxEmbedder({toy!r}).fit(X, [0, 0, 1, 1, 2, 2])
assert est.score(X, [0, 0, 1, 1, 2, 2]) == 1.0
print(sorted(m for m in ("tensorflow", "keras", "tf2onnx") if m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_activation_maps_need_a_file_that_has_them(toy):
    """A format-1 file (exported before the maps) has embeddings only: a clear error."""
    est = OnnxEmbedder(toy).fit()
    with pytest.raises(ValueError, match=r"toy.onnx.*has no 'activation_maps' output.*"
                                         r"metadata format 1 \(maps need format 2\).*"
                                         r"Export the estimator again"):
        est.activation_maps(_images(2))
    from skreid.plotting import plot_activation_maps

    with pytest.raises(ValueError, match="has no 'activation_maps' output"):
        plot_activation_maps(est, _images(2))
