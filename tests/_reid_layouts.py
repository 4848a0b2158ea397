"""Tiny synthetic folders laid out like the published re-ID datasets (CUHK03, MSMT17, MARS,
iLIDS-VID, PRID2011, VIPeR): a few 16 x 8 images, and split files written the way the releases
write them (scipy .mat, MATLAB v7.3 through h5py, json, txt). Never the real data."""

import json

import numpy as np
from PIL import Image


def write_image(path, value=128, size=(8, 16)):
    """A ``size=(w, h)`` image: the top half ``value``, the bottom half black (so a transposed
    or flipped read shows)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    pixels[: size[1] // 2] = value
    Image.fromarray(pixels).save(path)


def save_mat(path, **variables):
    from scipy.io import savemat

    path.parent.mkdir(parents=True, exist_ok=True)
    savemat(path, variables)


# CUHK03: camera pair -> persons; each person has images 01, 02 (view 1) and 06, 07 (view 2)
CUHK03_PERSONS = {1: 4, 2: 2}
CUHK03_IMAGES = (1, 2, 6, 7)
CUHK03_TRAIN = {1001, 1002}


def cuhk03_names():
    return [f"{pair}_{pid:03d}_{1 if img <= 5 else 2}_{img:02d}.png"
            for pair, n in CUHK03_PERSONS.items() for pid in range(1, n + 1)
            for img in CUHK03_IMAGES]


def _cuhk03_value(name):
    pair, pid, _, img = (int(x) for x in name[:-4].split("_"))
    return 20 * pair + 10 * pid + img


def cuhk03_protocol():
    """{"train"/"query"/"gallery": names}: persons 1001 and 1002 train; each other person has
    its images 01 (view 1) and 06 (view 2) as queries, the rest in the gallery."""
    out = {"train": [], "query": [], "gallery": []}
    for name in cuhk03_names():
        pair, pid, _, img = (int(x) for x in name[:-4].split("_"))
        part = ("train" if 1000 * pair + pid in CUHK03_TRAIN
                else "query" if img in (1, 6) else "gallery")
        out[part].append(name)
    return out


def write_cuhk03(root, *, images="folder", split="mat", variants=("labeled", "detected")):
    names = cuhk03_names()
    protocol = cuhk03_protocol()
    for variant in variants:
        if images == "folder":
            for name in names:
                write_image(root / f"images_{variant}" / name, _cuhk03_value(name))
        if split == "mat":
            labels = [names.index(n) // len(CUHK03_IMAGES) + 1 for n in names]
            save_mat(root / f"cuhk03_new_protocol_config_{variant}.mat",
                     filelist=np.array(names, dtype=object),
                     labels=np.array(labels, dtype=float)[:, None],
                     camId=np.array([int(n.split("_")[2]) for n in names])[:, None],
                     **{f"{part}_idx": np.array([names.index(n) + 1 for n in protocol[part]],
                                                dtype=float)[:, None]
                        for part in ("train", "query", "gallery")})
        elif split == "json":
            # torchreid's layout: absolute paths from the machine that wrote it, train relabelled
            entries = {part: [[f"/home/someone/cuhk03/images_{variant}/{n}", i, 0]
                              for i, n in enumerate(protocol[part])] for part in protocol}
            (root / f"splits_new_{variant}.json").write_text(json.dumps([entries]))
    if images == "mat":
        write_cuhk03_raw(root / "cuhk03_release" / "cuhk-03.mat", variants)
    return root


def write_cuhk03_raw(path, variants=("labeled", "detected")):
    """The official cuhk-03.mat as MATLAB v7.3 writes it: each variant a 1 x pairs cell of
    persons x 10 cells, stored transposed, each image stored as 3 x w x h; a missing image is
    an empty cell (a uint64 [0, 0])."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as mat:
        refs = mat.create_group("#refs#")
        counter = iter(range(10**6))
        for variant in variants:
            pair_refs = []
            for pair, n in CUHK03_PERSONS.items():
                cell = np.empty((10, n), dtype=h5py.ref_dtype)
                for pid in range(1, n + 1):
                    for img in range(1, 11):
                        if img in CUHK03_IMAGES:
                            name = f"{pair}_{pid:03d}_{1 if img <= 5 else 2}_{img:02d}.png"
                            pixels = np.zeros((16, 8, 3), dtype=np.uint8)
                            pixels[:8] = _cuhk03_value(name)
                            data = pixels.T  # MATLAB's column-major order
                        else:
                            data = np.zeros(2, dtype=np.uint64)
                        cell[img - 1, pid - 1] = refs.create_dataset(str(next(counter)),
                                                                     data=data).ref
                pair_refs.append(refs.create_dataset(str(next(counter)), data=cell).ref)
            mat.create_dataset(variant, data=np.array([pair_refs], dtype=h5py.ref_dtype))
    return path


# MSMT17: (person, camera) images per list; training and test ids are numbered separately
MSMT17_LISTS = {
    "train": [(0, 1), (0, 2), (1, 3), (1, 1)],
    "val": [(0, 4), (1, 2)],
    "query": [(0, 5), (1, 6), (2, 7)],
    "gallery": [(0, 8), (1, 6), (1, 9), (2, 10), (2, 15)],
}


def write_msmt17(root, version="V1"):
    folder = root / f"MSMT17_{version}"
    train, test = ("train", "test") if version == "V1" else ("mask_train_v2", "mask_test_v2")
    for part, items in MSMT17_LISTS.items():
        lines = []
        for k, (pid, cam) in enumerate(items):
            rel = f"{pid:04d}/{pid:04d}_{k:03d}_{cam:02d}_0303morning_{k:04d}_0.jpg"
            write_image(folder / (train if part in ("train", "val") else test) / rel, 40 + k)
            lines.append(f"{rel} {pid}")
        (folder / f"list_{part}.txt").write_text("\n".join(lines) + "\n")
    return folder


# MARS: (person, camera, frames) per tracklet; test rows 1 and 3 (1-based) are the queries
MARS_TRAIN = [(1, 1, 3), (1, 2, 2), (2, 1, 4)]
MARS_TEST = [(3, 1, 2), (3, 2, 3), (4, 2, 1), (4, 3, 2), (-1, 1, 2), (0, 4, 1)]
MARS_QUERY_ROWS = [1, 3]


def write_mars(root):
    info = root / "info"
    info.mkdir(parents=True)
    for part, tracks in (("train", MARS_TRAIN), ("test", MARS_TEST)):
        names, rows = [], []
        for t, (pid, cam, n) in enumerate(tracks, start=1):
            folder = "00-1" if pid == -1 else f"{pid:04d}"
            first = len(names) + 1
            for f in range(1, n + 1):
                name = f"{folder}C{cam}T{t:04d}F{f:03d}.jpg"
                write_image(root / f"bbox_{part}" / folder / name, 10 * t + f)
                names.append(name)
            rows.append([first, len(names), pid, cam])
        (info / f"{part}_name.txt").write_text("\n".join(names) + "\n")
        save_mat(info / f"tracks_{part}_info.mat",
                 **{f"track_{part}_info": np.array(rows, dtype=float)})
    save_mat(info / "query_IDX.mat", query_IDX=np.array([MARS_QUERY_ROWS], dtype=float))
    return root


# iLIDS-VID: 6 people, 3 frames per camera; ls_set rows: the first half is tested
ILIDS_LS_SET = [[3, 1, 5, 2, 4, 6], [6, 2, 4, 1, 3, 5]]


def write_ilids_vid(root, frames=3):
    sequences = root / "i-LIDS-VID" / "sequences"
    for cam in (1, 2):
        for pid in range(1, 7):
            for f in range(1, frames + 1):
                write_image(sequences / f"cam{cam}" / f"person{pid:03d}" /
                            f"cam{cam}_person{pid:03d}_{f:05d}.png", 10 * pid + f)
    save_mat(root / "train-test people splits" / "train_test_splits_ilidsvid.mat",
             ls_set=np.array(ILIDS_LS_SET, dtype=float))
    return root


# PRID2011: cam_a has people 1-5, cam_b 1-6; frames per (camera, person) vary
PRID_SPLITS = [{"train": ["person_0001", "person_0002"], "test": ["person_0003", "person_0004"]},
               {"train": ["person_0003", "person_0005"], "test": ["person_0001", "person_0002"]}]


def write_prid2011(root, splits=PRID_SPLITS):
    shots = root / "prid_2011" / "multi_shot"
    for cam, n_people in (("cam_a", 5), ("cam_b", 6)):
        for pid in range(1, n_people + 1):
            for f in range(1, 2 + pid % 3 + 1):
                write_image(shots / cam / f"person_{pid:04d}" / f"{f:04d}.png", 10 * pid + f)
    if splits is not None:
        (root / "splits_prid2011.json").write_text(json.dumps(splits))
    return root


VIPER_NUMBERS = [0, 2, 5, 7, 11, 12]


def write_viper(root):
    for cam, angle in (("cam_a", 45), ("cam_b", 90)):
        for n in VIPER_NUMBERS:
            write_image(root / "VIPeR" / cam / f"{n:03d}_{angle}.bmp", 10 + n, size=(6, 16))
    return root / "VIPeR"
