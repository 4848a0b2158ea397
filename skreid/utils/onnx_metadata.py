"""What a skreid ONNX file records about itself, and reading it back (no TensorFlow here; in
skreid.utils because both the exporter in skreid._keras and skreid.runtime use it).

:func:`skreid.export_onnx` writes one JSON document under the ONNX ``metadata_props`` key
:data:`METADATA_KEY` (plus a few flat keys, such as ``skreid_version`` and ``onnx_opset``,
for tools that list metadata without parsing JSON). The runtime reads it with onnxruntime's
``get_modelmeta()``, so neither side needs the ``onnx`` package at inference time.
"""

import json
import os

__all__ = ["METADATA_KEY", "FORMAT_VERSION", "KINDS", "OPTIONAL_OUTPUTS", "INPUT_NAME",
           "check_onnx_path", "parse_metadata"]

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
    except (ValueError, TypeError, KeyError):
        raise ValueError(f"{path!r}: the {METADATA_KEY!r} metadata is not valid skreid JSON.") \
            from None
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path!r} was exported by skreid {meta.get('versions', {}).get('skreid', '?')} "
            f"with metadata format {version}; this skreid reads up to {FORMAT_VERSION}. "
            f"Upgrade skreid."
        )
    if meta.get("kind") not in KINDS:
        raise ValueError(f"{path!r}: unknown exported model kind {meta.get('kind')!r}.")
    if kind is not None and meta["kind"] != kind:
        wanted = {"embedder": "OnnxEmbedder", "petnet": "OnnxPetNet"}[meta["kind"]]
        raise ValueError(
            f"{path!r} holds a {meta['estimator']} export (kind {meta['kind']!r}), not a "
            f"{kind!r}: load it with skreid.runtime.{wanted}."
        )
    return meta
