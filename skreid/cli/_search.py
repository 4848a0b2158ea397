"""``skreid index`` and ``skreid search``: a persistent gallery of image files, and its queries.

The index does not copy the model: it records the model file's absolute path and SHA-256
(``model_fingerprint``) in its metadata. ``skreid search`` embeds the queries with that file,
refusing it if its SHA-256 changed (a retrained or different model would put the queries in
another embedding space); ``--model`` points at the file when it was moved. Item keys are the
images' absolute paths; :mod:`skreid.cli._indexing` builds and updates the index.
"""

import hashlib
import os
import sys
import warnings

import numpy as np

from skreid.cli._common import CLIError, first_line, shown, utf8_path
from skreid.cli._errors import user_error
from skreid.cli._native_log import stderr_isatty

__all__ = ["search_index", "list_image_files", "file_sha256", "load_model"]

BATCH_SIZE = 64


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_model(path):
    """The embedding model at ``path``: a ``skreid.save`` file (loaded with ``skreid.load``),
    or an ONNX file written by ``skreid.export_onnx`` (``skreid.runtime.OnnxEmbedder``)."""
    if os.path.isdir(path):
        raise CLIError(f"MODEL {path}: is a folder; pass a model file (skreid.save or .onnx).")
    if not os.path.isfile(path):
        raise CLIError(f"MODEL {path}: no such file.")
    if path.lower().endswith(".onnx"):
        return _load_onnx(path)
    import skreid

    try:
        loader = skreid.load
    except AttributeError:
        raise CLIError("this skreid cannot load saved models yet (skreid.load is missing); "
                       "upgrade skreid.") from None
    try:
        model = loader(path)
    except (ValueError, OSError) as exc:
        raise CLIError(f"MODEL {path}: cannot be loaded ({first_line(exc)})") from None
    except ImportError as exc:  # a Keras model where TensorFlow is not installed
        text = user_error(exc) or first_line(exc)
        raise CLIError(text if text.startswith(path) else f"MODEL {path}: {text}") from None
    check_embedder(model, path)
    return model


def _load_onnx(path):
    try:
        from skreid.runtime import OnnxEmbedder
    except ImportError as exc:
        raise CLIError(f"MODEL {path}: {exc}") from None
    try:
        model = OnnxEmbedder(path).fit()
        # the exporting estimator's metric, recorded in the file's metadata
        model.set_params(metric=model.metadata_.get("metric", "euclidean"))
    except (ImportError, ValueError, OSError) as exc:
        raise CLIError(f"MODEL {path}: cannot be loaded ({str(exc).splitlines()[0]})") from None
    return check_embedder(model, path)


def check_embedder(model, where):
    """A fitted re-ID estimator that embeds images: ``transform``, ``metric``, ``input_shape_``."""
    shape = getattr(model, "input_shape_", None)
    if not hasattr(model, "transform") or shape is None or len(shape) != 3:
        raise CLIError(f"MODEL {where}: not a re-ID model fitted on images (it needs transform "
                       "and an input_shape_ of (height, width, channels)).")
    return model


def list_image_files(paths, name="IMAGES", left_out=None):
    """Image files named, or found (recursively, sorted) in the folders named, as abs paths.

    Paths that are not valid UTF-8 are refused (CLIError), or appended to ``left_out`` (a
    list) when it is given."""
    from skreid.datasets import IMAGE_EXTENSIONS

    files = []
    for path in paths:
        if os.path.isdir(path):
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found += [os.path.join(root, n) for n in names
                          if not n.startswith(".") and n.lower().endswith(IMAGE_EXTENSIONS)]
            files += sorted(found)
        elif os.path.isfile(path) or os.path.lexists(path):
            files.append(path)  # not a regular file (a FIFO): refused by name when read
        else:
            raise CLIError(f"{name}: {path}: no such file or folder.")
    files = list(dict.fromkeys(os.path.abspath(f) for f in files))  # once each, in order
    if not files:
        raise CLIError(f"{name}: no image files found in {' '.join(paths)}.")
    undecodable = [f for f in files if not utf8_path(f)]
    if undecodable:
        if left_out is None:
            raise CLIError(
                f"{name}: {len(undecodable)} path(s) are not valid UTF-8, which an index, "
                f"results.json and the page cannot hold: {_named(undecodable)}; rename them"
                + (" (or pass --skip-unreadable to leave them out)." if name == "IMAGES"
                   else "."))
        left_out += undecodable
        files = [f for f in files if utf8_path(f)]
    return files


def labels_of(path, camera=None):
    """``(id, camera)`` from a Market-1501 file name, ``(None, None)`` for any other name;
    ``camera``, when given, replaces the name's camera."""
    from skreid.datasets import parse_market_name

    parsed = parse_market_name(os.path.basename(path))
    pid, cam = parsed if parsed is not None else (None, None)
    return pid, cam if camera is None else camera


class ProgressBar:
    """``[#####.....] 120/500 images`` on stderr, redrawn in place on a terminal."""

    def __init__(self, total, what, quiet=False, stream=None):
        self.total, self.what, self.quiet = total, what, quiet
        self.stream = sys.stderr if stream is None else stream
        # stderr may be the pipe that filters TensorFlow's log lines: ask about the terminal
        self.tty = stderr_isatty() if stream is None else \
            getattr(self.stream, "isatty", lambda: False)()
        self.shown = -1

    def update(self, done):
        if self.quiet:
            return
        tenth = 10 * done // max(self.total, 1)
        if not self.tty and tenth == self.shown and done < self.total:
            return  # a log file gets one line per 10 %, not one per batch
        self.shown = tenth
        filled = 30 * done // max(self.total, 1)
        line = f"[{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total} {self.what}"
        end = "" if self.tty and done < self.total else "\n"
        print(("\r" if self.tty else "") + line, end=end, file=self.stream, flush=True)


def embed_files(model, files, *, batch_size=BATCH_SIZE, bar=None):
    """Embed image files in batches; returns ``(embeddings, unreadable)``.

    Only one batch of decoded images is in memory at a time. Unreadable files are collected
    (and left out) so that all of them can be named at once.
    """
    from skreid.datasets import read_image

    h, w, c = model.input_shape_
    mode = "L" if c == 1 else "RGB"
    out, unreadable = [], []
    for start in range(0, len(files), batch_size):
        batch = []
        for path in files[start:start + batch_size]:
            try:
                image = read_image(path, (h, w), mode=mode)
            except ValueError:
                unreadable.append(path)
                continue
            batch.append(image[..., None] if c == 1 else image)
        if batch:
            out.append(np.asarray(model.transform(np.stack(batch)), dtype=np.float32))
        if bar is not None:
            bar.update(min(start + batch_size, len(files)))
    width = out[0].shape[1] if out else 0
    return (np.concatenate(out) if out else np.empty((0, width), np.float32)), unreadable


def _embed_on_dask(model_path, files, scheduler, batch_size, progress, timeout=10.0):
    try:
        from skreid.parallel import embed_images
    except ImportError as exc:  # pragma: no cover - the dask extra is missing
        raise CLIError(f"--scheduler needs Dask: pip install 'skreid[dask]' ({exc}).") from None
    progress(f"embedding on the Dask cluster at {scheduler}")
    try:
        X, keys = embed_images(model_path, files, client=scheduler, batch_size=batch_size,
                               timeout=timeout)
    except (ConnectionError, OSError, ValueError, RuntimeError) as exc:
        raise CLIError(f"--scheduler {scheduler}: {exc} (the index was not changed).") from None
    if list(keys) != list(files):  # embed_images keeps the input order; never index misaligned
        raise CLIError("--scheduler: the cluster returned the images in another order.")
    return np.asarray(X, dtype=np.float32)


def _named(paths, limit=5):
    more = f" and {len(paths) - limit} more" if len(paths) > limit else ""
    return ", ".join(shown(p) for p in paths[:limit]) + more


def _load_index(path):
    from skreid.search import GalleryIndex
    from skreid.utils import UnsafeArchiveError

    if os.path.isdir(path):
        raise CLIError(f"INDEX {path}: is a folder; pass an index file written by skreid index.")
    try:
        return GalleryIndex.load(path)
    except FileNotFoundError:
        raise CLIError(f"INDEX {path}: no such file.") from None
    except (UnsafeArchiveError, ValueError) as exc:
        raise CLIError(f"INDEX {path}: {exc}") from None


def resolve_model(index, model_path=None):
    """The model file that built ``index`` (its recorded path, or ``model_path``), checked."""
    from skreid.search import IncompatibleIndexError

    path = model_path or index.meta.get("model_path")
    if not path:
        raise CLIError("the index does not record its model; pass --model MODEL.")
    if not isinstance(path, str):  # JSON from the file: never an open descriptor number
        raise CLIError(f"the index records {path!r} as its model, not a path; pass --model "
                       "MODEL.")
    if os.path.isdir(path):
        raise CLIError(f"--model {path}: is a folder; pass the index's model file.")
    if not os.path.isfile(path):
        raise CLIError(f"the index's model {path} is missing (moved?); pass --model MODEL.")
    try:
        index.check_compatible(model_fingerprint=file_sha256(path))
    except IncompatibleIndexError as exc:
        raise CLIError(f"--model {path}: {exc}") from None
    return path


def search_index(index, model, queries, *, top=10, exclude_same_camera=False, rerank=False,
                 camera=None, progress=print):
    """Embed the query files and search ``index``; returns the results as JSON-ready dicts.

    ``rerank``: k-reciprocal re-ranking (k1=20, k2=6, lambda=0.3) of the whole gallery with
    the queries given; the distances shown are then the re-ranked ones. ``camera``: the
    camera of every query (default: from its Market-1501 name), for the index's camera
    normalisation and ``exclude_same_camera``.
    """
    from skreid.metrics.pairwise import UnseenCameraWarning
    from skreid.search import IncompatibleIndexError

    if len(index) == 0:
        raise CLIError("the index is empty: add images with skreid index first.")
    if top < 1 or top > len(index):
        raise CLIError(f"--top {top}: must be between 1 and the gallery size ({len(index)}).")
    files = list_image_files(queries, "QUERY_IMAGE")
    X, unreadable = embed_files(model, files)
    if unreadable:
        raise CLIError(f"{len(unreadable)} query image(s) cannot be read: {_named(unreadable)}.")
    labels = [labels_of(f, camera) for f in files]
    q_ids = [i for i, _ in labels]
    q_cams = [-1 if c is None else c for _, c in labels]
    try:
        index.check_compatible(n_features=X.shape[1])
        with warnings.catch_warnings(record=True) as caught:  # said as a progress line
            warnings.simplefilter("always", UnseenCameraWarning)
            result = index.search(X, top, exclude_same_camera=exclude_same_camera,
                                  query_cameras=q_cams,
                                  query_ids=q_ids if exclude_same_camera else None,
                                  rerank=True if rerank else None)
        for w in caught:
            if issubclass(w.category, UnseenCameraWarning):
                progress(f"note: {w.message}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    except (IncompatibleIndexError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    ids, cams = index.ids, index.cameras
    out = []
    for q, path in enumerate(files):
        matches = []
        for rank, (pos, dist, key) in enumerate(zip(result.positions[q], result.distances[q],
                                                    result.keys[q], strict=True), start=1):
            if pos < 0:
                break
            gid = None if ids is None else ids[pos]
            cam = None if cams is None or cams[pos] < 0 else int(cams[pos])
            same = None if gid is None or q_ids[q] is None else bool(gid == q_ids[q])
            matches.append({"rank": rank, "key": str(key), "distance": float(dist),
                            "id": None if gid is None else gid.item() if hasattr(gid, "item")
                            else gid, "camera": cam, "same_id": same})
        out.append({"query": path, "id": q_ids[q], "camera": labels[q][1], "matches": matches})
    return out
