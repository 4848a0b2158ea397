"""Download, verify and cache remote datasets, then hand over to a loader.

Every download goes to a private temporary folder inside ``data_home``: archives are fetched
by :func:`sklearn.datasets.fetch_file` (written under a temporary name, SHA-256 checked, then
renamed; retried on network errors), then extracted (after every member was checked to land
inside the folder) and moved into place. Any failure removes that temporary folder, so a
failed fetch leaves nothing behind.
"""

import contextlib
import os
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import warnings
from collections import namedtuple
from http.client import HTTPException
from pathlib import Path

from skreid.datasets._pets import load_oxford_pets
from skreid.utils import check_positive_int, check_positive_number

RemoteFile = namedtuple("RemoteFile", ["filename", "url", "sha256", "size"])
RemoteFile.__doc__ = (
    """A remote archive: file name, URL, SHA-256 hex digest, size in bytes (or None)."""
)

# SHA-256 digests and sizes as recorded by TensorFlow Datasets for the same two files
# (tensorflow_datasets/datasets/oxford_iiit_pet/checksums.tsv; identical for the
# www.robots.ox.ac.uk/.../data/ and thor.robots.ox.ac.uk/... URLs).
OXFORD_PETS_FILES = (
    RemoteFile(
        "images.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
        "67195c5e1c01f1ab5f9b6a5d22b8c27a580d896ece458917e61d459337fa318d",
        791918971,
    ),
    RemoteFile(
        "annotations.tar.gz",
        "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",
        "52425fb6de5c424942b7626b428656fcbd798db970a937df61750c0f1d358e91",
        19173078,
    ),
)

def get_data_home(data_home=None):
    """Folder where fetched datasets are cached, created if needed.

    ``data_home`` if given, else the ``SKREID_DATA`` environment variable, else
    ``~/skreid_data``.

    Examples
    --------
    >>> import os, tempfile
    >>> from skreid.datasets import get_data_home
    >>> get_data_home(os.path.join(tempfile.mkdtemp(), "skreid_data")).is_dir()
    True
    """
    if data_home is None:
        data_home = os.environ.get("SKREID_DATA") or os.path.join("~", "skreid_data")
    if not isinstance(data_home, (str, os.PathLike)):
        raise ValueError(
            f"data_home must be a path (str or os.PathLike) or None, got {data_home!r}."
        )
    path = Path(data_home).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def fetch_oxford_pets(
    data_home=None,
    download_if_missing=True,
    *,
    image_size=(224, 224),
    on_error="raise",
    verbose=False,
    timeout=60,
    n_retries=3,
):
    """Download (once) and load the Oxford-IIIT Pet dataset (7,349 images, 37 breeds).

    The two official archives (about 810 MB) are downloaded from the authors' site, checked
    against their SHA-256, extracted to ``<data_home>/oxford_pets/`` and read with
    :func:`load_oxford_pets`. Later calls read the cached folder without any network access.
    All 7,390 images at 224 x 224 take about 1.1 GB of memory; pass a smaller ``image_size``
    to use less.

    Parameters
    ----------
    data_home : str or path-like, default=None
        Cache folder; default ``$SKREID_DATA``, else ``~/skreid_data``.
    download_if_missing : bool, default=True
        When False and the data is not cached, raise an OSError instead of downloading.
    image_size : int or (height, width), default=(224, 224)
        Passed to :func:`load_oxford_pets`.
    on_error : {"raise", "skip"}, default="raise"
        Passed to :func:`load_oxford_pets` (the official archives hold a few odd files).
    verbose : bool, default=False
        Print one line per download and extraction step.
    timeout : float, default=60
        Socket timeout of each connection and read of a download, in seconds.
    n_retries : int, default=3
        Retries of a download after a network error (one second apart), as in
        :func:`sklearn.datasets.fetch_file`.

    Returns
    -------
    data : sklearn.utils.Bunch
        See :func:`load_oxford_pets`.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it downloads about 800 MB.

    >>> from skreid.datasets import fetch_oxford_pets
    >>> pets = fetch_oxford_pets(image_size=(128, 128))  # doctest: +SKIP
    >>> pets.images.shape  # doctest: +SKIP
    (7390, 128, 128, 3)
    """
    if not isinstance(download_if_missing, bool):
        raise ValueError(f"download_if_missing must be True or False, got {download_if_missing!r}.")
    check_positive_number(timeout, "timeout", unit="seconds")
    check_positive_int(n_retries, "n_retries", minimum=0)
    home = get_data_home(data_home)
    target = home / "oxford_pets"
    if not _is_complete(target):
        if not download_if_missing:
            raise OSError(
                f"Oxford-IIIT Pet is not in {str(target)!r} and download_if_missing=False. Call "
                f"fetch_oxford_pets() with network access, or extract images.tar.gz and "
                f"annotations.tar.gz there yourself (or use load_oxford_pets on your own copy)."
            )
        download_and_extract(OXFORD_PETS_FILES, target, verbose=verbose, timeout=timeout,
                             n_retries=n_retries)
    return load_oxford_pets(target, image_size, on_error=on_error)


def _is_complete(target):
    return (target / "images").is_dir() and (target / "annotations").is_dir()


def download_and_extract(remote_files, target, *, verbose=False, timeout=60, n_retries=3):
    """Download, verify and extract ``remote_files`` into ``target`` (all or nothing)."""
    timeout = check_positive_number(timeout, "timeout", unit="seconds")
    n_retries = check_positive_int(n_retries, "n_retries", minimum=0)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        extract_dir = tmp / "extracted"
        extract_dir.mkdir()
        for remote in remote_files:
            archive = _download(remote, tmp, verbose=verbose, timeout=timeout,
                                n_retries=n_retries)
            if verbose:
                print(f"Extracting {remote.filename}")
            safe_extract(archive, extract_dir)
            archive.unlink()  # keep the disk footprint at one copy
        target.mkdir(exist_ok=True)
        for item in extract_dir.iterdir():
            # keep whatever the user already has (e.g. only annotations/), add the rest
            if not (target / item.name).exists():
                os.replace(item, target / item.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def _socket_timeout(seconds):
    # fetch_file downloads with urllib's urlretrieve, which takes no timeout: the socket
    # default bounds each connect and read instead (restored afterwards)
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _download(remote, folder, *, verbose=False, timeout=60, n_retries=3):
    """Download ``remote`` into ``folder`` with :func:`sklearn.datasets.fetch_file`: it writes
    under a unique temporary name, checks the SHA-256 and renames; on failure it deletes the
    partial file. Its errors are reworded to say what happened and what to do."""
    from sklearn.datasets import fetch_file

    if verbose:
        print(f"Downloading {remote.url}")
    try:
        with _socket_timeout(timeout), warnings.catch_warnings():
            # fetch_file warns before each retry; the final error says it all
            warnings.filterwarnings("ignore", message="Retry downloading")
            path = fetch_file(remote.url, folder=folder, local_filename=remote.filename,
                              sha256=remote.sha256.lower(), n_retries=n_retries, delay=1)
    except urllib.error.ContentTooShortError as exc:
        raise OSError(
            f"Download of {remote.url} was truncated ({exc.reason}); nothing was kept, try "
            f"again."
        ) from None
    except (urllib.error.URLError, HTTPException, TimeoutError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(exc, HTTPException):
            raise OSError(
                f"Download of {remote.url} was truncated ({reason!r}); nothing was kept, try "
                f"again."
            ) from None
        raise OSError(
            f"Could not download {remote.url}: {reason}. If you are offline, fetch "
            f"{remote.filename} elsewhere and extract it yourself, then use load_oxford_pets."
        ) from None
    except OSError as exc:
        if "SHA256" not in str(exc):
            raise
        raise OSError(
            f"SHA-256 of {remote.url} is not the expected {remote.sha256} ({exc}): the file "
            f"is corrupted or was changed upstream; it was deleted."
        ) from None
    path = Path(path)
    received = path.stat().st_size
    if remote.size is not None and received != remote.size:
        # urlretrieve checks the announced Content-Length; this checks the known size
        path.unlink()
        raise OSError(
            f"Download of {remote.url} was truncated or has the wrong size: got {received} "
            f"bytes, expected {remote.size}; nothing was kept, try again."
        )
    return path


def safe_extract(archive, destination):
    """Extract a tar archive, refusing links, special files and members outside ``destination``.

    Every member is checked before anything is written, so a rejected archive extracts nothing.
    """
    destination = Path(destination).resolve()
    try:
        tar = tarfile.open(archive, "r:*")  # the "tar.gz" files on the site may be plain tar
    except (tarfile.TarError, OSError) as exc:
        raise OSError(f"{Path(archive).name} is not a readable tar archive: {exc}") from None
    with tar:
        members = tar.getmembers()
        for member in members:
            path = (destination / member.name).resolve()
            if not path.is_relative_to(destination) or os.path.isabs(member.name):
                raise ValueError(
                    f"Refusing to extract {Path(archive).name}: member {member.name!r} would land "
                    f"outside the target folder."
                )
            if not (member.isfile() or member.isdir()):
                raise ValueError(
                    f"Refusing to extract {Path(archive).name}: member {member.name!r} is a link "
                    f"or special file; only regular files and folders are accepted."
                )
        if hasattr(tarfile, "data_filter"):
            tar.extractall(destination, members=members, filter="data")
        else:  # pragma: no cover - Python without PEP 706 filters; members were checked above
            tar.extractall(destination, members=members)
