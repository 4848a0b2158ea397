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
not a regular file or not a zip, a member outside the manifest or that the caller's format does
not know, a member listed twice, a member name that would escape a folder, a pickle payload, a
compression method skreid does not write, members that would inflate to more than
``max(256 MiB, 200 x the file's size)`` in all (a decompression bomb), an ``.npy`` header whose
shape does not match its data, another kind of archive, or a format version newer than the
reader knows. Writing goes to a temporary name beside the target and is renamed over it only
when complete, so an interrupted write leaves the previous file intact; it holds the target's
writer lock, and replaces only a skreid archive of the same kind unless told to overwrite.
"""

import io
import json
import lzma
import os
import posixpath
import zipfile
import zlib
from typing import NamedTuple

import numpy as np

from skreid._version import __version__
from skreid.utils._files import DEFAULT_LOCK_TIMEOUT, atomic_write, open_regular, writer_lock
from skreid.utils._npy import load_npy_bytes

__all__ = [
    "UnsafeArchiveError",
    "SafeArchive",
    "archive_kind",
    "check_replaceable",
    "write_archive",
    "read_archive",
]

FORMAT_NAME = "skreid-archive"
MANIFEST = "manifest.json"
# Opening bytes of pickle protocols 2-5: a member starting with them is a pickle payload.
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
# members larger than this that compress more than _BOMB_RATIO times are refused unread, and
# all members together may inflate to at most max(_BOMB_MIN_BYTES, _BOMB_RATIO x file size):
# real members (float arrays, .keras networks, which are zips already) compress a few times
_BOMB_MIN_BYTES = 256 * 2**20
_BOMB_RATIO = 200
# the compression methods write_archive uses; others (bzip2, lzma, ...) are refused unread
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
# what reading a damaged member can raise, besides the archive's own refusals
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError,
                RuntimeError, NotImplementedError)


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


def _check_member_name(name, where):
    if not isinstance(name, str) or not name or name != name.strip():
        raise UnsafeArchiveError(f"{where}: invalid member name {name!r:.80}.")
    norm = posixpath.normpath(name)
    if (
        "\\" in name
        or name.startswith("/")
        or norm != name
        or norm.startswith("..")
        or ":" in name.split("/")[0]
    ):
        raise UnsafeArchiveError(
            f"{where}: member {name!r:.80} would be written outside the archive's folder; "
            "refusing it."
        )


def archive_kind(path):
    """The ``kind`` of the skreid archive at ``path``, or None if it is not one.

    Reads only the manifest (a regular file, a zip, a manifest of at most 64 MiB); never raises
    for a file that is not a skreid archive.
    """
    try:
        with open_regular(path) as fh, zipfile.ZipFile(fh) as zf:
            info = zf.getinfo(MANIFEST)
            if info.file_size > 64 * 2**20 or info.compress_type not in _METHODS:
                return None
            manifest = json.loads(zf.read(info).decode("utf-8"))
    except (KeyError, ValueError, RecursionError, *_READ_ERRORS):
        return None
    if isinstance(manifest, dict) and manifest.get("format") == FORMAT_NAME \
            and isinstance(manifest.get("kind"), str):
        return manifest["kind"]
    return None


def check_replaceable(path, kind, *, overwrite=False, who="write_archive"):
    """Raise unless writing a skreid ``kind`` archive to ``path`` loses nothing of the user's.

    ``path`` may be absent, or a skreid archive of the same ``kind`` (an earlier save of the
    same thing); anything else is refused with a :class:`FileExistsError` naming it, unless
    ``overwrite=True``. A folder is always refused (:class:`IsADirectoryError`).
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        return
    if os.path.isdir(path):
        raise IsADirectoryError(f"{who}: {path} is a folder; give the path of a file to write. "
                                "Nothing was written.")
    if overwrite:
        return
    found = archive_kind(path)
    if found == kind:
        return
    what = "not a skreid file" if found is None else f"a skreid {found} file"
    raise FileExistsError(
        f"{who}: {path} exists and is {what}; skreid replaces only a skreid {kind} file. Pass "
        "overwrite=True to replace it, or choose another path. Nothing was written."
    )


def write_archive(path, *, kind, format_version, meta=None, arrays=None, files=None,
                  overwrite=False, lock_timeout=DEFAULT_LOCK_TIMEOUT):
    """Write a skreid archive to ``path`` atomically, holding its writer lock.

    Parameters
    ----------
    path : str or path-like
        The target file; its folder must exist. An existing file is replaced only once the new
        archive is complete, and only if it is a skreid archive of the same ``kind``.
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
    overwrite : bool, default=False
        Replace whatever file is at ``path`` (default: only a skreid ``kind`` archive;
        :func:`check_replaceable`).
    lock_timeout : float, default=120
        Seconds to wait for another process writing ``path``
        (:class:`~skreid.utils.FileLockedError` after that).
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
    check_replaceable(path, str(kind), overwrite=overwrite)  # before the lock file is made
    with writer_lock(path, lock_timeout):
        check_replaceable(path, str(kind), overwrite=overwrite)
        with atomic_write(path) as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST, manifest_bytes)
            for member, data in buffers.items():
                zf.writestr(member, data)


def _open_zip(fh, where):
    size = os.fstat(fh.fileno()).st_size
    opening = fh.read(2)
    # checked before the zip test: a pickled Keras estimator ends with the zip of its network,
    # so it would pass for a (broken) zip archive
    if opening in _PICKLE_MAGIC:
        raise UnsafeArchiveError(
            f"{where}: a pickle (or joblib) file, not a skreid file. skreid never loads pickles: "
            "they can run arbitrary code. If you wrote it yourself, load it with pickle/joblib "
            "and save it again with skreid."
        )
    fh.seek(0)
    try:
        zf = zipfile.ZipFile(fh)
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, NotImplementedError):
        raise UnsafeArchiveError(
            f"{where}: not a skreid file (expected a zip archive with a manifest.json); "
            "if it is a pickle, skreid will not load it: pickles can run arbitrary code."
        ) from None
    infos = zf.infolist()
    seen = set()
    for info in infos:
        _check_member_name(info.filename, where)
        if info.filename in seen:
            raise UnsafeArchiveError(f"{where}: member {info.filename!r} appears twice; "
                                     "refusing an ambiguous archive.")
        seen.add(info.filename)
        if info.compress_type not in _METHODS:
            raise UnsafeArchiveError(f"{where}: member {info.filename!r} uses compression "
                                     f"method {info.compress_type}, which skreid never writes.")
        # a zip bomb: a few kB that claim gigabytes once inflated
        if info.file_size > _BOMB_MIN_BYTES and \
                info.file_size > _BOMB_RATIO * max(info.compress_size, 1):
            raise UnsafeArchiveError(
                f"{where}: member {info.filename!r} inflates {info.compress_size:,} "
                f"bytes to {info.file_size:,} (over {_BOMB_RATIO}x): refusing a "
                "decompression bomb."
            )
    total, limit = sum(i.file_size for i in infos), max(_BOMB_MIN_BYTES, _BOMB_RATIO * size)
    if total > limit:
        raise UnsafeArchiveError(
            f"{where}: its {len(infos)} members inflate to {total:,} bytes in all from a "
            f"{size:,}-byte file (at most {limit:,} accepted): refusing a decompression bomb."
        )
    return zf


def _names(manifest, key, allowed, where, kind):
    names = manifest.get(key, [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise UnsafeArchiveError(f"{where}: manifest.json {key!r} must be a list of names.")
    for name in names:
        _check_member_name(name, where)
    if allowed is not None:
        unknown = sorted(set(names) - set(allowed))
        if unknown:
            raise UnsafeArchiveError(
                f"{where}: member {unknown[0]!r:.80} ({key}) is not part of a skreid {kind} "
                "file; refusing a file that carries unknown content."
            )
    return names


def _manifest(zf, where, kinds, max_format_version):
    if MANIFEST not in zf.namelist():
        raise UnsafeArchiveError(f"{where}: a zip without manifest.json, not a skreid file.")
    try:
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
    except RecursionError:
        raise UnsafeArchiveError(f"{where}: manifest.json is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, a 5000-digit integer
        raise UnsafeArchiveError(
            f"{where}: manifest.json is not valid JSON ({str(exc)[:200]})."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise UnsafeArchiveError(f"{where}: manifest.json does not describe a skreid file.")
    found_kind = manifest.get("kind")
    if found_kind not in kinds:
        raise UnsafeArchiveError(
            f"{where}: holds a skreid {found_kind!r:.80}, "
            f"expected {' or '.join(map(repr, kinds))}."
        )
    version = manifest.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise UnsafeArchiveError(f"{where}: format_version {version!r:.80} is not an integer.")
    if version > max_format_version:
        raise UnsafeArchiveError(
            f"{where}: written by skreid {str(manifest.get('skreid_version', '?')):.40} in "
            f"format version {version}; this skreid ({__version__}) reads up to version "
            f"{max_format_version}. Upgrade skreid to load it."
        )
    if not isinstance(manifest.get("meta", {}), dict):
        raise UnsafeArchiveError(f"{where}: manifest.json 'meta' must be a JSON object.")
    return manifest


def read_archive(path, *, kind, max_format_version, arrays=None, files=None):
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
    arrays, files : collection of str, optional
        The array and file members the caller's format has; an archive listing any other is
        refused. None: whatever the manifest lists.

    Returns
    -------
    SafeArchive

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    UnsafeArchiveError
        Anything else that keeps the file from loading safely; the message says what.
    """
    where = os.fspath(path)
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    try:
        fh = open_regular(where, "skreid file")
    except FileNotFoundError:
        raise FileNotFoundError(f"{where}: no such file.") from None
    except (IsADirectoryError, ValueError) as exc:  # a folder, a FIFO, a device
        raise UnsafeArchiveError(str(exc)) from None
    try:
        with fh, _open_zip(fh, where) as zf:
            manifest = _manifest(zf, where, kinds, max_format_version)
            array_names = _names(manifest, "arrays", arrays, where, kinds[0])
            file_names = _names(manifest, "files", files, where, kinds[0])
            names = set(zf.namelist())
            expected = {MANIFEST}
            expected |= {f"arrays/{n}.npy" for n in array_names}
            expected |= {f"files/{n}" for n in file_names}
            unexpected = sorted(names - expected)
            if unexpected:
                raise UnsafeArchiveError(
                    f"{where}: member {unexpected[0]!r} is not listed in the manifest; refusing a "
                    "file that carries unknown content."
                )
            missing = sorted(expected - names)
            if missing:
                raise UnsafeArchiveError(f"{where}: member {missing[0]!r} is missing (truncated?).")
            loaded = {}
            for name in array_names:
                member = f"arrays/{name}.npy"
                data = zf.read(member)
                if data.startswith(_PICKLE_MAGIC):
                    raise UnsafeArchiveError(f"{where}: member {member!r} is a pickle payload.")
                loaded[name] = load_npy_bytes(data, f"{where}: member {member!r}",
                                              UnsafeArchiveError)
            opaque = {name: zf.read(f"files/{name}") for name in file_names}
            for name, data in opaque.items():
                if data.startswith(_PICKLE_MAGIC):
                    raise UnsafeArchiveError(f"{where}: member 'files/{name}' is a pickle payload.")
    except _READ_ERRORS as exc:
        raise UnsafeArchiveError(
            f"{where}: damaged or truncated archive ({str(exc)[:200]})."
        ) from None
    return SafeArchive(
        kind=manifest["kind"],
        format_version=manifest["format_version"],
        skreid_version=str(manifest.get("skreid_version", "")),
        meta=manifest.get("meta", {}),
        arrays=loaded,
        files=opaque,
    )
