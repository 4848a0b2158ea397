"""Loader for PRID2011 (multi-shot, video re-ID) with the commonly distributed splits json."""

from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, warn_skipped
from skreid.datasets._protocol import (
    check_disjoint,
    check_frames_per_tracklet,
    check_split_range,
    check_split_type,
    load_json,
    locate,
    malformed,
    two_camera_splits,
)

_CAMERAS = ("prid_2011/multi_shot", "multi_shot", ".")
_SPLIT_FILE = "splits_prid2011.json"
_EXPECTED = ('a JSON list of splits, each an object {"train": [...], "test": [...]} of person '
             'folder names (such as "person_0001") found in both cam_a/ and cam_b/, as '
             "torchreid distributes it")

_DESCR = """\
PRID2011 (Hirzer et al., "Person Re-Identification by Descriptive and Discriminative
Classification", SCIA 2011), multi-shot
-------------------------------------------------------------------------------------
Tracklets of 385 people in camera A and 749 in camera B, 200 of them in both (5-675 frames).
Video re-ID protocol (Wang et al., ECCV 2014): the 178 people seen by both cameras in tracklets
of more than 21 frames, split 10 times at random into 89 for training and 89 for testing, as
listed by splits_prid2011.json (the file torchreid and the video re-ID literature share). Train =
both cameras' tracklets of the training people; query = the cam_a tracklets of the test people,
gallery = their cam_b tracklets. Each split is a Bunch with images (one row per frame: uint8,
n x 128 x 64 x 3, RGB, resized bilinearly), person_ids (the folder's number, person_0001 -> 1),
camera_ids (1 = cam_a, 2 = cam_b), tracklet_ids (2 x person id + camera - 1, the same in every
split) and filenames (relative to multi_shot/). Research use only (dataset terms).
"""


def load_prid2011(root, split=0, *, frames_per_tracklet=None, on_error="raise"):
    """Load PRID2011 multi-shot tracklets with one of the 10 standard train/test splits.

    PRID2011 (Hirzer et al., SCIA 2011) films people with two static cameras. The video re-ID
    protocol (Wang et al., ECCV 2014) keeps the 178 people seen by both cameras in more than 21
    frames and splits them 10 times into 89 training and 89 test people; camera A's tracklets
    are the queries, camera B's the gallery. Results are averaged over the splits.

    Parameters
    ----------
    root : str or path-like
        The PRID2011 folder (or its parent, or a folder whose only sub-folder it is) holding
        ``prid_2011/multi_shot/cam_a/`` and ``cam_b/`` (one folder per person, such as
        ``person_0001/``, with its frames) and ``splits_prid2011.json`` (a list of
        ``{"train": [...], "test": [...]}`` person folder names, as distributed with torchreid).
    split : int, default=0
        Which split of the json to load (0-9 in the standard file).
    frames_per_tracklet : int or None, default=None
        Keep this many evenly spaced frames of each tracklet (its first and last included), or
        every frame with None.
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
        If the split file is missing or malformed (naming it and what was expected), for
        example a person it lists has no folder in one camera, or ``split`` is out of range.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the PRID 2011 folder on disk.

    >>> from skreid.datasets import load_prid2011
    >>> data = load_prid2011("prid2011", split=0)  # doctest: +SKIP
    >>> len(set(data.query.person_ids)), len(set(data.gallery.person_ids))  # doctest: +SKIP
    (89, 89)
    """
    check_on_error(on_error)
    split = check_split_type(split)
    frames_per_tracklet = check_frames_per_tracklet(frames_per_tracklet)
    base = find_prid2011(root)
    if base is None:
        raise ValueError(f"No PRID2011 layout found in {str(root)!r}: expected the folders "
                         f"prid_2011/multi_shot/cam_a/ and cam_b/ (one folder per person) and "
                         f"the split file {_SPLIT_FILE}.")
    shots = _multi_shot(base)
    cameras = (shots / "cam_a", shots / "cam_b")
    candidates = dict.fromkeys((base, shots, shots.parent, shots.parent.parent))
    split_file = next((c / _SPLIT_FILE for c in candidates if (c / _SPLIT_FILE).is_file()),
                      base / _SPLIT_FILE)
    splits = load_json(split_file, _EXPECTED)
    if not isinstance(splits, list) or not splits:
        raise malformed(split_file, "it is not a non-empty list", _EXPECTED)
    check_split_range(split, len(splits), repr(str(split_file)))
    chosen = splits[split]
    parts = {}
    for part in ("train", "test"):
        names = chosen.get(part) if isinstance(chosen, dict) else None
        if (not isinstance(names, list) or not names
                or not all(isinstance(n, str) and n not in ("", ".", "..")
                           and "/" not in n and "\\" not in n for n in names)):
            raise malformed(split_file, f"split {split} has no {part!r} list of folder names",
                            _EXPECTED)
        for name in names:
            for cam in cameras:
                if not (cam / name).is_dir():
                    raise malformed(split_file, f"split {split} lists {name!r}, but "
                                                f"{str(cam / name)!r} is not a folder",
                                    _EXPECTED)
        parts[part] = sorted(set(names))
    check_disjoint(parts["train"], parts["test"], split_file, _EXPECTED)
    skipped = []
    out = two_camera_splits(cameras, parts["train"], parts["test"], shots, on_error, skipped,
                            frames_per_tracklet)
    warn_skipped(skipped)
    return Bunch(**out, split=split, split_file=str(split_file), root=str(base), DESCR=_DESCR)


def find_prid2011(root):
    """The PRID2011 folder in ``root`` (itself, ``root/prid2011`` or its only sub-folder), or
    None."""
    return locate(root, lambda f: _multi_shot(f) is not None,
                  names=("prid2011", "PRID2011", "prid_2011"))


def _multi_shot(folder):
    """The folder holding cam_a/ and cam_b/ with person sub-folders (VIPeR's cam_a/ and cam_b/
    hold images instead)."""
    for rel in _CAMERAS:
        shots = folder / rel
        if (shots / "cam_b").is_dir() and (shots / "cam_a").is_dir() and any(
                p.is_dir() for p in (shots / "cam_a").iterdir()):
            return shots
    return None
