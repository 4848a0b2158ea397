"""Small bad (and good) inputs written to disk, shared by the bad-input and robustness tests."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MARKET_FOLDERS = ("bounding_box_train", "bounding_box_test", "query")


def jpeg_bytes(seed=0, shape=(16, 8, 3), fmt="JPEG"):
    """A small real image encoded in memory."""
    pixels = np.random.RandomState(seed).randint(0, 256, shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def png_bomb(width=20000, height=20000):
    """A PNG whose header claims ``width x height`` pixels (400 M by default, above Pillow's
    decompression-bomb limit) with one empty data chunk: Pillow refuses it when opening."""

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def write_image_folder(root, n_ids=3, per_id=2, seed=0):
    """``root/<id>/<image>.jpg``: n_ids identities of per_id images (cameras c1, c2, ...)."""
    root = Path(root)
    for i in range(n_ids):
        (root / f"person{i}").mkdir(parents=True, exist_ok=True)
        for k in range(per_id):
            (root / f"person{i}" / f"img{k}_c{k + 1}.jpg").write_bytes(
                jpeg_bytes(seed + 10 * i + k))
    return root


def write_market(root, n_ids=4, per_split=2, seed=0):
    """A tiny standard Market-1501 layout (train ids 1..n_ids, test ids n_ids+1..2*n_ids)."""
    root = Path(root)
    for folder in MARKET_FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for pid in range(1, 2 * n_ids + 1):
        for k in range(per_split):
            name = f"{pid:04d}_c{k + 1}s1_{k:06d}_01.jpg"
            split = "bounding_box_train" if pid <= n_ids else (
                "query" if k == 0 else "bounding_box_test")
            (root / split / name).write_bytes(jpeg_bytes(seed + 10 * pid + k, (32, 16, 3)))
    return root


def write_pets(root, n=4, seed=0):
    """A tiny Oxford-IIIT Pet layout: images/, annotations/{trimaps/, list.txt}."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        name = f"Abyssinian_{i + 1}" if i % 2 == 0 else f"beagle_{i + 1}"
        (root / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(seed + i, (24, 24, 3)))
        trimap = np.random.RandomState(i).randint(1, 4, (24, 24), dtype=np.uint8)
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} {1 if i % 2 == 0 else 5} {1 if i % 2 == 0 else 2} 1")
    (root / "annotations" / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def snapshot(root):
    """Every path under ``root`` with its size and content hash (to check nothing changed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[rel] = ("file", zlib.crc32(fh.read()))
            else:
                out[rel] = ("dir",)
    return out


# ------------------------------------------------------------------ crafted ONNX exports
TOY_SHAPE = (4, 2, 3)  # height, width, channels of the toy exports' input


def toy_onnx(path, kind="embedder", *, meta=None, drop=(), raw_meta=None, input_name="images",
             outputs=None, pixel_range=255.0):
    """A tiny skreid-style ONNX export built with onnx.helper (no Keras): ``images`` (n, 4, 2,
    3) -> ``embeddings`` (a projection, L2-normalised) or ``breed_proba`` + ``mask_proba``.
    ``meta`` overrides (None values delete) and ``drop`` remove keys of the skreid document;
    ``raw_meta`` replaces the document's text; ``pixel_range=...`` (the default) or a value:
    pass ``pixel_range="absent"`` for a file written before skreid recorded it."""
    import json

    import onnx
    from onnx import TensorProto, helper

    n_in = int(np.prod(TOY_SHAPE))
    w = np.random.default_rng(0).normal(size=(n_in, 5)).astype("f4")
    shape = [None, *TOY_SHAPE]
    if kind == "embedder":
        names = outputs or ["embeddings"]
        nodes = [helper.make_node("Reshape", [input_name, "flat_shape"], ["flat"]),
                 helper.make_node("MatMul", ["flat", "W"], ["proj"]),
                 helper.make_node("LpNormalization", ["proj"], [names[0]], axis=1, p=2)]
        inits = [helper.make_tensor("flat_shape", TensorProto.INT64, [2], [-1, n_in]),
                 onnx.numpy_helper.from_array(w, "W")]
        outs = [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [None, 5])]
    else:
        names = outputs or ["breed_proba", "mask_proba"]
        nodes = [helper.make_node("ReduceMean", [input_name], ["pooled"], axes=[1, 2],
                                  keepdims=0),
                 helper.make_node("MatMul", ["pooled", "W"], ["logits"]),
                 helper.make_node("Softmax", ["logits"], [names[0]], axis=1),
                 helper.make_node("ReduceMean", [input_name], ["grey"], axes=[3], keepdims=1),
                 helper.make_node("Sigmoid", ["grey"], [names[1]])]
        inits = [onnx.numpy_helper.from_array(w[:3, :2].copy(), "W")]
        outs = [helper.make_tensor_value_info(names[0], TensorProto.FLOAT, [None, 2]),
                helper.make_tensor_value_info(names[1], TensorProto.FLOAT,
                                              [None, None, None, 1])]
        shape = [None, None, None, 3]
    graph = helper.make_graph(
        nodes, "toy", [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, shape)],
        outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    scale = "pixels in [0, 1] (the fit data's range)" if pixel_range == 1.0 else \
        "pixels in [0, 255]"
    doc = {"format_version": 1, "kind": kind, "estimator": "skreid.reid.Toy",
           "input": {"name": "images", "layout": "NHWC", "dtype": "float32", "shape": shape,
                     "scale": scale, "pixel_range": pixel_range},
           "outputs": names, "metric": "euclidean"}
    if pixel_range == "absent":
        del doc["input"]["pixel_range"]
        doc["input"]["scale"] = "pixels in [0, 255]"
    if kind == "petnet":
        doc.update(estimator="skreid.pets.Toy", classes=["cat", "dog"], classes_dtype=None,
                   segmentation="binary")
        del doc["metric"]
    for key, value in (meta or {}).items():
        target, name = (doc["input"], key[6:]) if key.startswith("input.") else (doc, key)
        if value is None:
            target.pop(name, None)
        else:
            target[name] = value
    for key in drop:
        doc.pop(key, None)
    helper.set_model_props(model, {"skreid": raw_meta if raw_meta is not None
                                   else json.dumps(doc)})
    onnx.save(model, path)
    return str(path)


def toy_images(n=6, shape=TOY_SHAPE, dtype=np.uint8, seed=0):
    """Images for the toy exports (pixels 0-255 of ``dtype``)."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, *shape)).astype(dtype)


# -------------------------------------------------------------------- crafted archives
def rewrite_archive(src, dst, *, kind, meta=None, arrays=None, files=None):
    """A skreid archive rewritten from ``src`` with edits (a crafted file): ``meta(m)`` edits
    the manifest's meta in place; ``arrays`` / ``files`` map member names to new values, or to
    None to leave the member out."""
    from skreid.utils import read_archive, write_archive

    arc = read_archive(src, kind=kind, max_format_version=99)
    m = arc.meta
    if meta is not None:
        meta(m)
    new_arrays = {**arc.arrays, **(arrays or {})}
    new_files = {**arc.files, **(files or {})}
    write_archive(dst, kind=kind, format_version=arc.format_version, meta=m,
                  arrays={k: v for k, v in new_arrays.items() if v is not None},
                  files={k: v for k, v in new_files.items() if v is not None})
    return dst


def model_tree(cls, params=None, attrs=None):
    """The JSON tree ``skreid.save`` writes for one estimator (for crafted model files)."""
    return {"__skreid__": "estimator", "class": cls, "params": params or {},
            "attrs": attrs or {}}


def crafted_model(path, tree, *, arrays=None, files=None):
    """A model file holding ``tree`` (written with the archive writer, as a forger would)."""
    from skreid.utils import write_archive

    write_archive(path, kind="model", format_version=1,
                  meta={"estimator": tree, "metadata": {}}, arrays=arrays, files=files)
    return path
