"""load_mars, load_ilids_vid and load_prid2011 on tiny synthetic tracklet layouts
(tests/_reid_layouts.py): frames per row with their tracklet ids, the official splits honoured,
frame sampling, and missing or malformed split files named in the error."""

import json

import numpy as np
import pytest
from _reid_layouts import (
    ILIDS_LS_SET,
    MARS_QUERY_ROWS,
    MARS_TEST,
    MARS_TRAIN,
    PRID_SPLITS,
    save_mat,
    write_ilids_vid,
    write_mars,
    write_prid2011,
)

from skreid.datasets import load_ilids_vid, load_mars, load_prid2011


def _tracklets(bunch):
    """{tracklet id: (person, camera, n frames)}, checking each tracklet has one of each."""
    out = {}
    for tid in np.unique(bunch.tracklet_ids):
        rows = bunch.tracklet_ids == tid
        assert len(set(bunch.person_ids[rows])) == 1 and len(set(bunch.camera_ids[rows])) == 1
        out[int(tid)] = (int(bunch.person_ids[rows][0]), int(bunch.camera_ids[rows][0]),
                         int(rows.sum()))
    return out


def _check_frames(bunch):
    n = len(bunch.images)
    assert bunch.images.shape == (n, 128, 64, 3) and bunch.images.dtype == np.uint8
    for key in ("person_ids", "camera_ids", "tracklet_ids"):
        assert bunch[key].dtype == np.int64 and bunch[key].shape == (n,)
    assert bunch.filenames.shape == (n,)


# ---- MARS -----------------------------------------------------------------------------------


def test_mars_tracklets_follow_the_info_files(tmp_path):
    write_mars(tmp_path / "MARS")
    data = load_mars(tmp_path)
    for part in ("train", "query", "gallery"):
        _check_frames(data[part])
    assert _tracklets(data.train) == {i: t for i, t in enumerate(MARS_TRAIN)}
    queries = [r - 1 for r in MARS_QUERY_ROWS]
    n_train = len(MARS_TRAIN)
    assert _tracklets(data.query) == {n_train + r: MARS_TEST[r] for r in queries}
    assert _tracklets(data.gallery) == {n_train + r: t for r, t in enumerate(MARS_TEST)
                                        if r not in queries}
    # junk (-1) and distractor (0) tracklets are kept, as in load_market1501
    assert {-1, 0} <= set(data.gallery.person_ids)
    assert not set(data.train.person_ids) & set(data.query.person_ids)
    assert data.query.filenames[0] == "bbox_test/0003/0003C1T0001F001.jpg"
    # frames in order: the image written for tracklet 1, frame 2 has value 12
    assert data.train.images[1, :60].mean() == pytest.approx(12, abs=2)


def test_mars_frames_per_tracklet_keeps_first_and_last(tmp_path):
    write_mars(tmp_path)
    data = load_mars(tmp_path, frames_per_tracklet=2)
    assert [n for _, _, n in _tracklets(data.train).values()] == [2, 2, 2]
    rows = data.train.tracklet_ids == 2  # 4 frames -> frames 1 and 4
    assert [f[-8:-4] for f in data.train.filenames[rows]] == ["F001", "F004"]
    data = load_mars(tmp_path, frames_per_tracklet=1)
    assert len(data.gallery.images) == len(MARS_TEST) - len(MARS_QUERY_ROWS)
    with pytest.raises(ValueError, match="frames_per_tracklet must be None .* got 0"):
        load_mars(tmp_path, frames_per_tracklet=0)


@pytest.mark.parametrize("damage, file, message", [
    ("no_query", "query_IDX.mat", "is missing"),
    ("query_range", "query_IDX.mat", "indices outside 1..6"),
    ("shape", "tracks_test_info.mat", r"has shape \(6, 3\)"),
    ("rows", "tracks_train_info.mat", "row 3 spans rows"),
    ("person", "tracks_train_info.mat", "of another person or camera"),
    ("names", "train_name.txt", "is missing"),
])
def test_mars_bad_info_files_are_named(tmp_path, damage, file, message):
    write_mars(tmp_path)
    info = tmp_path / "info"
    from scipy.io import loadmat

    if damage == "no_query":
        (info / file).unlink()
    elif damage == "query_range":
        save_mat(info / file, query_IDX=np.array([[1, 7]], dtype=float))
    elif damage == "names":
        (info / file).unlink()
    else:
        key = "track_test_info" if "test" in file else "track_train_info"
        table = loadmat(info / file)[key]
        if damage == "shape":
            table = table[:, :3]
        elif damage == "rows":
            table[2, 1] = 99
        else:
            table[0, 2] = 2
        save_mat(info / file, **{key: table})
    with pytest.raises(ValueError, match=message) as err:
        load_mars(tmp_path)
    assert file in str(err.value) and "Expected" in str(err.value)


def test_mars_unreadable_frame_skip_or_raise(tmp_path):
    write_mars(tmp_path)
    (tmp_path / "bbox_train" / "0001" / "0001C1T0001F002.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match="0001C1T0001F002.jpg"):
        load_mars(tmp_path)
    with pytest.warns(UserWarning, match="Skipped 1 file"):
        data = load_mars(tmp_path, on_error="skip")
    assert _tracklets(data.train)[0] == (1, 1, 2)


# ---- iLIDS-VID ------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [0, 1])
def test_ilids_vid_official_split(tmp_path, split):
    write_ilids_vid(tmp_path)
    data = load_ilids_vid(tmp_path, split=split)
    row = ILIDS_LS_SET[split]
    test, train = set(row[:3]), set(row[3:])  # the first half of a row is tested
    assert set(data.train.person_ids) == train
    assert set(data.query.person_ids) == set(data.gallery.person_ids) == test
    assert set(data.query.camera_ids) == {1} and set(data.gallery.camera_ids) == {2}
    for part in ("train", "query", "gallery"):
        _check_frames(data[part])
    assert len(_tracklets(data.train)) == 6 and len(_tracklets(data.query)) == 3
    # a tracklet keeps its id in every split: 2 x person + camera - 1
    assert _tracklets(data.query) == {2 * p: (p, 1, 3) for p in test}
    first = min(test)
    assert data.query.filenames[0] == f"cam1/person{first:03d}/cam1_person{first:03d}_00001.png"
    assert data.split == split and data.split_file.endswith("train_test_splits_ilidsvid.mat")


def test_ilids_vid_bad_split_file(tmp_path):
    write_ilids_vid(tmp_path)
    path = tmp_path / "train-test people splits" / "train_test_splits_ilidsvid.mat"
    with pytest.raises(ValueError, match=r"split must be in \[0, 1\].*2 split\(s\), got split=2"):
        load_ilids_vid(tmp_path, split=2)
    save_mat(path, ls_set=np.array([[1, 2, 3, 4, 5]], dtype=float))
    with pytest.raises(ValueError, match=r"ilidsvid\.mat' is malformed: ls_set has shape \(1, 5\) "
                                         r"for 6 person folders.*Expected"):
        load_ilids_vid(tmp_path)
    save_mat(path, ls_set=np.array([[1, 1, 2, 3, 4, 5]], dtype=float))
    with pytest.raises(ValueError, match="row 1 of ls_set is not a permutation of 1..6"):
        load_ilids_vid(tmp_path)
    save_mat(path, other=np.zeros(3))
    with pytest.raises(ValueError, match="has no variable 'ls_set'"):
        load_ilids_vid(tmp_path)
    path.unlink()
    with pytest.raises(ValueError, match=r"train_test_splits_ilidsvid\.mat' is missing\. "
                                         r"Expected a MATLAB file with a variable ls_set"):
        load_ilids_vid(tmp_path)


# ---- PRID2011 -------------------------------------------------------------------------------


@pytest.mark.parametrize("split", [0, 1])
def test_prid2011_json_split(tmp_path, split):
    write_prid2011(tmp_path)
    data = load_prid2011(tmp_path / "prid_2011", split=split)  # the json is one level up
    number = {f"person_{p:04d}": p for p in range(1, 7)}
    train = {number[n] for n in PRID_SPLITS[split]["train"]}
    test = {number[n] for n in PRID_SPLITS[split]["test"]}
    assert set(data.train.person_ids) == train
    assert set(data.query.person_ids) == set(data.gallery.person_ids) == test
    for part in ("train", "query", "gallery"):
        _check_frames(data[part])
    # person p has 2 + p % 3 frames in each camera
    assert _tracklets(data.gallery) == {2 * p + 1: (p, 2, 2 + p % 3) for p in test}
    assert data.query.filenames[0].startswith("cam_a/person_")


@pytest.mark.parametrize("content, message", [
    (None, "splits_prid2011.json' is missing"),
    ("[{", "not valid JSON"),
    ("{}", "not a non-empty list"),
    (json.dumps([{"train": ["person_0001"]}]), "split 0 has no 'test' list"),
    (json.dumps([{"train": ["person_0001"], "test": ["person_0006"]}]),
     "lists 'person_0006', but .*cam_a.*person_0006' is not a folder"),
    (json.dumps([{"train": ["person_0001"], "test": ["../cam_b/person_0002"]}]),
     "split 0 has no 'test' list of folder names"),
    (json.dumps([{"train": ["person_0001"], "test": ["person_0001"]}]),
     "1 identities are both in train and test"),
])
def test_prid2011_bad_split_file_is_named(tmp_path, content, message):
    write_prid2011(tmp_path, splits=None)
    if content is not None:
        (tmp_path / "splits_prid2011.json").write_text(content)
    with pytest.raises(ValueError, match=message) as err:
        load_prid2011(tmp_path)
    assert "splits_prid2011.json" in str(err.value) and "Expected" in str(err.value)
