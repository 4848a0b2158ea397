"""``skreid index``'s work: bring a gallery index up to date with image files and folders.

Each run compares the files found with what the index recorded for them
(:meth:`skreid.search.GalleryIndex.compare_files`): new files are *added*, files whose content
changed since they were embedded are *updated* (re-embedded in place), files that were only
touched keep their embedding, and indexed files of the folders named that no longer exist are
*missing*: kept and reported, or removed with ``prune=True``.

Concurrent runs on one index lose nothing: the images are embedded without holding anything,
then the index is re-read, compared and written under its writer lock
(:func:`skreid.utils.writer_lock`), so a run that finished meanwhile is merged, not
overwritten. A run that waits longer than ``lock_timeout`` for the lock fails by name and
changes nothing; readers see the old index or the new one, never part of one.
"""

import os

import numpy as np

from skreid.cli._common import CLIError
from skreid.cli._options import check_output_file
from skreid.cli._origin import key_path, origin_record, roots_of, verified_roots
from skreid.cli._search import (
    BATCH_SIZE,
    ProgressBar,
    _embed_on_dask,
    _load_index,
    _named,
    embed_files,
    file_sha256,
    labels_of,
    list_image_files,
)

__all__ = ["build_index"]


def _existing(out, fingerprint, backend=None, camera_normalization=None):
    """The index at ``out`` checked against the model (and ``backend`` and
    ``camera_normalization``, when asked for: an existing index keeps its own), or None if
    there is none."""
    from skreid.search import IncompatibleIndexError

    if not os.path.lexists(out):
        return None
    index = _load_index(out)
    try:
        index.check_compatible(model_fingerprint=fingerprint)
    except IncompatibleIndexError as exc:
        raise CLIError(f"INDEX {out}: {exc}") from None
    if index.keys is None:
        raise CLIError(f"INDEX {out}: has no image keys; it was not written by skreid index.")
    if backend is not None and backend != index.backend:
        raise CLIError(f"--backend {backend}: INDEX {out} uses the {index.backend} backend, "
                       f"which an existing index keeps; write a new index (another --out) to "
                       f"use {backend}.")
    if camera_normalization not in (None, index.camera_normalization):
        raise CLIError(f"--camera-normalization {camera_normalization}: INDEX {out} was built "
                       f"with {index.camera_normalization or 'none'}, which an existing index "
                       "keeps; write a new index (another --out) to change it.")
    return index


def _check_out(out):
    """Refuse, before any embedding, an --out that cannot be written (tried, not guessed)."""
    check_output_file("--out", out, replace=True, hint=" (e.g. --out gallery.idx)")


def _sign(index, roots, progress):
    """Record the folders indexed (with those this user's earlier runs recorded), signed
    with this user's key, for the search page (:mod:`skreid.cli._origin`)."""
    record = origin_record(roots, previous_meta=index.meta)
    if record is None:
        index.meta.pop("origin", None)
        progress("cannot create the key that signs the folders indexed (in "
                 f"{os.path.dirname(key_path())}); skreid search will show no gallery images")
    else:
        index.meta["origin"] = record


class _Embedder:
    """Embeds files once, locally or on Dask, remembering each file's vector by signature."""

    def __init__(self, model, model_path, scheduler, batch_size, progress, quiet, timeout):
        self.model, self.model_path, self.scheduler = model, model_path, scheduler
        self.timeout = timeout
        self.batch_size, self.progress, self.quiet = batch_size, progress, quiet
        self.vectors, self.unreadable = {}, []

    def __call__(self, paths, signatures):
        todo = [p for p in paths if p in signatures
                and self.vectors.get(p, (None, None))[1] != signatures[p]]
        if not todo:
            return
        if self.scheduler is None:
            X, unreadable = embed_files(self.model, todo, batch_size=self.batch_size,
                                        bar=ProgressBar(len(todo), "images", quiet=self.quiet))
        else:
            X = _embed_on_dask(self.model_path, todo, self.scheduler, self.batch_size,
                               self.progress, self.timeout)
            unreadable = []
        self.unreadable += [p for p in unreadable if p not in self.unreadable]
        bad = set(unreadable)
        for path, vector in zip([p for p in todo if p not in bad], X, strict=True):
            self.vectors[path] = (vector, signatures[path])


def _apply(index, plan, embedder, prune, out, camera=None):
    """Change ``index`` as ``plan`` says; returns the counts of what changed."""
    bad = set(embedder.unreadable) | set(plan.unreadable)
    removed = list(plan.missing) if prune else []
    if removed:
        index.remove(removed)
    for name, paths in (("updated", plan.updated), ("added", plan.added)):
        paths = [p for p in paths if p not in bad]
        if not paths:
            continue
        X = np.stack([embedder.vectors[p][0] for p in paths])
        labels = [labels_of(p, camera) for p in paths]
        kwargs = {"ids": [i for i, _ in labels], "cameras": [c for _, c in labels],
                  "signatures": [plan.signatures[p] for p in paths]}
        try:
            if name == "added":
                index.add(X, keys=paths, **kwargs)
            else:
                index.update(paths, X, **kwargs)
        except ValueError as exc:
            raise CLIError(f"INDEX {out}: {exc}") from None
    if plan.touched:  # same content, new size or time: record them, keep the embedding
        index.update(plan.touched, signatures=[plan.signatures[p] for p in plan.touched])
    return {"added": len([p for p in plan.added if p not in bad]),
            "updated": len([p for p in plan.updated if p not in bad]),
            "removed": len(removed), "missing": [] if prune else list(plan.missing)}


def build_index(model, images, out, *, model_path=None, fingerprint=None, backend=None,
                batch_size=BATCH_SIZE, skip_unreadable=False, progress=print, quiet=False,
                scheduler=None, prune=False, verify=False, lock_timeout=None,
                scheduler_timeout=10.0, camera=None, camera_normalization=None):
    """Bring the index ``out`` up to date with ``images`` (files/folders) embedded by ``model``.

    ``model_path`` and ``fingerprint`` (default: the file's SHA-256) identify the model in the
    index. ``backend`` ("exact" or "faiss") is that of a new index (default "exact"); an
    existing index keeps its own and refuses another. New files are added, changed ones
    re-embedded, and with ``prune`` indexed files of the folders named that are gone are
    removed (``verify``: hash every file, not only those whose size or time changed). Returns
    a summary dict (``added``, ``updated``, ``removed``, ``already_indexed``, ``missing``,
    ``unreadable``, ``total``). The index is replaced atomically under its writer lock, after
    every image was embedded, so a failed run leaves it as it was and a concurrent run is
    merged, not lost. With ``scheduler`` (a Dask scheduler address) the workers embed the
    images (:func:`skreid.parallel.embed_images`). The folders indexed are recorded, signed
    with this user's key, for the search page. ``camera`` is the camera of every image added
    or updated (default: from its Market-1501 name); ``camera_normalization`` (None,
    "center", "whiten") that of a new index (an existing index keeps its own, like
    ``backend``).
    """
    if scheduler is not None and skip_unreadable:
        raise CLIError("--skip-unreadable cannot be combined with --scheduler: a worker that "
                       "cannot read an image fails the job (and names the file).")
    from skreid.search import GalleryIndex
    from skreid.utils import (
        DEFAULT_LOCK_TIMEOUT,
        FileLockedError,
        remove_stale_temporaries,
        writer_lock,
    )

    undecodable = [] if skip_unreadable else None  # names that are not UTF-8
    files = list_image_files(images, left_out=undecodable)
    roots = roots_of(images)
    folders = [p for p in images if os.path.isdir(p)]
    if fingerprint is None:
        fingerprint = file_sha256(model_path)
    _check_out(out)
    empty = GalleryIndex(getattr(model, "metric", "euclidean"), backend=backend or "exact",
                         model_fingerprint=fingerprint,
                         camera_normalization=camera_normalization)
    embedder = _Embedder(model, model_path, scheduler, batch_size, progress, quiet,
                         scheduler_timeout)
    # 1. without the lock: what changed, and the embeddings of those files (the long part)
    index = _existing(out, fingerprint, backend, camera_normalization)
    plan = (empty if index is None else index).compare_files(files, folders=folders,
                                                             verify=verify)
    todo = plan.added + plan.updated
    if todo:
        progress(f"embedding {len(plan.added)} new and {len(plan.updated)} changed images "
                 f"({len(plan.unchanged)} already indexed)")
        embedder(todo, plan.signatures)
    # 2. under the lock: the index as it is now (another run may have written it), compared
    # again and written; files that changed in between are embedded here
    try:
        with writer_lock(out, DEFAULT_LOCK_TIMEOUT if lock_timeout is None else lock_timeout):
            index = _existing(out, fingerprint, backend, camera_normalization)
            index = empty if index is None else index
            plan = index.compare_files(files, folders=folders, verify=verify)
            embedder(plan.added + plan.updated, plan.signatures)
            unreadable = sorted(set(plan.unreadable) | set(embedder.unreadable)
                                | set(undecodable or ()))
            if unreadable and not skip_unreadable:
                raise CLIError(f"{len(unreadable)} image(s) cannot be read: "
                               f"{_named(unreadable)} (the index was not changed; "
                               "--skip-unreadable leaves them out).")
            counts = _apply(index, plan, embedder, prune, out, camera)
            changed = counts["added"] or counts["updated"] or counts["removed"] or plan.touched
            unsigned = bool(len(index)) and not set(roots) <= set(verified_roots(index.meta))
            if changed:
                index.meta.update({"model_path": model_path and os.path.abspath(model_path),
                                   "model_fingerprint": fingerprint,
                                   "input_shape": list(map(int, model.input_shape_))})
            if changed or unsigned:
                if not changed:
                    progress(f"{out}: all {len(files)} images are already indexed; recording "
                             "their folders for the search page")
                _sign(index, roots, progress)
                index.save(out)
            remove_stale_temporaries(out)  # a killed run's debris, even when nothing changed
    except FileLockedError as exc:
        raise CLIError(f"--out {exc}") from None
    if not changed and not unsigned and not unreadable:
        progress(f"{out}: all {len(files)} images are already indexed; nothing to do")
    return {"index": os.path.abspath(out), "found": len(files), **counts,
            "already_indexed": len(plan.unchanged), "unreadable": unreadable,
            "total": len(index)}
