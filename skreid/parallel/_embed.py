"""Embed a collection of image files in parallel on a Dask cluster (or in this process)."""

import math
import os
import re
import threading
from typing import NamedTuple

import numpy as np

from skreid.utils import check_positive_number

__all__ = ["EmbeddedImages", "check_scheduler_address", "embed_images", "load_model_file"]

# per process: models loaded from files (one load per worker, reused by every task) and one
# lock per model, because a worker with nthreads > 1 runs tasks concurrently and an estimator's
# transform may build lazy caches (e.g. TripletEmbedder's inference network)
_MODEL_CACHE = {}
_CACHE_LOCK = threading.Lock()
_MODEL_LOCKS = {}


class EmbeddedImages(NamedTuple):
    """What :func:`embed_images` returns: ``embeddings`` row ``i`` belongs to ``keys[i]``."""

    embeddings: np.ndarray
    keys: list


class _ModelFile(NamedTuple):
    """A model each worker loads itself (once) from a file it can read, with ``loader``."""

    path: str
    loader: object


def load_model_file(path):
    """Default loader of :func:`embed_images`: a model file -> an object with ``transform``.

    ``*.onnx`` files open with ``skreid.runtime.OnnxEmbedder`` (onnxruntime, no TensorFlow);
    anything else with ``skreid.load`` (skreid's safe model format, never a pickle).

    Parameters
    ----------
    path : str
        The model file, readable where this runs (on each worker).

    Returns
    -------
    model : object with ``transform(images)``
    """
    import skreid
    from skreid.utils.tf_threads import tensorflow_thread_count

    if os.path.isdir(path):
        raise IsADirectoryError(f"Model file {path!r} is a directory: pass the model file "
                                f"(a .skreid file or an .onnx export).")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Model file {path!r} does not exist (on this machine).")
    if path.lower().endswith(".onnx"):
        try:
            from skreid.runtime import OnnxEmbedder
        except ImportError as exc:
            raise ImportError(f"Cannot open ONNX model {path!r}: skreid.runtime is not "
                              f"available ({exc}); pip install 'skreid[runtime]'.") from exc
        # onnxruntime gets the same share of the cores as TensorFlow would
        return OnnxEmbedder(path, n_threads=tensorflow_thread_count()).fit()
    return skreid.load(path)


def _cached_model(spec):
    stat = os.stat(spec.path) if os.path.exists(spec.path) else None
    key = (os.path.abspath(spec.path), stat and stat.st_mtime_ns, stat and stat.st_size,
           getattr(spec.loader, "__module__", None),
           getattr(spec.loader, "__qualname__", repr(spec.loader)))
    with _CACHE_LOCK:
        if key not in _MODEL_CACHE:
            model = spec.loader(spec.path)
            if not hasattr(model, "transform"):
                raise TypeError(f"The loader of {spec.path!r} returned "
                                f"{type(model).__name__}, which has no transform method.")
            # a changed file replaces its older version instead of piling up
            for old in [k for k in _MODEL_CACHE if k[0] == key[0]]:
                del _MODEL_CACHE[old]
            _MODEL_CACHE[key] = model
        return _MODEL_CACHE[key]


def _model_lock(model):
    with _CACHE_LOCK:
        return _MODEL_LOCKS.setdefault(id(model), threading.Lock())


def _input_shape(model):
    """(h, w, c) the model was fitted on (the first pipeline step's ``input_shape_``), or None."""
    while hasattr(model, "steps"):
        model = model.steps[0][1]
    shape = getattr(model, "input_shape_", None)
    return None if shape is None or len(shape) < 2 else tuple(int(v) for v in shape)


def _read_image(path, size, channels=3):
    """Decode one file the way ``skreid index`` does (``skreid.datasets.read_image``: named
    errors, decompression bombs refused), grayscale when the model was fitted on one channel."""
    from PIL import Image

    from skreid.datasets import read_image
    from skreid.utils import open_regular

    if size is None:  # the file's own size
        try:
            with open_regular(path, "image file") as fh, Image.open(fh) as img:
                size = (img.height, img.width)
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"Could not read image file {path!r}: {exc}") from None
    if channels == 1:
        return read_image(path, size, mode="L")[..., None]
    return read_image(path, size)


def _embed_chunk(paths, model, per_batch, image_size):
    """One task: read ``paths`` and embed them in batches; rows in the order of ``paths``."""
    if isinstance(model, _ModelFile):
        model = _cached_model(model)
    shape = _input_shape(model)
    size = image_size if image_size is not None else (shape[:2] if shape else None)
    channels = shape[2] if shape is not None and len(shape) == 3 else 3
    lock = _model_lock(model)
    out = []
    for start in range(0, len(paths), per_batch):
        batch = [_read_image(p, size, channels) for p in paths[start:start + per_batch]]
        shapes = {b.shape for b in batch}
        if len(shapes) > 1:
            raise ValueError(f"Images of different sizes {sorted(shapes)} in one batch (e.g. "
                             f"{paths[start]!r}): pass image_size=(height, width).")
        with lock:
            out.append(np.asarray(model.transform(np.stack(batch))))
    return np.concatenate(out)


def check_timeout(timeout, name="timeout"):
    """``timeout`` as a float: a finite number of seconds > 0, else a ValueError naming it
    (:func:`skreid.utils.check_positive_number`, the check of every numeric parameter)."""
    return check_positive_number(timeout, name, unit="seconds")


# scheme://host:port (or host:port) as Dask writes TCP scheduler addresses; checked before
# Dask is imported, so that a typo fails at once (other schemes: Dask checks them)
_SCHEME = re.compile(r"(?:(?P<scheme>[a-z][a-z0-9+.-]*)://)?(?P<rest>\S+)")
_HOST_PORT = re.compile(r"(?P<host>\[[0-9a-fA-F:.]+\]|[^:/\s\[\]]+)(?::(?P<port>\d{1,5}))?")
_PORTED = ("tcp", "tls", "ws", "wss")


def check_scheduler_address(address):
    """``address`` if it can be a Dask scheduler's (``tcp://host:8786``), else a ValueError
    naming it; nothing is imported or contacted."""
    hint = "a scheduler address such as 'tcp://10.0.0.5:8786'"
    match = _SCHEME.fullmatch(address) if isinstance(address, str) else None
    if match is None:
        raise ValueError(f"address {address!r:.100} is not {hint}.")
    if (match["scheme"] or "tcp") in _PORTED:
        where = _HOST_PORT.fullmatch(match["rest"])
        if where is None:
            raise ValueError(f"address {address!r:.100} is not {hint}.")
        if where["port"] is None or not 0 < int(where["port"]) < 65536:
            raise ValueError(f"address {address!r:.100} is not {hint}: it needs a port in "
                             "1..65535.")
    return address


def _check_args(model, paths, batch_size, partitions, image_size, loader):
    if isinstance(model, (str, os.PathLike)):
        model = _ModelFile(os.fspath(model), loader or load_model_file)
    elif not hasattr(model, "transform"):
        raise TypeError(f"model must be a fitted estimator with transform or a model file "
                        f"path, got {type(model).__name__}.")
    if isinstance(paths, (str, os.PathLike)):
        raise TypeError("paths must be a list of image file paths, not one path; "
                        "list a folder with e.g. sorted(pathlib.Path(folder).glob('*.jpg')).")
    keys = []
    for p in paths:
        if not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"paths must hold str or os.PathLike, got {p!r}.")
        keys.append(os.fspath(p))
    if not keys:
        raise ValueError("paths is empty: nothing to embed.")
    if len(set(keys)) != len(keys):
        seen = set()
        dup = next(k for k in keys if k in seen or seen.add(k))
        raise ValueError(f"paths holds {dup!r} more than once; every key must be unique.")
    for name, value in (("batch_size", batch_size), ("partitions", partitions)):
        if value is None and name == "partitions":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}.")
    if image_size is not None:
        if (len(image_size) != 2 or any(isinstance(v, bool) or int(v) != v or v < 1
                                        for v in image_size)):
            raise ValueError(f"image_size must be (height, width) positive ints or None, "
                             f"got {image_size!r}.")
        image_size = (int(image_size[0]), int(image_size[1]))
    n_parts = partitions or math.ceil(len(keys) / batch_size)
    chunks = [list(c) for c in np.array_split(np.asarray(keys, dtype=object),
                                              min(n_parts, len(keys)))]
    return model, keys, chunks, int(batch_size), image_size


def embed_images(model, paths, client=None, *, batch_size=256, partitions=None,
                 image_size=None, loader=None, timeout=10):
    """Embed image files with a fitted model, spread over the workers of a Dask cluster.

    The paths are cut into ``partitions`` contiguous chunks, one Dask task each; a task reads
    its images (on the worker: the files must be readable there, e.g. a shared folder) and
    embeds them ``batch_size`` at a time. Each worker holds the model once: a fitted
    estimator is one key of the task graph, sent once to each worker that needs it; a model
    *file* is loaded once per worker process and reused by all its tasks. The result is
    complete or an exception: a task lost with a dying worker is re-run by Dask elsewhere,
    and a task that keeps killing workers (``distributed.KilledWorker``) or fails raises,
    so no partial result reaches an index.

    Parameters
    ----------
    model : estimator with ``transform``, str or os.PathLike
        A fitted estimator (``PCAReID``, a ``make_classical_reid()`` pipeline,
        ``TripletEmbedder``, ``skreid.runtime.OnnxEmbedder``), or the path of a model file
        each worker opens with ``loader``.
    paths : sequence of str or os.PathLike
        Image files; each becomes one key (``os.fspath``), so they must be unique.
    client : distributed.Client, str or None, default=None
        A Dask client, a scheduler address (connected, then closed; a clear
        ``ConnectionError`` after ``timeout`` s if no scheduler answers, a ``ValueError`` at
        once for an address no scheduler can have), or None: run in this process (no Dask
        needed).
    batch_size : int, default=256
        Images decoded and embedded at once (bounds each worker's memory).
    partitions : int or None, default=None
        Number of tasks; None: one per ``batch_size`` images. Fewer, larger partitions
        cost less scheduling; more balance the load better.
    image_size : (int, int) or None, default=None
        ``(height, width)`` every image is resized to; None: the size the model was fitted
        on (its ``input_shape_``) or, if it records none, the files' own size.
    loader : callable or None, default=None
        ``loader(path) -> model`` for a model file; None: :func:`load_model_file`
        (``skreid.load``, or ``skreid.runtime.OnnxEmbedder`` for ``*.onnx``).
    timeout : float, default=10
        Seconds to wait for each answer of the cluster: the scheduler's handshake (``client``
        given as an address), at least one worker, the scheduler's reply to a check made
        every ``timeout`` seconds while the images are embedded, and the shutdown. A
        scheduler that stops answering fails the call within about ``2 * timeout`` seconds;
        a long job on an answering cluster is never cut short.

    Returns
    -------
    result : EmbeddedImages
        ``(embeddings, keys)``: an ``(n, d)`` array and the list of keys, both in the order
        of ``paths``; feed them to a gallery index.

    Raises
    ------
    ValueError
        An image that cannot be read (the message names the file), bad arguments (a
        ``timeout`` that is not a positive number, a malformed address).
    ConnectionError
        No scheduler at ``client``'s address, or no worker, within ``timeout`` seconds, or a
        scheduler that stopped answering.
    RuntimeError
        A task kept killing its workers; the message names the partition's first file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from skreid.datasets import make_people
    >>> from skreid.parallel import embed_images
    >>> from skreid.reid import PCAReID
    >>> people = make_people(n_identities=6, n_images_per_identity=4, image_shape=(32, 16, 3),
    ...                      random_state=0)
    >>> model = PCAReID(n_components=5).fit(people.images, people.person_ids)
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> paths = []
    >>> for i, image in enumerate(people.images):
    ...     paths.append(folder / f"{i:03d}.png")
    ...     Image.fromarray(image).save(paths[-1])
    >>> embeddings, keys = embed_images(model, paths, batch_size=8)
    >>> embeddings.shape, keys[0].endswith("000.png")
    ((24, 5), True)
    """
    model, keys, chunks, batch_size, image_size = _check_args(
        model, paths, batch_size, partitions, image_size, loader)
    timeout = check_timeout(timeout)
    if client is None:
        parts = [_embed_chunk(c, model, batch_size, image_size) for c in chunks]
        return EmbeddedImages(np.concatenate(parts), keys)
    if isinstance(client, str):
        check_scheduler_address(client)  # before the import of Dask (seconds)
    from skreid.parallel import _dask

    if isinstance(client, str):
        parts = _dask.run_on_address(client, model, chunks, batch_size, image_size, timeout,
                                     _embed_chunk)
    elif isinstance(client, _dask.distributed.Client):
        parts = _dask.run_on_client(client, model, chunks, batch_size, image_size, timeout,
                                    _embed_chunk)
    else:
        raise TypeError(f"client must be a distributed.Client, a scheduler address (str) or "
                        f"None, got {type(client).__name__}.")
    return EmbeddedImages(np.concatenate(parts), keys)
