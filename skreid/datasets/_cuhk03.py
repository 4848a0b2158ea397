"""Loader for CUHK03 with the 767/700 "new protocol" (labeled or detected boxes)."""

import re

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import check_on_error, warn_skipped
from skreid.datasets._market import MARKET_IMAGE_SIZE
from skreid.datasets._protocol import (
    build_split,
    check_disjoint,
    first_existing,
    load_json,
    load_mat,
    locate,
    malformed,
    mat_indices,
)

# P_III_V_NN.png: camera pair (1-5), person index within the pair, view (1, 2), image (01-10)
_NAME = re.compile(r"^([1-5])_(\d{3})_([12])_(\d{2})\.png$")
_VARIANTS = ("labeled", "detected")
_RAW_MAT = ("cuhk-03.mat", "cuhk03_release/cuhk-03.mat")

_CONFIG_EXPECTED = (
    "the new-protocol config of Zhong et al. (CVPR 2017): a MATLAB file with the variables "
    "filelist (image names such as 1_001_1_01.png), labels (one person label per file) and the "
    "1-based index vectors train_idx, query_idx and gallery_idx")
_JSON_EXPECTED = (
    'torchreid\'s new-protocol split: a JSON list whose first item is an object with "train", '
    '"query" and "gallery" lists of [image path, person id, camera id] entries, the image '
    "named like 1_001_1_01.png")

_DESCR = """\
CUHK03, new protocol (Li et al., "DeepReID: Deep Filter Pairing Neural Network for Person
Re-identification", CVPR 2014; protocol of Zhong et al., "Re-ranking Person Re-identification
with k-reciprocal Encoding", CVPR 2017)
---------------------------------------------------------------------------------------------
1,467 identities seen by 5 pairs of cameras. The new protocol trains on 767 identities and tests
on the other 700: one query image per test identity and camera (1,400 queries), the rest of their
images in the gallery. Labeled boxes: 7,368 train / 1,400 query / 5,328 gallery images; detected
boxes (DPM): 7,365 / 1,400 / 5,332. Splits train / query / gallery, each a Bunch with images
(uint8, n x 128 x 64 x 3, RGB, resized bilinearly), person_ids, camera_ids and filenames
(P_III_V_NN.png: camera pair P, person III within the pair, view V, image NN).
person_ids = 1000 x P + III (unique over the dataset, the same whichever split file is read);
camera_ids = 2 x (P - 1) + V, the physical camera (1-10). The split comes from
cuhk03_new_protocol_config_<variant>.mat (official) or torchreid's splits_new_<variant>.json;
images from images_<variant>/ (extracted PNGs) or the official cuhk-03.mat (read with h5py).
Research use only (dataset terms).
"""


def load_cuhk03(root, *, variant="labeled", split="new", on_error="raise"):
    """Load CUHK03 with the 767/700 "new protocol" (Zhong et al., CVPR 2017).

    CUHK03 (Li et al., "DeepReID", CVPR 2014) has 1,467 identities seen by 5 camera pairs, with
    hand-drawn ("labeled") and DPM-detected ("detected") boxes. The new protocol trains on 767
    identities and tests on the other 700; each test identity has one query image per camera,
    its other images form the gallery, and the Market-1501 camera rule applies.

    Parameters
    ----------
    root : str or path-like
        The CUHK03 folder (or its parent, or a folder whose only sub-folder it is) holding a
        split file and the images:

        - split: ``cuhk03_new_protocol_config_<variant>.mat`` (the official config, read with
          scipy), else torchreid's ``splits_new_<variant>.json``;
        - images: ``images_<variant>/`` (PNGs named like ``1_001_1_01.png``, as torchreid
          extracts them), else the official ``cuhk03_release/cuhk-03.mat`` (MATLAB v7.3, read
          with h5py; nothing is written to disk).
    variant : {"labeled", "detected"}, default="labeled"
        Which boxes to load.
    split : {"new"}, default="new"
        The protocol; only the 767/700 new protocol is supported (the 20 classic 1,367/100
        splits are no longer reported).
    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be decoded: raise a ValueError naming it, or skip
        it and emit one warning counting the skipped images. A missing or malformed split file
        always raises.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``train``, ``query`` and ``gallery`` (each a Bunch with ``images`` uint8
        n x 128 x 64 x 3, ``person_ids`` = 1000 x camera pair + person index, ``camera_ids``
        1-10 = 2 x (camera pair - 1) + view, ``filenames``), ``variant``, ``split_file``,
        ``root`` and ``DESCR``.

    Raises
    ------
    ValueError
        If no split file or no images are found, or the split file is malformed (naming the
        file and what was expected), or train and test identities overlap.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the CUHK03 folder on disk.

    >>> from skreid.datasets import load_cuhk03
    >>> data = load_cuhk03("cuhk03", variant="detected")  # doctest: +SKIP
    >>> len(data.query.images), len(data.gallery.images)  # doctest: +SKIP
    (1400, 5332)
    """
    check_on_error(on_error)
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be 'labeled' or 'detected', got {variant!r}.")
    if split != "new":
        raise ValueError(f"split must be 'new' (the 767/700 protocol of Zhong et al.), got "
                         f"{split!r}.")
    base = find_cuhk03(root)
    if base is None:
        raise ValueError(
            f"No CUHK03 layout found in {str(root)!r}: expected "
            f"cuhk03_new_protocol_config_{variant}.mat or splits_new_{variant}.json, with "
            f"images_{variant}/ or cuhk03_release/cuhk-03.mat.")
    split_file, names = _read_split(base, variant)
    person, camera = {}, {}
    for part, part_names in names.items():
        ids = [_parse(n, split_file) for n in part_names]
        person[part] = [1000 * pair + pid for pair, pid, _, _ in ids]
        camera[part] = [2 * (pair - 1) + view for pair, _, view, _ in ids]
    check_disjoint(person["train"], person["query"] + person["gallery"], split_file,
                   _CONFIG_EXPECTED if split_file.suffix == ".mat" else _JSON_EXPECTED)
    folder = base / f"images_{variant}"
    raw = first_existing(base, _RAW_MAT)
    if not folder.is_dir() and raw is None:
        raise ValueError(f"No CUHK03 {variant} images in {str(base)!r}: expected the folder "
                         f"images_{variant}/ or the file cuhk03_release/cuhk-03.mat.")
    skipped, out = [], {}
    for part in ("train", "query", "gallery"):
        if folder.is_dir():
            paths = [folder / n for n in names[part]]
            out[part] = build_split(paths, person[part], camera[part], folder, on_error,
                                    skipped, what=part)
        else:
            images, keep = _read_raw(raw, variant, names[part], on_error, skipped)
            out[part] = build_split(
                None, np.asarray(person[part])[keep], np.asarray(camera[part])[keep], base,
                on_error, skipped, images=images,
                filenames=[names[part][i] for i in keep], what=part)
    warn_skipped(skipped)
    return Bunch(**out, variant=variant, split_file=str(split_file), root=str(base),
                 DESCR=_DESCR)


def find_cuhk03(root):
    """The CUHK03 folder in ``root`` (itself, ``root/cuhk03`` or its only sub-folder), or None."""
    return locate(root, _is_cuhk03, names=("cuhk03", "CUHK03"))


def _is_cuhk03(folder):
    files = [f"cuhk03_new_protocol_config_{v}.mat" for v in _VARIANTS]
    files += [f"splits_new_{v}.json" for v in _VARIANTS] + list(_RAW_MAT)
    return (first_existing(folder, files) is not None
            or first_existing(folder, [f"images_{v}" for v in _VARIANTS], kind="dir") is not None)


def _read_split(base, variant):
    """(split file, {"train"/"query"/"gallery": image names}) from the official config, else
    from torchreid's json; neither present is an error naming both."""
    config = base / f"cuhk03_new_protocol_config_{variant}.mat"
    if config.is_file():
        return config, _read_config(config)
    split_json = base / f"splits_new_{variant}.json"
    if split_json.is_file():
        return split_json, _read_json(split_json)
    raise ValueError(f"CUHK03 folder {str(base)!r} has no new-protocol split file for the "
                     f"{variant} variant: expected {config.name} ({_CONFIG_EXPECTED}) or "
                     f"{split_json.name} ({_JSON_EXPECTED}).")


def _read_config(path):
    keys = ("filelist", "labels", "train_idx", "query_idx", "gallery_idx")
    mat = load_mat(path, keys, _CONFIG_EXPECTED)
    try:
        files = [str(f if isinstance(f, str) else np.ravel(f)[0]).strip()
                 for f in np.ravel(mat["filelist"])]
        labels = np.asarray(mat["labels"]).ravel().astype(np.int64)
    except (IndexError, TypeError, ValueError):
        raise malformed(path, "filelist is not a list of names or labels not integers",
                        _CONFIG_EXPECTED) from None
    if len(labels) != len(files):
        raise malformed(path, f"{len(labels)} labels for {len(files)} files", _CONFIG_EXPECTED)
    # the labels must name the same people as the file names do
    ids = [1000 * pair + pid for pair, pid, _, _ in (_parse(f, path) for f in files)]
    pairs = set(zip(ids, labels.tolist(), strict=True))
    if len(pairs) != len(set(ids)) or len(pairs) != len(set(labels.tolist())):
        raise malformed(path, "labels disagree with the people the file names give",
                        _CONFIG_EXPECTED)
    out = {}
    for part in ("train", "query", "gallery"):
        idx = mat_indices(mat, f"{part}_idx", path, len(files), _CONFIG_EXPECTED)
        out[part] = [files[i] for i in idx]
    return out


def _read_json(path):
    data = load_json(path, _JSON_EXPECTED)
    if not isinstance(data, list) or not data or not isinstance(data[0], dict):
        raise malformed(path, "not a list of split objects", _JSON_EXPECTED)
    out = {}
    for part in ("train", "query", "gallery"):
        entries = data[0].get(part)
        if not isinstance(entries, list) or not entries:
            raise malformed(path, f"no {part!r} list", _JSON_EXPECTED)
        names = []
        for entry in entries:
            if not isinstance(entry, list) or not entry or not isinstance(entry[0], str):
                raise malformed(path, f"{part!r} entry {entry!r} is not [image path, ...]",
                                _JSON_EXPECTED)
            names.append(re.split(r"[\\/]", entry[0])[-1])  # paths from another machine
        out[part] = names
    return out


def _parse(name, source):
    match = _NAME.match(name)
    if match is None:
        raise malformed(source, f"image name {name!r} is not P_III_V_NN.png", "names such as "
                        "1_001_1_01.png (camera pair, person, view, image)")
    return tuple(int(g) for g in match.groups())


def _read_raw(path, variant, names, on_error, skipped):
    """Decode ``names`` from the official cuhk-03.mat (MATLAB v7.3 = HDF5): ``variant`` holds
    one cell per camera pair, each a persons x 10 cell of images stored transposed (3 x w x h).
    Returns the resized images and the indices of ``names`` that decoded."""
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py comes with Keras; listed in skreid[datasets]
        raise ImportError(f"Reading {str(path)!r} (MATLAB v7.3) needs h5py: pip install h5py, "
                          f"or extract the images to images_{variant}/.") from None
    from PIL import Image

    h, w = MARKET_IMAGE_SIZE
    images = np.empty((len(names), h, w, 3), dtype=np.uint8)
    keep, pairs = [], {}
    try:
        with h5py.File(path, "r") as mat:
            cells = np.ravel(mat[variant][()])
            for i, name in enumerate(names):
                pair, pid, _, img = _parse(name, path)
                if pair not in pairs:  # MATLAB stores the persons x 10 cell as 10 x persons
                    pairs[pair] = mat[cells[pair - 1]][()]
                pixels = mat[pairs[pair][img - 1, pid - 1]][()]
                if pixels.ndim != 3 or pixels.shape[0] != 3:  # an empty cell: no such image
                    if on_error == "raise":
                        raise ValueError(f"CUHK03 file {str(path)!r} holds no {variant} image "
                                         f"{name!r} (an empty cell).")
                    skipped.append(f"{path}:{name}")
                    continue
                pil = Image.fromarray(np.ascontiguousarray(pixels.T).astype(np.uint8))
                images[i] = np.asarray(pil.convert("RGB").resize((w, h), Image.BILINEAR))
                keep.append(i)
    except (OSError, KeyError, IndexError, TypeError) as exc:
        raise ValueError(f"Could not read CUHK03 file {str(path)!r} ({exc}): expected the "
                         f"official MATLAB v7.3 cuhk-03.mat with the cells 'labeled' and "
                         f"'detected' (5 camera pairs x persons x 10 images).") from None
    return images[keep], keep
