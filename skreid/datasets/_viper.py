"""Loader for VIPeR with its 10 random 316/316 splits, generated deterministically."""

import re

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, list_images, warn_skipped
from skreid.datasets._protocol import (
    build_split,
    check_split_range,
    check_split_type,
    locate,
)

N_SPLITS = 10
_NUMBER = re.compile(r"^(\d+)")

_DESCR = """\
VIPeR (Gray et al., "Evaluating Appearance Models for Recognition, Reacquisition, and
Tracking", PETS 2007)
-------------------------------------------------------------------------------------
632 people, one 128 x 48 image in each of two cameras (cam_a, cam_b) with large changes of
viewpoint and light. Protocol (Gray and Tao, ECCV 2008): 10 random splits of the people into
316 for training and 316 for testing; query = the test people's cam_a images, gallery = their
cam_b images; results are averaged over the splits. The release has no split file: split k
(0-9) is numpy.random.RandomState(k).permutation(n) of the people sorted by number, the first
n // 2 training (RandomState's stream is frozen by NumPy, so the splits never change). Each
split is a Bunch with images (uint8, n x 128 x 64 x 3, RGB, resized bilinearly from 128 x 48),
person_ids (the file's number + 1: 000_45.bmp -> 1), camera_ids (1 = cam_a, 2 = cam_b) and
filenames (cam_a/000_45.bmp). Swap query and gallery for the other direction (torchreid counts
both directions, 20 splits). Research use only (dataset terms).
"""


def load_viper(root, split=0, *, on_error="raise"):
    """Load VIPeR with one of its 10 random 316/316 train/test splits.

    VIPeR (Gray et al., PETS 2007) has one image of each of 632 people in each of two cameras.
    The protocol (Gray and Tao, ECCV 2008) splits the people 10 times at random into 316 for
    training and 316 for testing, cam_a images as queries and cam_b images as the gallery, and
    averages the results. The release ships no split file, so the splits are generated here,
    deterministically: split ``k`` is ``numpy.random.RandomState(k).permutation(n)`` of the
    people sorted by their file number, the first ``n // 2`` training.

    Parameters
    ----------
    root : str or path-like
        The VIPeR folder (or its parent, or a folder whose only sub-folder it is) holding
        ``cam_a/`` and ``cam_b/`` with one image per person each, named by the person's number
        (``000_45.bmp``: person 000 seen at 45 degrees).
    split : int, default=0
        Which of the 10 splits (0-9) to load.
    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be decoded: raise a ValueError naming it, or skip
        it and emit one warning counting the skipped images.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``query`` and ``gallery`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, ``person_ids`` = file number + 1 and ``camera_ids`` (1 = cam_a,
        2 = cam_b) int64, ``filenames``), ``split``, ``root`` and ``DESCR``.

    Raises
    ------
    ValueError
        If ``split`` is not in 0-9, a file name does not start with the person's number, or a
        person has no image (or several) in one camera.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the VIPeR folder on disk.

    >>> from skreid.datasets import load_viper
    >>> data = load_viper("VIPeR", split=0)  # doctest: +SKIP
    >>> len(data.train.images), len(data.query.images), len(data.gallery.images)  # doctest: +SKIP
    (632, 316, 316)
    """
    check_on_error(on_error)
    split = check_split_range(check_split_type(split), N_SPLITS, "VIPeR's protocol")
    base = find_viper(root)
    if base is None:
        raise ValueError(f"No VIPeR layout found in {str(root)!r}: expected the folders cam_a/ "
                         f"and cam_b/, each with one image per person (such as 000_45.bmp).")
    files = [_by_person(base / cam) for cam in ("cam_a", "cam_b")]
    for this, other in ((0, 1), (1, 0)):
        lonely = sorted(set(files[this]) - set(files[other]))
        if lonely:
            raise ValueError(f"VIPeR image {str(files[this][lonely[0]])!r} has no partner in "
                             f"{str(base / ('cam_b', 'cam_a')[this])!r}: every person needs one "
                             f"image in each camera ({len(lonely)} unpaired).")
    persons = np.array(sorted(files[0]))
    order = np.random.RandomState(split).permutation(len(persons))
    train = np.sort(persons[order[:len(persons) // 2]])
    test = np.sort(persons[order[len(persons) // 2:]])
    skipped, out = [], {}
    for part, numbers, cams in (("train", train, (0, 1)), ("query", test, (0,)),
                                ("gallery", test, (1,))):
        items = [(files[c][n], n + 1, c + 1) for n in numbers for c in cams]
        out[part] = build_split([p for p, _, _ in items], [i for _, i, _ in items],
                                [c for _, _, c in items], base, on_error, skipped, what=part)
    warn_skipped(skipped)
    return Bunch(**out, split=split, root=str(base), DESCR=_DESCR)


def find_viper(root):
    """The VIPeR folder in ``root`` (itself, ``root/VIPeR`` or its only sub-folder), or None."""
    return locate(root, _is_viper, names=("VIPeR", "viper"))


def _is_viper(folder):
    # PRID2011's cam_a/ and cam_b/ hold person folders; VIPeR's hold images
    return all((folder / cam).is_dir() and list_images(folder / cam)
               for cam in ("cam_a", "cam_b"))


def _by_person(folder):
    """{person number: image path} of one camera folder."""
    out = {}
    for path in list_images(folder):
        match = _NUMBER.match(path.name)
        if match is None:
            raise ValueError(f"VIPeR file name {str(path)!r} does not start with the person's "
                             f"number (expected names such as 000_45.bmp).")
        number = int(match.group(1))
        if number in out:
            raise ValueError(f"VIPeR folder {str(folder)!r} holds two images of person "
                             f"{number}: {out[number].name!r} and {path.name!r}.")
        out[number] = path
    return out
