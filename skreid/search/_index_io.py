"""The file format of :class:`~skreid.search.GalleryIndex`: writing and reading it safely.

A gallery index is a skreid archive (:mod:`skreid.utils`; JSON + ``.npy``, no pickle) of kind
``"gallery-index"`` holding exactly these members: ``embeddings`` (float32, n x d), the
optional per-item arrays ``keys`` (str), ``ids`` with ``has_id`` (bool), ``cameras`` (int)
and ``signatures`` (str: what each item's file was when it was embedded), and with the faiss
backend ``files/faiss.index`` (faiss's own serialisation). Reading checks every member against
the manifest's metadata before building the index, and refuses anything else with an
:class:`~skreid.utils.UnsafeArchiveError` (a ``ValueError``) that names what is wrong.
"""

import numbers
import os

import numpy as np

from skreid.search import _faiss
from skreid.search._entries import ENTRY_ARRAYS, EntryState
from skreid.utils import (
    DEFAULT_LOCK_TIMEOUT,
    UnsafeArchiveError,
    check_finite,
    read_archive,
    write_archive,
)

__all__ = ["save_index", "load_index", "ARCHIVE_KIND", "FORMAT_VERSION"]

ARCHIVE_KIND = "gallery-index"
#: 2: tracklets and camera statistics (:mod:`skreid.search._entries`), written only when used
FORMAT_VERSION = 2
ARRAYS = ("embeddings", "keys", "ids", "has_id", "cameras", "signatures", *ENTRY_ARRAYS)
FILES = ("faiss.index",)
# the per-item arrays and the dtype kinds each may have
_ITEM_KINDS = {"keys": "U", "ids": "iuU", "has_id": "b", "cameras": "iu", "signatures": "U"}


def save_index(index, path, *, overwrite=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Write ``index`` to ``path`` (see :meth:`GalleryIndex.save`)."""
    arrays = {"embeddings": index.embeddings}
    if index.keys is not None:
        arrays["keys"] = index.keys
    if index._ids is not None:
        arrays["ids"], arrays["has_id"] = index._ids, index._has_id
    if index.cameras is not None:
        arrays["cameras"] = index.cameras
    if index.signatures is not None:
        arrays["signatures"] = index.signatures
    files = {}
    if index.backend == "faiss" and len(index):
        index.build()
        files["faiss.index"] = _faiss.serialize(index._faiss)
    meta = {"metric": index.metric, "backend": index.backend,
            "faiss_params": index.faiss_params, "faiss_info": index._faiss_info,
            "model_fingerprint": index.model_fingerprint, "n_features": index.n_features,
            "n_items": len(index), "user": index.meta}
    extra_meta, extra_arrays = index._entries.to_archive(index.embeddings, index.cameras)
    meta.update(extra_meta)
    arrays.update(extra_arrays)
    write_archive(path, kind=ARCHIVE_KIND, format_version=2 if extra_meta else 1, meta=meta,
                  arrays=arrays, files=files, overwrite=overwrite, lock_timeout=lock_timeout)


def _int(meta, name, low=0):
    value = meta.get(name)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"{name} is {value!r:.40}, not an integer >= {low}")
    return int(value)


def _check_arrays(meta, arrays, has_faiss):
    """Raise ValueError naming the first member that disagrees with the metadata."""
    n = _int(meta, "n_items")
    emb = arrays.get("embeddings")
    if emb is None:
        raise ValueError("the embeddings member is missing")
    if emb.dtype != np.float32 or emb.ndim != 2 or emb.shape[0] != n:
        raise ValueError(f"embeddings are {emb.dtype} of shape {emb.shape}, expected float32 "
                         f"of {n} rows")
    if n:
        d = _int(meta, "n_features", low=1)
        if emb.shape[1] != d:
            raise ValueError(f"embeddings have {emb.shape[1]} columns, the manifest says {d}")
        check_finite(emb, "its embeddings")
    elif meta.get("n_features") is not None:
        _int(meta, "n_features", low=1)
    for name, kinds in _ITEM_KINDS.items():
        value = arrays.get(name)
        if value is not None and (value.shape != (n,) or value.dtype.kind not in kinds):
            raise ValueError(f"{name} is {value.dtype} of shape {value.shape}, expected "
                             f"{n} entries")
    if ("ids" in arrays) != ("has_id" in arrays):
        raise ValueError("ids and has_id come together")
    if "keys" in arrays and len(np.unique(arrays["keys"])) != n:
        raise ValueError("keys are not unique")
    if "signatures" in arrays and "keys" not in arrays:
        raise ValueError("signatures need keys")
    if has_faiss != (meta.get("backend") == "faiss" and n > 0):
        raise ValueError("the faiss member and the backend disagree")


def load_index(cls, path, *, n_features=None, model_fingerprint=None):
    """Read an index written by :func:`save_index` (see :meth:`GalleryIndex.load`)."""
    arc = read_archive(path, kind=ARCHIVE_KIND, max_format_version=FORMAT_VERSION,
                       arrays=ARRAYS, files=FILES)
    meta, arrays = arc.meta, arc.arrays
    where = os.fspath(path)
    try:
        fingerprint = meta.get("model_fingerprint")
        index = cls(meta.get("metric"), backend=meta.get("backend"),
                    faiss_params=meta.get("faiss_params"), model_fingerprint=fingerprint)
        _check_arrays(meta, arrays, "faiss.index" in arc.files)
        user = meta.get("user") or {}
        if not isinstance(user, dict):
            raise ValueError("'user' metadata is not a JSON object")
        n = arrays["embeddings"].shape[0]
        entries = EntryState.from_archive(meta, arrays, n, arrays["embeddings"].shape[1])
    except ImportError as exc:  # backend="faiss" without faiss installed
        raise ImportError(f"{where}: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsafeArchiveError(f"{where}: not a valid gallery index ({exc}).") from None
    emb = arrays["embeddings"]
    n = emb.shape[0]
    index.meta = user
    if n:
        index.n_features = emb.shape[1]
        index.embeddings = emb
        index._sq_norms = np.einsum("ij,ij->i", emb, emb)
    index.keys = arrays.get("keys")
    index._ids, index._has_id = arrays.get("ids"), arrays.get("has_id")
    index.cameras = arrays.get("cameras")
    if index.cameras is not None:
        index.cameras = index.cameras.astype(np.int64, copy=False)
    index.signatures = arrays.get("signatures")
    index._entries = entries
    if "faiss.index" in arc.files:
        index._faiss, index._faiss_info = _load_faiss(arc, meta, index, where)
    index.check_compatible(n_features, model_fingerprint)
    return index


def _load_faiss(arc, meta, index, where):
    info = meta.get("faiss_info")
    kind = info.get("index_type") if isinstance(info, dict) else None
    needs = {"hnsw": "efSearch", "ivf": "nprobe"}.get(kind) if isinstance(kind, str) else None
    value = info.get(needs) if needs else None
    # the search parameter faiss_search passes to faiss: an int >= 1
    ok_info = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if not ok_info:
        raise UnsafeArchiveError(f"{where}: not a valid gallery index (faiss_info "
                                 f"{info!r:.80} is not what skreid writes).")
    try:
        found = _faiss.deserialize(arc.files["faiss.index"])
    except (RuntimeError, MemoryError) as exc:  # faiss's refusal of bytes it cannot read
        raise UnsafeArchiveError(f"{where}: the faiss member is damaged "
                                 f"({str(exc).splitlines()[0][:200]}).") from None
    if found.ntotal != len(index) or found.d != index.n_features:
        raise UnsafeArchiveError(
            f"{where}: the faiss index holds {found.ntotal} vectors of width {found.d} for "
            f"{len(index)} items of width {index.n_features}; the file is damaged.")
    # the search reads it as the type faiss_info records, with the index's metric
    faiss = _faiss.import_faiss()
    expected = {"hnsw": faiss.IndexHNSWFlat, "ivf": faiss.IndexIVFFlat}[info["index_type"]]
    if not isinstance(found, expected):
        raise UnsafeArchiveError(
            f"{where}: the faiss member is a {type(found).__name__}, not the "
            f"{expected.__name__} its faiss_info records; the file is damaged.")
    metric = faiss.METRIC_INNER_PRODUCT if index.metric == "cosine" else faiss.METRIC_L2
    if found.metric_type != metric:
        raise UnsafeArchiveError(
            f"{where}: the faiss member does not search by the index's metric "
            f"{index.metric!r}; the file is damaged.")
    return found, info
