"""Loader for Market-1501 folders: the standard release and the QUT CAB420 course layout."""

import re
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import (
    check_folder,
    check_on_error,
    list_images,
    read_images,
    warn_skipped,
)

MARKET_IMAGE_SIZE = (128, 64)

# PPPP_cCsS_FFFFFF_BB.jpg: person (-1 junk, 0 distractor), camera, sequence, frame, box.
# The repeated extension tolerates the ".jpg.jpg" files of the course data.
_MARKET_NAME = re.compile(r"^(-?\d+)_c(\d+)s(\d+)_(\d+)_(\d+)(?:\.jpe?g|\.png)+$", re.IGNORECASE)

# layout name -> (train, gallery, query) folders relative to the root
_LAYOUTS = {
    "standard": ("bounding_box_train", "bounding_box_test", "query"),
    "course": ("Training", "Testing/Gallery", "Testing/Probe"),
}

_DESCR = """\
Market-1501 (Zheng et al., "Scalable Person Re-identification: A Benchmark", ICCV 2015)
---------------------------------------------------------------------------------------
Splits train / gallery / query, each a Bunch with images (uint8, n x 128 x 64 x 3, RGB),
person_ids, camera_ids (1..6) and filenames (sorted by name).
layout "standard" reads bounding_box_train/, bounding_box_test/ (gallery) and query/;
layout "course" (QUT CAB420) reads Training/, Testing/Gallery/ and Testing/Probe/ (= query).
Ids are parsed from names PPPP_cCsS_FFFFFF_BB.jpg (a doubled ".jpg.jpg" is accepted). Market's
junk images (id -1) and distractors (id 0) are kept with those ids: filter them with
person_ids > 0 if your protocol drops them (the official evaluation ignores junk matches).
Images that are not 128 x 64 are resized to it (bilinear). Research use only (dataset terms).
"""


def parse_market_name(filename):
    """Parse a Market-1501 file name into ``(person_id, camera_id)``, or return None.

    Examples
    --------
    >>> from skreid.datasets import parse_market_name
    >>> parse_market_name("0002_c1s1_000451_03.jpg")
    (2, 1)
    >>> parse_market_name("-1_c3s2_012345_01.jpg.jpg")
    (-1, 3)
    >>> parse_market_name("holiday.jpg") is None
    True
    """
    match = _MARKET_NAME.match(Path(filename).name)
    if match is None:
        return None
    return int(match.group(1)), int(match.group(2))


def load_market1501(root, *, on_error="raise"):
    """Load a Market-1501 folder (standard or course layout, detected automatically).

    Parameters
    ----------
    root : str or path-like
        Folder holding either ``bounding_box_train/``, ``bounding_box_test/`` and ``query/``
        (the official release) or ``Training/`` and ``Testing/{Gallery,Probe}/`` (the QUT
        CAB420 course subset). A folder whose only sub-folder has one of these layouts (such as
        the parent of ``Market-1501-v15.09.15/``) works too.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a file whose name does not parse or that cannot be decoded: raise a
        ValueError naming it, or skip it and emit one warning counting the skipped files.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``gallery`` and ``query`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, ``person_ids`` and ``camera_ids`` int64, ``filenames``),
        ``layout`` ("standard" or "course"), ``root`` and ``DESCR``. Junk (-1) and distractor
        (0) ids are kept as they are; images of other sizes are resized to 128 x 64.

    Examples
    --------
    A folder in the standard layout, one image per split:

    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skreid.datasets import load_market1501
    >>> root = Path(tempfile.mkdtemp())
    >>> for folder, name in [("bounding_box_train", "0002_c1s1_000451_03.jpg"),
    ...                      ("bounding_box_test", "0007_c2s1_000100_01.jpg"),
    ...                      ("query", "0007_c3s1_000200_01.jpg")]:
    ...     (root / folder).mkdir()
    ...     Image.new("RGB", (64, 128)).save(root / folder / name)
    >>> data = load_market1501(root)
    >>> data.layout, data.train.images.shape, data.query.person_ids, data.query.camera_ids
    ('standard', (1, 128, 64, 3), array([7]), array([3]))

    The release itself (not run by the test suite: it needs the download) has 12,936 training
    images:

    >>> load_market1501("Market-1501-v15.09.15").train.images.shape  # doctest: +SKIP
    (12936, 128, 64, 3)
    """
    check_on_error(on_error)
    root = check_folder(root)
    found, root = _find_layout(root)
    if found is None:
        raise ValueError(
            f"No Market-1501 layout found in {str(root)!r}: expected the folders "
            f"bounding_box_train/, bounding_box_test/ and query/ (standard layout) or Training/, "
            f"Testing/Gallery/ and Testing/Probe/ (course layout)."
        )
    splits = {}
    skipped = []
    for split, folder in zip(("train", "gallery", "query"), _LAYOUTS[found], strict=True):
        path = root / folder
        if not path.is_dir():
            raise ValueError(
                f"Market-1501 {found} layout in {str(root)!r} is missing the {split} folder "
                f"{folder}/."
            )
        splits[split] = _load_split(path, on_error, skipped)
    warn_skipped(skipped)
    return Bunch(**splits, layout=found, root=str(root), DESCR=_DESCR)


def detect_market_layout(root):
    """Name of the Market-1501 layout of folder ``root`` ("standard" or "course"), or None.

    Two of a layout's three split folders are enough (the third one's absence is then an
    error of :func:`load_market1501` naming it), in ``root`` or in its only sub-folder.
    """
    return _find_layout(check_folder(root))[0]


def _find_layout(root):
    found = _detect_layout(root)
    if found is None:
        children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
        if len(children) == 1:
            found = _detect_layout(children[0])
            root = children[0] if found is not None else root
    return found, root


def _detect_layout(root):
    for name, folders in _LAYOUTS.items():
        # two of the three folders are enough to recognise a layout; a missing third one then
        # gets its own error naming it
        if sum((root / f).is_dir() for f in folders) >= 2:
            return name
    return None


def _load_split(folder, on_error, skipped):
    files = list_images(folder)
    if not files:
        raise ValueError(f"Folder {str(folder)!r} holds no images (.jpg/.png files expected).")
    parsed = []
    for path in files:
        ids = parse_market_name(path.name)
        if ids is None:
            if on_error == "raise":
                raise ValueError(
                    f"File name {str(path)!r} does not follow the Market-1501 pattern "
                    f"PPPP_cCsS_FFFFFF_BB.jpg (e.g. 0002_c1s1_000451_03.jpg); rename or remove "
                    f"it, or pass on_error='skip'."
                )
            skipped.append(path)
            continue
        parsed.append((path, ids))
    images, keep = read_images([path for path, _ in parsed], MARKET_IMAGE_SIZE, on_error, skipped)
    parsed = [parsed[i] for i in keep]
    if not parsed:
        raise ValueError(f"No readable Market-1501 images in folder {str(folder)!r}.")
    return Bunch(
        images=images,
        person_ids=np.array([ids[0] for _, ids in parsed], dtype=np.int64),
        camera_ids=np.array([ids[1] for _, ids in parsed], dtype=np.int64),
        filenames=np.array([path.name for path, _ in parsed]),
    )
