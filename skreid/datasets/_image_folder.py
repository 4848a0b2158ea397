"""Loader for custom re-ID data stored as one sub-folder per identity."""

import re

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import (
    check_folder,
    check_on_error,
    list_images,
    read_images,
    warn_skipped,
)
from skreid.utils import check_image_size

# A camera token in a file name: Market/Duke style "c3s1" / "_c3_", or "cam3" / "camera3",
# delimited by the start or end of the name, "_", "-" or "."
_CAMERA_TOKEN = re.compile(r"(?:^|[_\-.])(?:c|cam|camera)(\d+)(?:s\d+)?(?=[_\-.]|$)", re.IGNORECASE)

_DESCR = """\
Image folder (skreid.datasets.load_image_folder)
------------------------------------------------
One sub-folder per identity; person_ids are integer codes 0..n_identities-1 in the sorted order
of the folder names, which identity_names holds (identity_names[person_ids] gives each image's
folder). camera_ids come from a camera token in the file name ("c3", "c3s1", "cam3",
"camera3" between "_", "-" or "." separators, as in Market-1501 names) and are -1 where no token
is found. Images are converted to RGB and resized (bilinear) to image_size.
"""


def parse_camera_id(filename, default=-1):
    """Camera number in a file name such as ``0002_c3s1_000451_03.jpg`` or ``bob_cam2.png``.

    Examples
    --------
    >>> from skreid.datasets import parse_camera_id
    >>> parse_camera_id("0002_c3s1_000451_03.jpg"), parse_camera_id("bob-cam2.png")
    (3, 2)
    >>> parse_camera_id("holiday.jpg")
    -1
    """
    stem = str(filename)
    match = _CAMERA_TOKEN.search(stem)
    return int(match.group(1)) if match else default


def load_image_folder(root, image_size=(128, 64), *, on_error="raise"):
    """Load re-ID images stored as ``root/<identity>/<image>`` (one sub-folder per identity).

    Parameters
    ----------
    root : str or path-like
        Folder whose sub-folders are identities. Files directly in ``root`` and hidden
        entries are ignored; sub-folders are not searched recursively.
    image_size : int or (height, width), default=(128, 64)
        Size every image is resized to (bilinear), Market-1501's size by default.
    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be decoded or an identity folder without images:
        raise a ValueError naming it, or skip it with one warning counting what was skipped.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (uint8, n x h x w x 3), ``person_ids`` (int64 codes into
        ``identity_names``), ``identity_names`` (folder names, sorted), ``camera_ids`` (int64,
        parsed from names like ``..._c3s1_...`` or ``..._cam3...``, -1 when absent),
        ``filenames`` (``"<identity>/<file>"``) and ``DESCR``.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from PIL import Image
    >>> from skreid.datasets import load_image_folder
    >>> root = Path(tempfile.mkdtemp())
    >>> for person in ("alice", "bob"):
    ...     (root / person).mkdir()
    ...     for camera in (1, 2):
    ...         Image.new("RGB", (32, 64)).save(root / person / f"{person}_c{camera}.png")
    >>> data = load_image_folder(root, image_size=(128, 64))
    >>> data.images.shape, data.identity_names.tolist(), data.camera_ids
    ((4, 128, 64, 3), ['alice', 'bob'], array([1, 2, 1, 2]))
    """
    check_on_error(on_error)
    size = check_image_size(image_size)
    root = check_folder(root)
    identities = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not identities:
        loose = len(list_images(root))
        hint = (
            f" (it holds {loose} image files directly: move them into identity folders)"
            if loose
            else ""
        )
        raise ValueError(
            f"Folder {str(root)!r} has no identity sub-folders{hint}; expected "
            f"root/<identity>/<image>.jpg."
        )
    entries, skipped = [], []
    names = []
    for folder in identities:
        files = list_images(folder)
        if not files:
            if on_error == "raise":
                raise ValueError(
                    f"Identity folder {str(folder)!r} holds no images (.jpg/.png/... expected); "
                    f"remove it or pass on_error='skip'."
                )
            skipped.append(folder)
            continue
        names.append(folder.name)
        entries.extend((len(names) - 1, path) for path in files)
    if not entries:
        raise ValueError(f"No images found under {str(root)!r}.")

    images, keep = read_images([path for _, path in entries], size, on_error, skipped)
    warn_skipped(skipped, what="file or folder")
    if not keep:
        raise ValueError(f"No readable images under {str(root)!r}.")
    entries = [entries[i] for i in keep]
    codes = np.array([code for code, _ in entries], dtype=np.int64)
    # an identity whose every image failed to decode leaves a hole in the codes: re-number
    used, codes = np.unique(codes, return_inverse=True)
    return Bunch(
        images=images,
        person_ids=codes.astype(np.int64),
        identity_names=np.array(names)[used],
        camera_ids=np.array([parse_camera_id(p.name) for _, p in entries], dtype=np.int64),
        filenames=np.array([f"{p.parent.name}/{p.name}" for _, p in entries]),
        DESCR=_DESCR,
    )
