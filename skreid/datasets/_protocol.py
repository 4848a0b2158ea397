"""Helpers shared by the published-protocol loaders (CUHK03, MSMT17, MARS, iLIDS-VID, PRID2011,
VIPeR): finding the dataset folder, checking ``split`` and ``frames_per_tracklet``, reading split
files with errors that name them, and building the split Bunches (same keys as Market-1501's)."""

import json
import numbers
import re

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import check_folder, list_images, read_images
from skreid.datasets._market import MARKET_IMAGE_SIZE


def locate(root, probe, names=()):
    """The dataset folder: ``root`` itself, ``root/<name>`` for a release folder ``name``, or the
    only sub-folder of ``root``, whichever ``probe(folder)`` accepts first; None if none does."""
    root = check_folder(root)
    candidates = [root] + [root / name for name in names]
    children = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")]
    if len(children) == 1:
        candidates.append(children[0])
    for folder in candidates:
        if folder.is_dir() and probe(folder):
            return folder
    return None


def first_existing(folder, relative_paths, kind="file"):
    """The first of ``folder / p`` that exists (a file or a folder per ``kind``), or None."""
    for rel in relative_paths:
        path = folder / rel
        if path.is_file() if kind == "file" else path.is_dir():
            return path
    return None


def check_split_type(split):
    if isinstance(split, bool) or not isinstance(split, numbers.Integral) or split < 0:
        raise ValueError(f"split must be a non-negative integer (the split's index), got "
                         f"{split!r}.")
    return int(split)


def check_split_range(split, n_splits, source):
    if split >= n_splits:
        raise ValueError(f"split must be in [0, {n_splits - 1}]: {source} holds {n_splits} "
                         f"split(s), got split={split!r}.")
    return split


def check_frames_per_tracklet(frames_per_tracklet):
    if frames_per_tracklet is None:
        return None
    if (isinstance(frames_per_tracklet, bool)
            or not isinstance(frames_per_tracklet, numbers.Integral) or frames_per_tracklet < 1):
        raise ValueError(f"frames_per_tracklet must be None (every frame) or a positive integer, "
                         f"got {frames_per_tracklet!r}.")
    return int(frames_per_tracklet)


def sample_frames(frames, frames_per_tracklet):
    """``frames_per_tracklet`` evenly spaced frames (first and last included), or all of them."""
    if frames_per_tracklet is None or len(frames) <= frames_per_tracklet:
        return list(frames)
    # the step is > 1 frame, so rounding never picks a frame twice
    picks = np.linspace(0, len(frames) - 1, frames_per_tracklet).round().astype(int)
    return [frames[i] for i in picks]


def malformed(path, detail, expected):
    return ValueError(f"Split file {str(path)!r} is malformed: {detail}. Expected {expected}.")


def missing(path, expected):
    return ValueError(f"Split file {str(path)!r} is missing. Expected {expected}.")


def load_mat(path, keys, expected):
    """Variables ``keys`` of the MATLAB (v5) file ``path`` read by scipy; a missing file, an
    unreadable one or a missing variable raises ValueError naming the file."""
    from scipy.io import loadmat

    if not path.is_file():
        raise missing(path, expected)
    try:
        mat = loadmat(path)
    except Exception as exc:  # noqa: BLE001 - scipy raises many types on a bad file
        raise malformed(path, f"not a readable MATLAB file ({str(exc) or type(exc).__name__})",
                        expected) from None
    for key in keys:
        if key not in mat:
            raise malformed(path, f"it has no variable {key!r}", expected)
    return mat


def load_json(path, expected):
    if not path.is_file():
        raise missing(path, expected)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise malformed(path, f"not valid JSON ({exc})", expected) from None


def mat_indices(mat, key, path, n, expected):
    """MATLAB's 1-based indices in variable ``key`` as 0-based int64, each checked < ``n``."""
    values = np.asarray(mat[key]).ravel()
    if not values.size or not np.issubdtype(values.dtype, np.number):
        raise malformed(path, f"variable {key!r} is not an array of indices", expected)
    if np.any(values != np.round(values)) or values.min() < 1 or values.max() > n:
        raise malformed(path, f"variable {key!r} holds indices outside 1..{n}", expected)
    return values.astype(np.int64) - 1


def person_number(folder):
    """The person id of a tracklet folder such as ``person001`` or ``person_0001``: its trailing
    digits (the number the release gives that person)."""
    match = re.search(r"(\d+)$", folder.name)
    if match is None:
        raise ValueError(f"Person folder {str(folder)!r} does not end with the person's number "
                         f"(expected a name such as person001 or person_0001).")
    return int(match.group(1))


def tracklet_frames(folder, on_error, skipped):
    """The image files of one tracklet folder (sorted by name); an empty folder raises or, with
    ``on_error="skip"``, is counted as skipped."""
    frames = list_images(folder) if folder.is_dir() else []
    if not frames:
        if on_error == "raise":
            raise ValueError(f"Tracklet folder {str(folder)!r} is missing or holds no images "
                             f"(.jpg/.png files expected).")
        skipped.append(folder)
    return frames


def check_disjoint(train_ids, test_ids, path, expected):
    shared = np.intersect1d(train_ids, test_ids)
    if shared.size:
        raise malformed(path, f"{shared.size} identities are both in train and test (e.g. "
                              f"{shared[0]!r})", expected)


def build_split(paths, person_ids, camera_ids, base, on_error, skipped, *, tracklet_ids=None,
                images=None, filenames=None, what="split"):
    """A split Bunch like Market-1501's: ``images`` (uint8, n x 128 x 64 x 3) read from ``paths``
    (unless given), int64 ``person_ids`` and ``camera_ids``, ``filenames`` (relative to ``base``
    unless given) and, for tracklet datasets, int64 ``tracklet_ids``."""
    if images is None:
        images, keep = read_images(paths, MARKET_IMAGE_SIZE, on_error, skipped)
    else:
        keep = list(range(len(images)))
    if not keep:
        raise ValueError(f"The {what} split in {str(base)!r} holds no readable images.")
    if filenames is None:
        filenames = [p.relative_to(base).as_posix() for p in paths]
    out = Bunch(
        images=images,
        person_ids=np.asarray(person_ids, dtype=np.int64)[keep],
        camera_ids=np.asarray(camera_ids, dtype=np.int64)[keep],
        filenames=np.asarray(filenames, dtype=str)[keep],
    )
    if tracklet_ids is not None:
        out.tracklet_ids = np.asarray(tracklet_ids, dtype=np.int64)[keep]
    return out


def build_tracklet_split(tracklets, base, on_error, skipped, frames_per_tracklet, what):
    """A split Bunch from ``tracklets``: (frame paths, person id, camera id, tracklet id) tuples,
    each tracklet sampled to ``frames_per_tracklet`` frames."""
    paths, pids, cams, tids = [], [], [], []
    for frames, pid, cam, tid in tracklets:
        frames = sample_frames(frames, frames_per_tracklet)
        paths += frames
        pids += [pid] * len(frames)
        cams += [cam] * len(frames)
        tids += [tid] * len(frames)
    return build_split(paths, pids, cams, base, on_error, skipped, tracklet_ids=tids, what=what)


def two_camera_splits(cameras, train, test, base, on_error, skipped, frames_per_tracklet):
    """train / query / gallery Bunches of a two-camera tracklet dataset (iLIDS-VID, PRID2011):
    train holds both cameras' tracklets of the ``train`` person folders, query camera 1's and
    gallery camera 2's of the ``test`` ones. A tracklet's id is 2 x person id + camera - 1, the
    same in every split."""
    out = {}
    for part, names, cams in (("train", train, (1, 2)), ("query", test, (1,)),
                              ("gallery", test, (2,))):
        tracklets = []
        for name in names:
            for cam in cams:
                folder = cameras[cam - 1] / name
                pid = person_number(folder)
                frames = tracklet_frames(folder, on_error, skipped)
                tracklets.append((frames, pid, cam, 2 * pid + cam - 1))
        out[part] = build_tracklet_split(tracklets, base, on_error, skipped,
                                         frames_per_tracklet, part)
    return out
