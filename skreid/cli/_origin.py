"""Which gallery images a ``skreid search`` page may read: only those the index's own user
indexed on this machine.

An index's keys are file paths, and the page shows each match as a thumbnail read from its
key. An index from someone else could name any file on this machine (``/home/me/private.jpg``)
and the page, meant to be shared, would carry it. So ``skreid index`` records the folders it
indexed (each IMAGES folder, or the folder of each IMAGES file) with an HMAC-SHA256 tag made
with a secret key that only this user on this machine has (``origin.key`` in the user's cache
folder, created on first use, mode 0600). ``skreid search`` reads a gallery thumbnail only when
the tag checks with its own key and the key path lies in one of those folders; otherwise the
page shows the file name and no image. Query images are read as always: the user named them.
"""

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import stat

KEY_FILE = "origin.key"
_KEY_BYTES = 32


def key_path():
    """Where the secret key lives: ``$XDG_CACHE_HOME/skreid/origin.key`` (``~/.cache``)."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "skreid", KEY_FILE)


def _read_key(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        # ours and private, or not a key at all
        if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077 or (
                hasattr(os, "getuid") and info.st_uid != os.getuid()):
            return None
        data = fh.read(4 * _KEY_BYTES)
    try:
        key = bytes.fromhex(data.decode("ascii").strip())
    except (UnicodeDecodeError, ValueError):
        return None
    return key if len(key) == _KEY_BYTES else None


def secret_key(create=False):
    """This user's key (bytes), created first with ``create``; None when it cannot be had."""
    path = key_path()
    key = _read_key(path)
    if key is not None or not create:
        return key
    folder = os.path.dirname(path)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(secrets.token_hex(_KEY_BYTES) + "\n")
        with contextlib.suppress(FileExistsError):  # another run made it first: use theirs
            os.link(tmp, path)
    except OSError:
        return None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    return _read_key(path)


def _tag(key, roots):
    message = json.dumps(sorted(roots), ensure_ascii=True).encode("ascii")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def roots_of(paths):
    """The folders named (absolute), or the folder of each file named."""
    out = set()
    for path in paths:
        path = os.path.abspath(os.fspath(path))
        out.add(path if os.path.isdir(path) else os.path.dirname(path))
    return sorted(out)


def verified_roots(meta):
    """The folders of index metadata ``meta`` whose origin record this user's key signed, or
    an empty list (another user or machine, a record edited, none at all)."""
    record = meta.get("origin") if isinstance(meta, dict) else None
    if not isinstance(record, dict):
        return []
    roots, tag = record.get("roots"), record.get("tag")
    if not (isinstance(roots, list) and roots and isinstance(tag, str)
            and all(isinstance(r, str) and os.path.isabs(r) for r in roots)):
        return []
    key = secret_key()
    if key is None or not hmac.compare_digest(_tag(key, roots), tag):
        return []
    return sorted(roots)


def origin_record(roots, previous_meta=None):
    """The ``origin`` record for an index that now holds images from ``roots`` (and, when
    ``previous_meta`` is an index this user wrote here, the folders it already had); None
    when no key can be made (the page then shows no gallery thumbnails)."""
    key = secret_key(create=True)
    if key is None:
        return None
    kept = verified_roots(previous_meta or {})
    all_roots = sorted(set(kept) | set(roots))
    return {"roots": all_roots, "tag": _tag(key, all_roots)}


def may_read(path, roots):
    """Whether ``path`` lies in one of ``roots`` (after making both absolute and normal)."""
    path = os.path.normpath(os.path.abspath(path))
    for root in roots:
        root = os.path.normpath(root)
        if path == root or path.startswith(root.rstrip(os.sep) + os.sep):
            return True
    return False
