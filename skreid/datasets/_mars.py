"""Loader for MARS (video re-ID): tracklets from the release's info files."""

import re

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, warn_skipped
from skreid.datasets._protocol import (
    build_tracklet_split,
    check_frames_per_tracklet,
    first_existing,
    load_mat,
    locate,
    malformed,
    mat_indices,
    missing,
)

# PPPPCcTttttFfff.jpg: person (0000 distractor, 00-1 junk), camera, tracklet, frame
_NAME = re.compile(r"^(\d{4}|00-1)C(\d)T\d+F\d+\.(?:jpe?g|png)$", re.IGNORECASE)
_TRACKS_EXPECTED = ("a MATLAB file with a variable {key} of shape (n_tracklets, 4): 1-based "
                    "first and last row in {names}, person id and camera (1-6) per tracklet")
_NAMES_EXPECTED = "one image name per line, such as 0001C1T0001F001.jpg"
_QUERY_EXPECTED = ("a MATLAB file with a variable query_IDX: the 1-based rows of "
                   "tracks_test_info.mat that are queries")

_DESCR = """\
MARS (Zheng et al., "MARS: A Video Benchmark for Large-Scale Person Re-identification",
ECCV 2016)
----------------------------------------------------------------------------------------
1,261 identities, 6 cameras, 20,478 tracklets (1,191,003 frames) found by a detector and a
tracker. Official protocol, read from the info files of the release (MARS-evaluation):
train = the 8,298 tracklets of 625 identities (tracks_train_info.mat over train_name.txt);
query = the 1,980 tracklets listed in query_IDX.mat; gallery = the other 10,200 test tracklets
(tracks_test_info.mat over test_name.txt), junk (person id -1) and distractor (0) tracklets kept
as the release gives them (torchreid drops the junk ones, leaving 9,330). Each split is a Bunch
with images (one row per frame: uint8, n x 128 x 64 x 3, RGB, resized bilinearly), person_ids,
camera_ids (1-6), tracklet_ids (train: the row of tracks_train_info; query and gallery: 8,298 +
the row of tracks_test_info) and filenames (bbox_train/PPPP/name or bbox_test/PPPP/name).
Every frame of MARS takes about 29 GB at 128 x 64: pass frames_per_tracklet (evenly spaced
frames, first and last included) to load fewer. Research use only (dataset terms).
"""


def load_mars(root, *, frames_per_tracklet=None, on_error="raise"):
    """Load MARS tracklets with the official train / query / gallery protocol.

    MARS (Zheng et al., ECCV 2016) holds 20,478 tracklets of 1,261 identities from 6 cameras.
    The protocol trains on 625 identities (8,298 tracklets); 1,980 test tracklets are queries,
    matched against the other test tracklets under the Market-1501 camera rule. Frames come
    one per row, with ``tracklet_ids`` naming each frame's tracklet (pool them to compare
    tracklets).

    Parameters
    ----------
    root : str or path-like
        The MARS folder (or its parent, or a folder whose only sub-folder it is) holding
        ``bbox_train/``, ``bbox_test/`` (one sub-folder per person) and the info files
        ``train_name.txt``, ``test_name.txt``, ``tracks_train_info.mat``,
        ``tracks_test_info.mat`` and ``query_IDX.mat`` (in ``info/`` as MARS-evaluation ships
        them, or next to the image folders).
    frames_per_tracklet : int or None, default=None
        Keep this many evenly spaced frames of each tracklet (its first and last included;
        shorter tracklets are kept whole), or every frame with None. All of MARS takes about
        29 GB of memory at 128 x 64; 8 frames per tracklet about 4 GB.
    on_error : {"raise", "skip"}, default="raise"
        What to do with a frame that cannot be read: raise a ValueError naming it, or skip it
        and emit one warning counting the skipped frames. A missing or malformed info file
        always raises.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``query`` and ``gallery`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, one row per frame, and int64 ``person_ids``, ``camera_ids``,
        ``tracklet_ids``, plus ``filenames``), ``root`` and ``DESCR``. Junk (-1) and distractor
        (0) tracklets are kept with those ids.

    Raises
    ------
    ValueError
        If an info file is missing or malformed (naming it and what was expected), or a
        tracklet's frames disagree with its person or camera.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the MARS folder on disk.

    >>> from skreid.datasets import load_mars
    >>> data = load_mars("MARS", frames_per_tracklet=8)  # doctest: +SKIP
    >>> len(np.unique(data.query.tracklet_ids))  # doctest: +SKIP
    1980
    """
    check_on_error(on_error)
    frames_per_tracklet = check_frames_per_tracklet(frames_per_tracklet)
    base = find_mars(root)
    if base is None:
        raise ValueError(f"No MARS layout found in {str(root)!r}: expected the folders "
                         f"bbox_train/ and bbox_test/ with info/ (train_name.txt, test_name.txt, "
                         f"tracks_train_info.mat, tracks_test_info.mat, query_IDX.mat).")
    info = base / "info" if (base / "info").is_dir() else base
    train = _tracks(base, info, "train", "bbox_train", 0)
    test = _tracks(base, info, "test", "bbox_test", len(train))
    query_file = info / "query_IDX.mat"
    query_rows = mat_indices(load_mat(query_file, ("query_IDX",), _QUERY_EXPECTED), "query_IDX",
                             query_file, len(test), _QUERY_EXPECTED)
    is_query = np.zeros(len(test), dtype=bool)
    is_query[query_rows] = True
    skipped = []
    splits = {
        "train": train,
        "query": [test[i] for i in query_rows],
        "gallery": [t for t, q in zip(test, is_query, strict=True) if not q],
    }
    out = {part: build_tracklet_split(tracklets, base, on_error, skipped, frames_per_tracklet,
                                      part)
           for part, tracklets in splits.items()}
    warn_skipped(skipped)
    return Bunch(**out, root=str(base), DESCR=_DESCR)


def find_mars(root):
    """The MARS folder in ``root`` (itself, ``root/MARS`` or its only sub-folder), or None."""
    return locate(root, _is_mars, names=("MARS", "mars"))


def _is_mars(folder):
    return (first_existing(folder, ("bbox_train", "bbox_test"), kind="dir") is not None
            and first_existing(folder, ("info/tracks_test_info.mat", "tracks_test_info.mat",
                                        "info/test_name.txt", "test_name.txt")) is not None)


def _tracks(base, info, part, folder, first_id):
    """The tracklets of ``part``: (frame paths, person id, camera id, tracklet id) tuples."""
    names_file = info / f"{part}_name.txt"
    if not names_file.is_file():
        raise missing(names_file, _NAMES_EXPECTED)
    names = [line.strip() for line in names_file.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    key = f"track_{part}_info"
    mat_file = info / f"tracks_{part}_info.mat"
    expected = _TRACKS_EXPECTED.format(key=key, names=names_file.name)
    table = np.asarray(load_mat(mat_file, (key,), expected)[key])
    if table.ndim != 2 or table.shape[1] != 4 or not np.issubdtype(table.dtype, np.number):
        raise malformed(mat_file, f"{key} has shape {table.shape}", expected)
    table = table.astype(np.int64)
    bad = (table[:, 0] < 1) | (table[:, 1] < table[:, 0]) | (table[:, 1] > len(names))
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise malformed(mat_file, f"row {row + 1} spans rows {table[row, 0]}..{table[row, 1]} of "
                                  f"{names_file.name}, which has {len(names)}", expected)
    tracklets = []
    for row, (start, end, pid, cam) in enumerate(table):
        frames = names[start - 1:end]
        for name in frames:
            match = _NAME.match(name)
            if match is None:
                raise malformed(names_file, f"{name!r} is not a MARS image name",
                                _NAMES_EXPECTED)
            person = -1 if match.group(1) == "00-1" else int(match.group(1))
            if (person, int(match.group(2))) != (pid, cam):
                raise malformed(mat_file, f"row {row + 1} (person {pid}, camera {cam}) covers "
                                          f"{name!r} of another person or camera", expected)
        paths = [base / folder / name[:4] / name for name in frames]
        tracklets.append((paths, int(pid), int(cam), first_id + row))
    return tracklets
