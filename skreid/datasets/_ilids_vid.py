"""Loader for iLIDS-VID (video re-ID) with its 10 official train/test splits."""

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, warn_skipped
from skreid.datasets._protocol import (
    check_frames_per_tracklet,
    check_split_range,
    check_split_type,
    first_existing,
    load_mat,
    locate,
    malformed,
    two_camera_splits,
)

_SEQUENCES = ("i-LIDS-VID/sequences", "sequences")
_SPLIT_FILE = "train-test people splits/train_test_splits_ilidsvid.mat"
_EXPECTED = ("a MATLAB file with a variable ls_set of shape (n_splits, n_persons): each row a "
             "permutation of 1..n_persons (indices into the sorted person folders of cam1/), "
             "the first half of the row the test persons, the second half the training ones")

_DESCR = """\
iLIDS-VID (Wang et al., "Person Re-identification by Video Ranking", ECCV 2014)
--------------------------------------------------------------------------------
300 identities, one tracklet per identity in each of 2 non-overlapping cameras of an airport
arrival hall (23-192 frames each). Official protocol: 10 random splits of the identities into
150 for training and 150 for testing, from train-test people splits/train_test_splits_ilidsvid.mat
(variable ls_set; the first half of a row is the test set). Train = both cameras' tracklets of
the training identities; query = the cam1 tracklets of the test identities, gallery = their cam2
tracklets. Each split is a Bunch with images (one row per frame: uint8, n x 128 x 64 x 3, RGB,
resized bilinearly), person_ids (the number of the person folder, person001 -> 1), camera_ids
(1, 2), tracklet_ids (2 x person id + camera - 1, the same in every split) and filenames
(relative to sequences/). Research use only (dataset terms).
"""


def load_ilids_vid(root, split=0, *, frames_per_tracklet=None, on_error="raise"):
    """Load iLIDS-VID tracklets with one of its 10 official train/test splits.

    iLIDS-VID (Wang et al., "Person Re-identification by Video Ranking", ECCV 2014) has one
    tracklet per person in each of two cameras for 300 people. Each official split trains on 150
    people and tests the other 150: camera 1's tracklets are the queries, camera 2's the gallery.
    Results are averaged over the 10 splits.

    Parameters
    ----------
    root : str or path-like
        The iLIDS-VID folder (or its parent, or a folder whose only sub-folder it is) holding
        ``i-LIDS-VID/sequences/cam1/`` and ``cam2/`` (one folder per person, such as
        ``person001/``, with its frames) and
        ``train-test people splits/train_test_splits_ilidsvid.mat``.
    split : int, default=0
        Which of the official splits (0-9) to load: row ``split`` of the file's ``ls_set``.
    frames_per_tracklet : int or None, default=None
        Keep this many evenly spaced frames of each tracklet (its first and last included), or
        every frame with None (about 44,000 frames, 1 GB at 128 x 64).
    on_error : {"raise", "skip"}, default="raise"
        What to do with a frame that cannot be read or an empty person folder: raise a
        ValueError naming it, or skip it with one warning. A missing or malformed split file
        always raises.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``query`` and ``gallery`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, one row per frame, and int64 ``person_ids``, ``camera_ids``,
        ``tracklet_ids``, plus ``filenames``), ``split``, ``split_file``, ``root`` and
        ``DESCR``.

    Raises
    ------
    ValueError
        If the split file is missing or malformed (naming it and what was expected), ``split``
        is out of range, or a person folder is missing from one camera.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the iLIDS-VID folder on disk.

    >>> from skreid.datasets import load_ilids_vid
    >>> data = load_ilids_vid("iLIDS-VID", split=3, frames_per_tracklet=16)  # doctest: +SKIP
    >>> len(set(data.query.person_ids)), len(set(data.train.person_ids))  # doctest: +SKIP
    (150, 150)
    """
    check_on_error(on_error)
    split = check_split_type(split)
    frames_per_tracklet = check_frames_per_tracklet(frames_per_tracklet)
    base = find_ilids_vid(root)
    if base is None:
        raise ValueError(f"No iLIDS-VID layout found in {str(root)!r}: expected the folders "
                         f"i-LIDS-VID/sequences/cam1/ and cam2/ (one folder per person) and "
                         f"the split file {_SPLIT_FILE}.")
    sequences = first_existing(base, _SEQUENCES, kind="dir")
    cameras = (sequences / "cam1", sequences / "cam2")
    persons = sorted(p.name for p in cameras[0].iterdir()
                     if p.is_dir() and not p.name.startswith("."))
    if not persons:
        raise ValueError(f"iLIDS-VID folder {str(cameras[0])!r} holds no person folders.")
    for name in persons:
        if not (cameras[1] / name).is_dir():
            raise ValueError(f"iLIDS-VID person folder {str(cameras[1] / name)!r} is missing: "
                             f"every person of cam1/ needs a tracklet in cam2/.")
    # next to i-LIDS-VID/, or one level up when root is i-LIDS-VID/ itself
    names = (_SPLIT_FILE, _SPLIT_FILE.split("/")[-1])
    split_file = (first_existing(base, names) or first_existing(base.parent, names)
                  or base / _SPLIT_FILE)
    ls_set = np.asarray(load_mat(split_file, ("ls_set",), _EXPECTED)["ls_set"])
    if ls_set.ndim != 2 or ls_set.shape[1] != len(persons):
        raise malformed(split_file, f"ls_set has shape {ls_set.shape} for {len(persons)} person "
                                    f"folders in {str(cameras[0])!r}", _EXPECTED)
    check_split_range(split, ls_set.shape[0], repr(str(split_file)))
    row = ls_set[split]
    if sorted(row.tolist()) != list(range(1, len(persons) + 1)):
        raise malformed(split_file, f"row {split + 1} of ls_set is not a permutation of "
                                    f"1..{len(persons)}", _EXPECTED)
    half = len(persons) // 2
    # Wang et al.: the first half of each row is tested, the second half trained on
    test = sorted(persons[int(i) - 1] for i in row[:half])
    train = sorted(persons[int(i) - 1] for i in row[half:])
    skipped = []
    out = two_camera_splits(cameras, train, test, sequences, on_error, skipped,
                            frames_per_tracklet)
    warn_skipped(skipped)
    return Bunch(**out, split=split, split_file=str(split_file), root=str(base), DESCR=_DESCR)


def find_ilids_vid(root):
    """The iLIDS-VID folder in ``root`` (itself, ``root/iLIDS-VID`` or its only sub-folder), or
    None."""
    return locate(root, _is_ilids_vid, names=("iLIDS-VID", "ilids-vid"))


def _is_ilids_vid(folder):
    return first_existing(folder, [f"{s}/cam1" for s in _SEQUENCES], kind="dir") is not None
