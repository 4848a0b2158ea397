"""What :meth:`GalleryIndex.load <skreid.search.GalleryIndex.load>` checks in a file before
using it: a crafted or damaged index (a garbage faiss member, a faiss index of another width,
ids without their flags, unknown members, NaN embeddings) is refused with a ValueError naming
the file and what is wrong, never left to fail later as an IndexError or a faiss crash.
"""

import numbers

import numpy as np

from skreid.search import _faiss
from skreid.utils import check_finite

__all__ = ["check_index_archive", "load_faiss_member"]

_ARRAYS = {"embeddings", "keys", "ids", "has_id", "cameras"}
_FILES = {"faiss.index"}
_META = ("metric", "backend", "faiss_params", "model_fingerprint", "n_features", "n_items")


def _bad(where, what):
    raise ValueError(f"{where}: not a valid gallery index ({what}).")


def _is_int(value, low=0):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= low


def check_index_archive(meta, arrays, files, where):
    """Raise ValueError naming ``where`` unless the archive's parts form a valid index."""
    if not isinstance(meta, dict):
        _bad(where, "the manifest's meta is not a JSON object")
    missing = [k for k in _META if k not in meta]
    if missing:
        _bad(where, f"{missing[0]!r} is missing from the manifest")
    if not (meta["faiss_params"] is None or isinstance(meta["faiss_params"], dict)):
        _bad(where, f"faiss_params={meta['faiss_params']!r:.60} is not a JSON object")
    if not (meta.get("user") is None or isinstance(meta.get("user"), dict)):
        _bad(where, "its user metadata is not a JSON object")
    extra = sorted(set(arrays) - _ARRAYS) + sorted(set(files) - _FILES)
    if extra:
        _bad(where, f"unknown member {extra[0]!r}")
    if "embeddings" not in arrays:
        _bad(where, "no embeddings")
    emb = arrays["embeddings"]
    if emb.ndim != 2 or emb.dtype != np.float32:
        _bad(where, f"embeddings must be a 2-D float32 array, got {emb.ndim}-D {emb.dtype}")
    n = emb.shape[0]
    if not _is_int(meta["n_items"]) or meta["n_items"] != n:
        _bad(where, f"the manifest says n_items={meta['n_items']!r} but it holds {n} embeddings")
    if n and (not _is_int(meta["n_features"], 1) or meta["n_features"] != emb.shape[1]):
        _bad(where, f"the manifest says n_features={meta['n_features']!r} but the embeddings "
                    f"are {emb.shape[1]}-d")
    try:
        check_finite(emb, "its embeddings")
    except ValueError as exc:
        _bad(where, str(exc).rstrip("."))
    for name, kinds, what in (("keys", "U", "strings"), ("ids", "iuU", "ints or strings"),
                              ("has_id", "b", "booleans"), ("cameras", "iu", "ints")):
        if name in arrays:
            a = arrays[name]
            if a.shape != (n,) or a.dtype.kind not in kinds:
                _bad(where, f"{name} must be {n} {what}, got shape {a.shape} dtype {a.dtype}")
    if ("ids" in arrays) != ("has_id" in arrays):
        present, absent = ("ids", "has_id") if "ids" in arrays else ("has_id", "ids")
        _bad(where, f"{present} without {absent}: the identities and their known-flags are "
                    f"written together")
    if "keys" in arrays and len(np.unique(arrays["keys"])) != n:
        _bad(where, "its keys are not unique")
    if "faiss.index" in files:
        if meta["backend"] != "faiss":
            _bad(where, f"a faiss member in an index with backend={meta['backend']!r}")
        check_faiss_info(meta.get("faiss_info"), where)


def check_faiss_info(info, where):
    """The recorded faiss index type and search parameters :func:`faiss_search` reads."""
    kind = info.get("index_type") if isinstance(info, dict) else None
    needs = {"hnsw": "efSearch", "ivf": "nprobe"}.get(kind)
    if needs is None:
        _bad(where, f"faiss_info={info!r:.80} does not name an 'hnsw' or 'ivf' index")
    if not _is_int(info.get(needs), 1):
        _bad(where, f"faiss_info[{needs!r}]={info.get(needs)!r:.40} is not an int >= 1")


def load_faiss_member(data, info, n_items, n_features, metric, where):
    """The faiss index stored in an index file, checked against the file's embeddings: the
    index type recorded, ``n_items`` vectors of ``n_features`` dimensions, the metric."""
    faiss = _faiss.import_faiss()
    try:
        index = _faiss.deserialize(data)
    except Exception as exc:  # faiss raises RuntimeError with its C++ message
        _bad(where, f"the faiss member cannot be read ({type(exc).__name__}: "
                    f"{str(exc).splitlines()[0][-160:]})")
    expected = {"hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}[info["index_type"]]
    if not isinstance(index, expected):
        _bad(where, f"the faiss member is a {type(index).__name__}, not the "
                    f"{expected.__name__} its faiss_info records")
    if index.d != n_features:
        _bad(where, f"the faiss member holds {index.d}-d vectors but the embeddings are "
                    f"{n_features}-d")
    if index.ntotal != n_items:
        _bad(where, f"the faiss member holds {index.ntotal} vectors for {n_items} items")
    want = faiss.METRIC_INNER_PRODUCT if metric == "cosine" else faiss.METRIC_L2
    if index.metric_type != want:
        _bad(where, f"the faiss member does not search by the index's metric {metric!r}")
    return index
