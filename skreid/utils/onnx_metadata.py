"""What a skreid ONNX file records about itself, and reading it back (no TensorFlow here; in
skreid.utils because both the exporter in skreid._keras and skreid.runtime use it).

:func:`skreid.export_onnx` writes one JSON document under the ONNX ``metadata_props`` key
:data:`METADATA_KEY` (plus a few flat keys, such as ``skreid_version`` and ``onnx_opset``,
for tools that list metadata without parsing JSON). The runtime reads it with onnxruntime's
``get_modelmeta()``, so neither side needs the ``onnx`` package at inference time.
"""

import json
import os

import numpy as np

__all__ = ["METADATA_KEY", "FORMAT_VERSION", "KINDS", "OPTIONAL_OUTPUTS", "INPUT_NAME",
           "check_onnx_path", "parse_metadata", "fitted_pixel_range"]

#: the metadata_props key holding skreid's JSON document
METADATA_KEY = "skreid"
#: version of that document's layout; a newer one is refused by older runtimes
#: (2: an embedder graph may have the ``activation_maps`` output)
FORMAT_VERSION = 2
#: estimator kind -> the outputs every graph of that kind has
KINDS = {
    "embedder": ("embeddings",),
    "petnet": ("breed_proba", "mask_proba"),
}
#: estimator kind -> outputs a graph of that kind may have besides (format 2 on)
OPTIONAL_OUTPUTS = {
    "embedder": ("activation_maps",),
    "petnet": (),
}
#: name of the single image input of every exported graph
INPUT_NAME = "images"


def check_onnx_path(path):
    """Return ``path`` as a str if it names an existing file, else raise FileNotFoundError."""
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or path-like naming an .onnx file, got {path!r}.")
    path = os.fspath(path)
    if os.path.isdir(path):
        raise IsADirectoryError(
            f"ONNX model path {path!r} is a directory, not a file: pass the .onnx file."
        )
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"ONNX model file not found: {path!r}. Export one with "
            f"skreid.export_onnx(estimator, path) or `skreid export MODEL --format onnx`."
        )
    return path


def parse_metadata(custom_metadata, path, kind=None):
    """Validate and return the skreid document of an ONNX file's ``metadata_props``.

    Parameters
    ----------
    custom_metadata : dict of str
        ``metadata_props`` as a dict (onnxruntime's ``custom_metadata_map``).
    path : str
        The file, named in error messages.
    kind : {"embedder", "petnet"}, optional
        The kind the caller needs; another kind is refused.
    """
    raw = custom_metadata.get(METADATA_KEY)
    if raw is None:
        raise ValueError(
            f"{path!r} is an ONNX model but not a skreid export (no {METADATA_KEY!r} metadata); "
            f"export the estimator with skreid.export_onnx."
        )
    try:
        meta = json.loads(raw)
        version = int(meta["format_version"])
        if not isinstance(meta, dict):
            raise TypeError
    except (ValueError, TypeError, KeyError, IndexError):
        raise ValueError(f"{path!r}: the {METADATA_KEY!r} metadata is not valid skreid JSON.") \
            from None
    if version > FORMAT_VERSION:
        versions = meta.get("versions") if isinstance(meta.get("versions"), dict) else {}
        raise ValueError(
            f"{path!r} was exported by skreid {versions.get('skreid', '?')} "
            f"with metadata format {version}; this skreid reads up to {FORMAT_VERSION}. "
            f"Upgrade skreid."
        )
    if not isinstance(meta.get("kind"), str) or meta["kind"] not in KINDS:
        raise ValueError(f"{path!r}: unknown exported model kind {meta.get('kind')!r}.")
    _check_document(meta, path)
    if kind is not None and meta["kind"] != kind:
        wanted = {"embedder": "OnnxEmbedder", "petnet": "OnnxPetNet"}[meta["kind"]]
        raise ValueError(
            f"{path!r} holds a {meta['estimator']} export (kind {meta['kind']!r}), not a "
            f"{kind!r}: load it with skreid.runtime.{wanted}."
        )
    return meta


def _bad(path, key, value, accepted):
    raise ValueError(
        f"{path!r}: the {METADATA_KEY!r} metadata has {key}={value!r:.80}, expected "
        f"{accepted}; the file was changed after skreid exported it."
    )


def _check_document(meta, path):
    """The fields the runtime reads, checked before use (a crafted file is refused by name)."""
    if not isinstance(meta.get("estimator"), str):
        _bad(path, "estimator", meta.get("estimator"), "the exported class name (a string)")
    inp = meta.get("input")
    if not isinstance(inp, dict):
        _bad(path, "input", inp, "a dict describing the image input")
    shape = inp.get("shape")
    if not (isinstance(shape, list) and len(shape) == 4 and all(
            v is None or (type(v) is int and v >= 1) for v in shape)):
        _bad(path, "input.shape", shape, "[batch, height, width, channels] of ints >= 1 or null")
    if shape[3] is None:
        _bad(path, "input.shape", shape, "a fixed number of channels")
    if inp.get("dtype") != "float32":
        _bad(path, "input.dtype", inp.get("dtype"), "'float32'")
    if not isinstance(inp.get("scale", ""), str):
        _bad(path, "input.scale", inp.get("scale"), "a description (a string)")
    if inp.get("pixel_range") not in (None, 1.0, 255.0):
        _bad(path, "input.pixel_range", inp.get("pixel_range"), "1.0, 255.0 or null")
    if meta["kind"] == "petnet":
        classes = meta.get("classes")
        if not (isinstance(classes, list) and classes and all(
                isinstance(c, (str, int, float)) and not isinstance(c, bool) for c in classes)):
            _bad(path, "classes", classes, "a non-empty list of class labels")
        dtype = meta.get("classes_dtype")
        try:
            ok = dtype is None or (isinstance(dtype, str) and np.dtype(dtype).kind in "biufUS")
        except TypeError:
            ok = False
        if not ok:
            _bad(path, "classes_dtype", dtype, "a numeric or string NumPy dtype, or null")
        if meta.get("segmentation") not in ("binary", "trimap"):
            _bad(path, "segmentation", meta.get("segmentation"), "'binary' or 'trimap'")


def fitted_pixel_range(meta):
    """The pixel scale the exported estimator was fitted on: 1.0, 255.0, or None (feature
    vectors, no pixel rule), as ``pixel_range_`` in :func:`skreid.utils.pixel_range`'s rule.

    Files written before skreid recorded ``input.pixel_range`` state it only in words: their
    ``input.scale`` says ``[0, 1]`` (a fit on [0, 1] floats) or ``[0, 255]``.
    """
    inp = meta["input"]
    if "pixel_range" in inp:
        return None if inp["pixel_range"] is None else float(inp["pixel_range"])
    return 1.0 if "[0, 1]" in inp.get("scale", "") else 255.0
