"""Loader for MSMT17 (V1 and V2 layouts) from its list files."""

import re

from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, warn_skipped
from skreid.datasets._protocol import build_split, first_existing, locate, malformed, missing

# folder -> (version, train folder, test folder)
_LAYOUTS = (("V2", "mask_train_v2", "mask_test_v2"), ("V1", "train", "test"))
_LISTS = {"train": "list_train.txt", "val": "list_val.txt", "query": "list_query.txt",
          "gallery": "list_gallery.txt"}
# PPPP_SSS_CC_DDDDtime_FFFF_N.jpg: person, sequence, camera (01-15), date+time, frame, box
_NAME = re.compile(r"^\d+_\d+_(\d+)_[^/\\]*\.(?:jpe?g|png)$", re.IGNORECASE)
_LINE_EXPECTED = ("one '<image path> <person id>' pair per line, the path relative to the "
                  "image folder, e.g. '0000/0000_000_01_0303morning_0015_0.jpg 0'")

_DESCR = """\
MSMT17 (Wei et al., "Person Transfer GAN to Bridge Domain Gap for Person Re-Identification",
CVPR 2018)
--------------------------------------------------------------------------------------------
4,101 identities from 15 cameras (12 outdoor, 3 indoor) on one campus. Official protocol, read
from the release's list files: train (list_train.txt, 30,248 images) and val (list_val.txt,
2,373 images) share the 1,041 training identities and together form the paper's 32,621 training
images; query (list_query.txt, 11,659 images) and gallery (list_gallery.txt, 82,161 images) hold
the 3,060 test identities. Each split is a Bunch with images (uint8, n x 128 x 64 x 3, RGB,
resized bilinearly), person_ids (as in the list files: training and test identities are numbered
separately, 0-1,040 and 0-3,059, and denote different people), camera_ids (1-15, from the file
name) and filenames (the paths of the list file). Layout V1 reads train/ and test/, layout V2
(faces blurred) mask_train_v2/ and mask_test_v2/. Research use only (dataset terms).
"""


def load_msmt17(root, *, on_error="raise"):
    """Load MSMT17 with its official train / val / query / gallery lists (V1 or V2 layout).

    MSMT17 (Wei et al., "Person Transfer GAN to Bridge Domain Gap for Person Re-Identification",
    CVPR 2018) has 126,441 boxes of 4,101 identities from 15 cameras. The official split trains
    on 1,041 identities (``list_train.txt`` + ``list_val.txt``, 32,621 images) and tests on
    3,060 (11,659 queries against 82,161 gallery images).

    Parameters
    ----------
    root : str or path-like
        The ``MSMT17_V1`` or ``MSMT17_V2`` folder (or its parent, or a folder whose only
        sub-folder it is) holding ``list_train.txt``, ``list_val.txt``, ``list_query.txt``,
        ``list_gallery.txt`` and the image folders ``train/`` and ``test/`` (V1) or
        ``mask_train_v2/`` and ``mask_test_v2/`` (V2).
    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be decoded: raise a ValueError naming it, or skip
        it and emit one warning counting the skipped images. A missing or malformed list file
        always raises.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``val``, ``query`` and ``gallery`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, ``person_ids`` and ``camera_ids`` int64, ``filenames``), ``version``
        ("V1" or "V2"), ``root`` and ``DESCR``. The published protocol trains on train and val
        together; training and test identities are numbered separately in the lists.

    Raises
    ------
    ValueError
        If a list file or image folder is missing, or a list line is malformed (naming the file,
        the line and the expected format).

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the MSMT17 folder on disk.

    >>> from skreid.datasets import load_msmt17
    >>> data = load_msmt17("MSMT17_V1")  # doctest: +SKIP
    >>> len(data.query.images), len(data.gallery.images)  # doctest: +SKIP
    (11659, 82161)
    """
    check_on_error(on_error)
    base = find_msmt17(root)
    if base is None:
        raise ValueError(
            f"No MSMT17 layout found in {str(root)!r}: expected list_query.txt with the image "
            f"folders train/ and test/ (MSMT17_V1) or mask_train_v2/ and mask_test_v2/ "
            f"(MSMT17_V2).")
    version, train_dir, test_dir = _layout(base)
    skipped, out = [], {}
    for part, list_name in _LISTS.items():
        folder = base / (train_dir if part in ("train", "val") else test_dir)
        if not folder.is_dir():
            raise ValueError(f"MSMT17 {version} folder {str(base)!r} is missing the image folder "
                             f"{folder.name}/ of the {part} split.")
        rel, pids, cams = _read_list(base / list_name)
        out[part] = build_split([folder / r for r in rel], pids, cams, folder, on_error,
                                skipped, what=part)
    warn_skipped(skipped)
    return Bunch(**out, version=version, root=str(base), DESCR=_DESCR)


def find_msmt17(root):
    """The MSMT17 folder in ``root`` (itself, ``root/MSMT17_V1``, ``root/MSMT17_V2`` or its only
    sub-folder), or None."""
    return locate(root, _is_msmt17, names=("MSMT17_V1", "MSMT17_V2", "msmt17", "MSMT17"))


def _is_msmt17(folder):
    return (folder / "list_query.txt").is_file() or any(
        (folder / train).is_dir() and (folder / test).is_dir()
        and first_existing(folder, _LISTS.values()) is not None
        for _, train, test in _LAYOUTS)


def _layout(base):
    for version, train, test in _LAYOUTS:
        if (base / train).is_dir() or (base / test).is_dir():
            return version, train, test
    return "V1", "train", "test"  # the missing folder is then named by the caller


def _read_list(path):
    if not path.is_file():
        raise missing(path, _LINE_EXPECTED)
    rel, pids, cams = [], [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise malformed(path, f"not text ({exc})", _LINE_EXPECTED) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split()
        parts = re.split(r"[\\/]", fields[0])  # a path inside the image folder only
        match = _NAME.match(parts[-1])
        inside = parts[0] != "" and ".." not in parts
        if (len(fields) != 2 or not re.fullmatch(r"-?\d+", fields[1]) or match is None
                or not inside):
            raise malformed(path, f"line {number} reads {line.strip()!r}", _LINE_EXPECTED)
        rel.append(fields[0])
        pids.append(int(fields[1]))
        cams.append(int(match.group(1)))
    if not rel:
        raise malformed(path, "it lists no images", _LINE_EXPECTED)
    return rel, pids, cams
