"""``save``, ``load`` and ``read_metadata``: one safe file per model, plus its model card."""

import json
import os

from skreid.saving import _facts
from skreid.saving._card import check_card_writable, render_card
from skreid.saving._codec import TAG, Decoder, Encoder
from skreid.utils import (
    DEFAULT_LOCK_TIMEOUT,
    UnsafeArchiveError,
    atomic_write,
    check_replaceable,
    read_archive,
    write_archive,
    writer_lock,
)

KIND = "model"
#: layout of the model files this skreid writes; ``load`` refuses newer ones
FORMAT_VERSION = 1
_RESERVED = ("model", "versions", "saved_at", "task")


def _check_metadata(metadata):
    if metadata is None:
        return {}
    if not isinstance(metadata, dict) or not all(isinstance(k, str) for k in metadata):
        raise TypeError(f"metadata must be a dict with string keys, got {type(metadata).__name__}.")
    clash = [k for k in _RESERVED if k in metadata]
    if clash:
        raise ValueError(
            f"metadata keys {clash} are written by skreid.save itself; rename them."
        )
    try:
        json.dumps(metadata, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"metadata must be JSON-serialisable ({exc}).") from None
    return dict(metadata)


def _describe(estimator, metadata):
    out = dict(metadata)
    facts = _facts.estimator_facts(estimator)
    out["model"] = {"class": facts["class"], "params": _facts.describe_params(estimator),
                    "facts": facts}
    out["task"] = _facts.task(estimator)
    out["versions"] = _facts.versions()
    out.setdefault("hardware", _facts.hardware())
    out["saved_at"] = _facts.now()
    return out


def save(estimator, path, *, metadata=None, overwrite=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Save a fitted skreid estimator (or a Pipeline of them) to one safe file.

    The file is a zip of JSON (constructor parameters, scalars, the format version), ``.npy``
    arrays (fitted arrays, gallery embeddings, identities, cameras) and, for the Keras
    estimators, the network as a ``.keras`` member. It holds no pickle: :func:`load` never runs
    code from it. The file is written atomically (an interrupted save leaves any previous file
    intact) together with a model card ``PATH.card.md``.

    An existing file at ``path`` is replaced only if it is a skreid model file (an earlier
    save), and an existing card only if skreid wrote it; anything else is refused by name,
    unless ``overwrite=True``. Concurrent saves to one path take turns (a lock file
    ``.PATH.skreid-lock`` beside it), and the temporary files of a save that was killed are
    removed by the next save to the same path.

    Parameters
    ----------
    estimator : estimator
        A skreid estimator or transformer (:func:`supported_names`), or a scikit-learn
        :class:`~sklearn.pipeline.Pipeline` of them and of plain scikit-learn steps.
    path : str or path-like
        Target file (its folder must exist), e.g. ``"reid.skreid"``.
    metadata : dict, optional
        JSON-serialisable facts stored in the file and shown in the card. Keys the card
        renders: ``training_data`` (dict: folder, counts of images and identities or breeds,
        image size), ``evaluation`` (dict of figures plus a ``protocol`` text),
        ``training_time_s`` and ``hardware`` (derived from this machine when not given).
    overwrite : bool, default=False
        Replace whatever file is at ``path`` and ``PATH.card.md`` (default: only skreid's
        own model files and cards).
    lock_timeout : float, default=120
        Seconds to wait while another process saves to ``path``.

    Returns
    -------
    card_path : str
        The model card written next to the file.

    Raises
    ------
    UnsupportedEstimatorError
        If the estimator (or one of its parts or attributes) cannot be stored without pickle.
    FileExistsError
        If ``path`` exists and is not a skreid model file, or ``PATH.card.md`` exists and was
        not written by skreid, and ``overwrite`` is False (nothing is written).
    skreid.utils.FileLockedError
        If another process kept saving to ``path`` for ``lock_timeout`` seconds.

    Examples
    --------
    >>> import os, tempfile
    >>> import skreid
    >>> from skreid.datasets import make_people
    >>> from skreid.reid import PCAReID
    >>> people = make_people(n_identities=6, n_images_per_identity=4,
    ...                      image_shape=(32, 16, 3), random_state=0)
    >>> est = PCAReID(n_components=10).fit(people.images, people.person_ids)
    >>> path = os.path.join(tempfile.mkdtemp(), "pca.skreid")
    >>> card = skreid.save(est, path, metadata={"training_time_s": 0.1})
    >>> bool((skreid.load(path).transform(people.images) == est.transform(people.images)).all())
    True
    """
    metadata = _check_metadata(metadata)
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}.")
    # before any work: refuse early, write nothing
    check_replaceable(path, KIND, overwrite=overwrite, who="skreid.save")
    card = check_card_writable(path, overwrite=overwrite)
    if not os.path.isdir(os.path.dirname(os.path.abspath(os.fspath(path)))):
        raise FileNotFoundError(f"skreid.save: the folder of {os.fspath(path)!r} does not exist.")
    encoder = Encoder()
    tree = encoder.encode(estimator, "estimator")
    if not (isinstance(tree, dict) and tree.get(TAG) in ("estimator", "skops")):
        raise TypeError(f"skreid.save needs an estimator, got {type(estimator).__name__}.")
    described = _describe(estimator, metadata)
    with writer_lock(path, lock_timeout):  # the model and its card, as one writer
        check_replaceable(path, KIND, overwrite=overwrite, who="skreid.save")
        check_card_writable(path, overwrite=overwrite)
        write_archive(
            path, kind=KIND, format_version=FORMAT_VERSION,
            meta={"estimator": tree, "metadata": described, "keras": encoder.has_keras},
            arrays=encoder.arrays, files=encoder.files, overwrite=overwrite,
        )
        with atomic_write(card, "w") as fh:
            fh.write(render_card(path, described))
    return card


def _read(path):
    archive = read_archive(path, kind=KIND, max_format_version=FORMAT_VERSION)
    meta = archive.meta
    if not isinstance(meta, dict) or not isinstance(meta.get("estimator"), dict) \
            or not isinstance(meta.get("metadata"), dict):
        raise UnsafeArchiveError(f"{os.fspath(path)}: a skreid archive without a model in it.")
    return archive


def load(path):
    """Load a model written by :func:`save`, without executing anything from the file.

    Only the classes listed by :func:`supported_names` are rebuilt, from their parameters
    and data; a Keras network is loaded with ``safe_mode=True`` after skreid checked it holds
    no Lambda layer and only Keras's and skreid's layer types. TensorFlow is imported only
    when the file holds a Keras network.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    skreid.utils.UnsafeArchiveError
        If the file is not a skreid model, is truncated or damaged, was written by a newer
        skreid, or holds a pickle payload, code, an unknown type or a member escaping the
        archive; the message names what was found.
    """
    archive = _read(path)
    decoder = Decoder(os.fspath(path), archive.arrays, archive.files)
    try:
        model = decoder.decode(archive.meta["estimator"], "estimator")
    except RecursionError:
        raise UnsafeArchiveError(f"{os.fspath(path)}: the model is nested too deeply.") from None
    # every member must be part of the model: a file carrying anything else is not one skreid
    # wrote (the format lists only what the model refers to)
    unused = sorted([f"arrays/{n}.npy" for n in set(archive.arrays) - decoder.used["arrays"]]
                    + [f"files/{n}" for n in set(archive.files) - decoder.used["files"]])
    if unused:
        raise UnsafeArchiveError(f"{os.fspath(path)}: member {unused[0]!r} is not part of the "
                                 "model; refusing a file that carries unknown content.")
    return model


def read_metadata(path):
    """The metadata stored by :func:`save` (the caller's keys plus skreid's facts), without
    rebuilding the model (no Keras import).

    Returns
    -------
    metadata : dict
        The ``metadata`` given to ``save`` plus ``model`` (class, parameters, fitted facts),
        ``task``, ``versions``, ``hardware`` and ``saved_at``.
    """
    return _read(path).meta["metadata"]
