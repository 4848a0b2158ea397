"""What changed in the files a gallery index was built from: added, updated, missing.

An item keyed by a file path records the file's *signature* when it was embedded: its size,
modification time (ns) and the SHA-256 of its content, as ``"SIZE:MTIME_NS:SHA256"``.
Re-indexing compares each file with it: same size and time -> unchanged without reading it;
otherwise the content is hashed, and only a different hash makes the item *updated* (a file
that was only touched keeps its embedding and gets its new signature recorded).
"""

import hashlib
import os
from typing import NamedTuple

from skreid.utils import open_regular

__all__ = ["IndexChanges", "compare_files", "file_signature"]


class IndexChanges(NamedTuple):
    """What :meth:`GalleryIndex.compare_files` found; lists of paths (keys)."""

    #: files not in the index
    added: list
    #: indexed files whose content changed since they were embedded
    updated: list
    #: indexed files with the content they were embedded with
    unchanged: list
    #: keys under the folders compared whose file no longer exists
    missing: list
    #: files that cannot be read (not regular, no permission, vanished)
    unreadable: list
    #: the current signature of each added, updated and touched file
    signatures: dict
    #: unchanged files whose size or time moved (same content): record ``signatures[path]``
    touched: list


def file_signature(path):
    """``"SIZE:MTIME_NS:SHA256"`` of the regular file at ``path`` (read once, in 1 MiB blocks).

    Raises OSError or ValueError (a FIFO, a device) naming the file when it cannot be read.

    Examples
    --------
    >>> import os, tempfile
    >>> from skreid.search import file_signature
    >>> path = os.path.join(tempfile.mkdtemp(), "a.jpg")
    >>> with open(path, "wb") as fh:
    ...     _ = fh.write(b"abc")
    >>> file_signature(path).split(":")[2][:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open_regular(path, "image file") as fh:
        info = os.fstat(fh.fileno())
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return f"{info.st_size}:{info.st_mtime_ns}:{digest.hexdigest()}"


def _parse(signature):
    parts = str(signature).split(":")
    if len(parts) != 3 or not all(parts):
        return None
    return parts


def _under(key, folders):
    return any(key.startswith(folder) for folder in folders)


def compare_files(index, paths, *, folders=(), verify=False):
    """What re-indexing ``paths`` into ``index`` would change (see
    :meth:`GalleryIndex.compare_files`).

    Parameters
    ----------
    index : GalleryIndex
        Keyed by path (an index without keys has every path *added*).
    paths : sequence of str or path-like
        The files found now; compared as given (``skreid index`` passes absolute paths).
    folders : sequence of str or path-like, default=()
        The folders ``paths`` were listed from: indexed keys under them whose file is gone
        are reported *missing*. Keys elsewhere are never reported.
    verify : bool, default=False
        Hash every indexed file, even one whose size and time match its signature (catches a
        change that kept both, e.g. a copy with ``cp -p`` of a same-sized file).

    Returns
    -------
    IndexChanges
    """
    paths = [os.fspath(p) for p in paths]
    stored = {}
    if index.keys is not None:
        sigs = index.signatures.tolist() if index.signatures is not None else None
        for i, key in enumerate(index.keys.tolist()):
            stored[key] = sigs[i] if sigs is not None else ""
    out = IndexChanges([], [], [], [], [], {}, [])
    for path in paths:
        old = stored.get(path)
        if old is None:
            target = out.added
        else:
            recorded = _parse(old)
            try:
                info = os.stat(path)
            except OSError:
                out.unreadable.append(path)
                continue
            if (recorded is not None and not verify
                    and recorded[:2] == [str(info.st_size), str(info.st_mtime_ns)]):
                out.unchanged.append(path)
                continue
            target = out.updated
        try:
            signature = file_signature(path)
        except (OSError, ValueError):
            out.unreadable.append(path)
            continue
        if old is not None and recorded is not None and \
                signature.split(":")[2] == recorded[2]:
            target = out.unchanged
            if signature != old:
                out.touched.append(path)
                out.signatures[path] = signature
        else:
            out.signatures[path] = signature
        target.append(path)
    roots = [os.path.join(os.path.abspath(os.fspath(f)), "") for f in folders]
    listed = set(paths)
    out.missing.extend(key for key in stored
                       if key not in listed and _under(key, roots) and not os.path.lexists(key))
    return out
