"""A safe file format: one zip of JSON and ``.npy`` members, read without executing anything.

``pickle`` (and so ``joblib``) runs whatever code a file holds, so a model or an index shared
by someone else must not be a pickle. A skreid archive holds only:

- ``manifest.json``: the format name, the archive ``kind`` (e.g. ``"model"``, ``"gallery-index"``),
  its ``format_version``, the skreid version that wrote it, free JSON ``meta``, and the list of
  every other member;
- ``arrays/<name>.npy``: NumPy arrays, loaded with ``allow_pickle=False`` (object arrays, the
  one way a ``.npy`` can carry a pickle, are refused when written and when read);
- ``files/<name>``: opaque bytes the caller interprets with its own safe loader (a ``.keras``
  file opened with ``safe_mode=True``, a faiss index through faiss's own reader).

Reading refuses, with an :class:`UnsafeArchiveError` that names what it found: a file that is
not a zip, a member outside the manifest, a member name that would escape a folder, a pickle
payload, another kind of archive, or a format version newer than the reader knows. Writing goes
to a temporary name beside the target and is renamed over it only when complete, so an
interrupted write leaves the previous file intact.
"""

import contextlib
import io
import json
import os
import posixpath
import tempfile
import zipfile
from typing import NamedTuple

import numpy as np

from skreid._version import __version__

__all__ = [
    "UnsafeArchiveError",
    "SafeArchive",
    "atomic_write",
    "write_archive",
    "read_archive",
]

FORMAT_NAME = "skreid-archive"
MANIFEST = "manifest.json"
# Opening bytes of pickle protocols 2-5: a member starting with them is a pickle payload.
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
# members larger than this that compress more than _BOMB_RATIO times are refused unread
_BOMB_MIN_BYTES = 256 * 2**20
_BOMB_RATIO = 200


class UnsafeArchiveError(ValueError):
    """A file is not a skreid archive that can be loaded safely (the message says why)."""


class SafeArchive(NamedTuple):
    """What :func:`read_archive` returns."""

    kind: str
    format_version: int
    skreid_version: str
    meta: dict
    arrays: dict
    files: dict


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary file is removed on any exception (KeyboardInterrupt included), so ``path``
    holds either its previous content or the complete new one, never a partial write.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, mode) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600; give it the permissions a plain open() would (umask)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _check_member_name(name, where):
    if not isinstance(name, str) or not name or name != name.strip():
        raise UnsafeArchiveError(f"{where}: invalid member name {name!r}.")
    norm = posixpath.normpath(name)
    if (
        "\\" in name
        or name.startswith("/")
        or norm != name
        or norm.startswith("..")
        or ":" in name.split("/")[0]
    ):
        raise UnsafeArchiveError(
            f"{where}: member {name!r} would be written outside the archive's folder; refusing it."
        )


def write_archive(path, *, kind, format_version, meta=None, arrays=None, files=None):
    """Write a skreid archive to ``path`` atomically.

    Parameters
    ----------
    path : str or path-like
        The target file; its folder must exist. An existing file is replaced only once the new
        archive is complete.
    kind : str
        What the archive holds; :func:`read_archive` checks it.
    format_version : int
        The version of the caller's layout of ``meta``, ``arrays`` and ``files``.
    meta : dict, optional
        JSON-serialisable data (constructor parameters, scalars, lists).
    arrays : dict of str to ndarray, optional
        Numeric or string arrays; object arrays are refused (they would need pickle).
    files : dict of str to bytes, optional
        Opaque members.
    """
    arrays = dict(arrays or {})
    files = dict(files or {})
    for name in [*arrays, *files]:
        _check_member_name(name, "write_archive")
    manifest = {
        "format": FORMAT_NAME,
        "kind": str(kind),
        "format_version": int(format_version),
        "skreid_version": __version__,
        "meta": meta or {},
        "arrays": sorted(arrays),
        "files": sorted(files),
    }
    try:
        manifest_bytes = json.dumps(manifest, indent=1, sort_keys=True, allow_nan=True).encode()
    except TypeError as exc:
        raise TypeError(f"write_archive: meta must be JSON-serialisable ({exc}).") from None
    buffers = {}
    for name, value in arrays.items():
        value = np.asarray(value)
        if value.dtype.hasobject:
            raise TypeError(
                f"write_archive: array {name!r} has dtype object, which only pickle can store; "
                "convert it to a numeric or fixed-width string array."
            )
        buf = io.BytesIO()
        np.save(buf, value, allow_pickle=False)
        buffers[f"arrays/{name}.npy"] = buf.getvalue()
    for name, value in files.items():
        buffers[f"files/{name}"] = bytes(value)

    if not os.path.isdir(os.path.dirname(os.path.abspath(os.fspath(path)))):
        raise FileNotFoundError(f"write_archive: the folder of {os.fspath(path)!r} does not exist.")
    with atomic_write(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(MANIFEST, manifest_bytes)
        for member, data in buffers.items():
            zf.writestr(member, data)


def read_archive(path, *, kind, max_format_version):
    """Read a skreid archive written by :func:`write_archive`, refusing anything unsafe.

    Parameters
    ----------
    path : str or path-like
        The archive.
    kind : str or tuple of str
        The kind(s) the caller accepts.
    max_format_version : int
        The newest ``format_version`` the caller can read; newer files are refused with a
        message to upgrade skreid.

    Returns
    -------
    SafeArchive
    """
    where = os.fspath(path)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    if os.path.isdir(where):
        raise IsADirectoryError(f"{where}: a directory, not a skreid file; pass the file's path.")
    if not os.path.isfile(where):
        raise FileNotFoundError(f"{where}: no such file.")
    with open(where, "rb") as fh:
        opening = fh.read(2)
    # checked before the zip test: a pickled Keras estimator ends with the zip of its network,
    # so it would pass for a (broken) zip archive
    if opening in _PICKLE_MAGIC:
        raise UnsafeArchiveError(
            f"{where}: a pickle (or joblib) file, not a skreid file. skreid never loads pickles: "
            "they can run arbitrary code. If you wrote it yourself, load it with pickle/joblib "
            "and save it again with skreid."
        )
    if not zipfile.is_zipfile(where):
        raise UnsafeArchiveError(
            f"{where}: not a skreid file (expected a zip archive with a manifest.json); "
            "if it is a pickle, skreid will not load it: pickles can run arbitrary code."
        )
    try:
        with zipfile.ZipFile(where) as zf:
            names = zf.namelist()
            for name in names:
                _check_member_name(name, where)
            for info in zf.infolist():
                # a zip bomb: a few kB that claim gigabytes once inflated. Real members (float
                # arrays, .keras networks) compress a few times at most.
                if info.file_size > _BOMB_MIN_BYTES and \
                        info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
                    raise UnsafeArchiveError(
                        f"{where}: member {info.filename!r} inflates {info.compress_size:,} "
                        f"bytes to {info.file_size:,} (over {_BOMB_RATIO}x): refusing a "
                        "decompression bomb."
                    )
            if MANIFEST not in names:
                raise UnsafeArchiveError(
                    f"{where}: a zip without manifest.json, not a skreid file."
                )
            try:
                manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise UnsafeArchiveError(
                    f"{where}: manifest.json is not valid JSON ({exc})."
                ) from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
                raise UnsafeArchiveError(f"{where}: manifest.json does not describe a skreid file.")
            found_kind = manifest.get("kind")
            if found_kind not in kinds:
                raise UnsafeArchiveError(
                    f"{where}: holds a skreid {found_kind!r}, "
                    f"expected {' or '.join(map(repr, kinds))}."
                )
            version = manifest.get("format_version")
            if not isinstance(version, int) or isinstance(version, bool):
                raise UnsafeArchiveError(f"{where}: format_version {version!r} is not an integer.")
            if version > max_format_version:
                raise UnsafeArchiveError(
                    f"{where}: written by skreid {manifest.get('skreid_version', '?')} in format "
                    f"version {version}; this skreid ({__version__}) reads up to version "
                    f"{max_format_version}. Upgrade skreid to load it."
                )
            array_names = manifest.get("arrays", [])
            file_names = manifest.get("files", [])
            expected = {MANIFEST}
            expected |= {f"arrays/{n}.npy" for n in array_names}
            expected |= {f"files/{n}" for n in file_names}
            unexpected = sorted(set(names) - expected)
            if unexpected:
                raise UnsafeArchiveError(
                    f"{where}: member {unexpected[0]!r} is not listed in the manifest; refusing a "
                    "file that carries unknown content."
                )
            missing = sorted(expected - set(names))
            if missing:
                raise UnsafeArchiveError(f"{where}: member {missing[0]!r} is missing (truncated?).")
            arrays = {}
            for name in array_names:
                member = f"arrays/{name}.npy"
                data = zf.read(member)
                if data.startswith(_PICKLE_MAGIC):
                    raise UnsafeArchiveError(f"{where}: member {member!r} is a pickle payload.")
                try:
                    arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
                except ValueError as exc:
                    raise UnsafeArchiveError(
                        f"{where}: member {member!r} cannot be loaded without pickle ({exc})."
                    ) from None
            files = {name: zf.read(f"files/{name}") for name in file_names}
            for name, data in files.items():
                if data.startswith(_PICKLE_MAGIC):
                    raise UnsafeArchiveError(f"{where}: member 'files/{name}' is a pickle payload.")
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, IsADirectoryError)):
            raise
        raise UnsafeArchiveError(f"{where}: damaged or truncated archive ({exc}).") from None
    return SafeArchive(
        kind=found_kind,
        format_version=version,
        skreid_version=str(manifest.get("skreid_version", "")),
        meta=manifest.get("meta", {}),
        arrays=arrays,
        files=files,
    )
