"""load_cuhk03, load_msmt17 and load_viper on tiny synthetic layouts (tests/_reid_layouts.py):
the published protocols honoured, and missing or malformed split files named in the error."""

import json

import numpy as np
import pytest
from _reid_layouts import (
    CUHK03_TRAIN,
    MSMT17_LISTS,
    VIPER_NUMBERS,
    cuhk03_protocol,
    save_mat,
    write_cuhk03,
    write_image,
    write_msmt17,
    write_viper,
)

from skreid.datasets import load_cuhk03, load_msmt17, load_viper

SHAPE = (128, 64, 3)


def _check_split(bunch, n):
    assert bunch.images.shape == (n,) + SHAPE and bunch.images.dtype == np.uint8
    for key in ("person_ids", "camera_ids"):
        assert bunch[key].dtype == np.int64 and bunch[key].shape == (n,)
    assert bunch.filenames.shape == (n,)


# ---- CUHK03 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["mat", "json"])
def test_cuhk03_new_protocol_from_image_folder(tmp_path, split):
    write_cuhk03(tmp_path, split=split)
    data = load_cuhk03(tmp_path)
    protocol = cuhk03_protocol()
    for part in ("train", "query", "gallery"):
        _check_split(data[part], len(protocol[part]))
        assert data[part].filenames.tolist() == protocol[part]
    assert set(data.train.person_ids) == CUHK03_TRAIN
    assert not set(data.train.person_ids) & set(data.query.person_ids)
    assert not set(data.train.person_ids) & set(data.gallery.person_ids)
    # 1_003_2_06.png: camera pair 1, person 3, view 2 -> person 1003, physical camera 2
    i = data.query.filenames.tolist().index("1_003_2_06.png")
    assert (data.query.person_ids[i], data.query.camera_ids[i]) == (1003, 2)
    j = data.query.filenames.tolist().index("2_001_1_01.png")
    assert (data.query.person_ids[j], data.query.camera_ids[j]) == (2001, 3)
    # every test identity has one query per view and its other images in the gallery
    assert sorted(data.query.person_ids.tolist()) == sorted(2 * [1003, 1004, 2001, 2002])
    assert data.split_file.endswith("config_labeled.mat" if split == "mat" else "labeled.json")
    assert data.variant == "labeled" and "767" in data.DESCR


def test_cuhk03_raw_mat_gives_the_same_data_as_extracted_images(tmp_path):
    folder, raw = tmp_path / "folder", tmp_path / "raw"
    write_cuhk03(folder)
    write_cuhk03(raw, images="mat")
    a = load_cuhk03(folder, variant="detected")
    b = load_cuhk03(raw / "cuhk03_release" / "..", variant="detected")
    for part in ("train", "query", "gallery"):
        np.testing.assert_array_equal(a[part].person_ids, b[part].person_ids)
        np.testing.assert_array_equal(a[part].filenames, b[part].filenames)
        np.testing.assert_array_equal(a[part].images, b[part].images)
    # the stored 3 x w x h arrays came back upright: bright top half, black bottom half
    image = b.train.images[0]
    assert image[:60].mean() > 20 and image[70:].max() == 0


def test_cuhk03_raw_mat_empty_cell_and_damaged_file(tmp_path):
    write_cuhk03(tmp_path, images="mat", split="json", variants=("labeled",))
    path = tmp_path / "splits_new_labeled.json"
    split = json.loads(path.read_text())
    split[0]["gallery"].append(["1_003_1_03.png", 3, 0])  # image 03 is an empty cell
    path.write_text(json.dumps(split))
    with pytest.raises(ValueError, match=r"holds no labeled image '1_003_1_03\.png'"):
        load_cuhk03(tmp_path)
    with pytest.warns(UserWarning, match="Skipped 1 file"):
        data = load_cuhk03(tmp_path, on_error="skip")
    assert len(data.gallery.images) == len(cuhk03_protocol()["gallery"])
    assert "1_003_1_03.png" not in data.gallery.filenames
    (tmp_path / "cuhk03_release" / "cuhk-03.mat").write_bytes(b"not HDF5")
    with pytest.raises(ValueError, match=r"Could not read CUHK03 file .*cuhk-03\.mat.*v7\.3"):
        load_cuhk03(tmp_path)


def test_cuhk03_needs_a_split_file_naming_what_is_expected(tmp_path):
    write_cuhk03(tmp_path, split=None)
    with pytest.raises(ValueError, match=r"cuhk03_new_protocol_config_labeled\.mat.*"
                                         r"splits_new_labeled\.json"):
        load_cuhk03(tmp_path)


def test_cuhk03_without_images_names_both_sources(tmp_path):
    write_cuhk03(tmp_path, images=None)
    with pytest.raises(ValueError, match=r"images_labeled/.*cuhk-03\.mat"):
        load_cuhk03(tmp_path)


@pytest.mark.parametrize("damage, message", [
    ("garbage", "not a readable MATLAB file"),
    ("no_query", "no variable 'query_idx'"),
    ("out_of_range", "indices outside 1..24"),
    ("labels", "labels disagree"),
    ("overlap", "identities are both in train and test"),
])
def test_cuhk03_malformed_config_is_named(tmp_path, damage, message):
    write_cuhk03(tmp_path)
    path = tmp_path / "cuhk03_new_protocol_config_labeled.mat"
    if damage == "garbage":
        path.write_bytes(b"not a mat file at all")
    else:
        from scipy.io import loadmat

        mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
        if damage == "no_query":
            del mat["query_idx"]
        elif damage == "out_of_range":
            mat["gallery_idx"][0, 0] = 99
        elif damage == "labels":
            mat["labels"][:] = 1
        else:
            mat["train_idx"] = np.vstack([mat["train_idx"], mat["query_idx"][:1]])
        save_mat(path, **mat)
    with pytest.raises(ValueError, match=message) as info:
        load_cuhk03(tmp_path)
    assert "cuhk03_new_protocol_config_labeled.mat" in str(info.value)
    assert "Expected" in str(info.value)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"train": []}),
                                     json.dumps([{"train": [["a.png", 0, 0]]}])])
def test_cuhk03_malformed_json_is_named(tmp_path, content):
    write_cuhk03(tmp_path, split="json")
    (tmp_path / "splits_new_labeled.json").write_text(content)
    with pytest.raises(ValueError, match=r"splits_new_labeled\.json.*malformed.*Expected"):
        load_cuhk03(tmp_path)


def test_cuhk03_bad_parameters(tmp_path):
    write_cuhk03(tmp_path)
    with pytest.raises(ValueError, match="variant must be 'labeled' or 'detected', got 'x'"):
        load_cuhk03(tmp_path, variant="x")
    with pytest.raises(ValueError, match="split must be 'new'.*got 'classic'"):
        load_cuhk03(tmp_path, split="classic")


# ---- MSMT17 ---------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["V1", "V2"])
def test_msmt17_lists(tmp_path, version):
    write_msmt17(tmp_path, version)
    data = load_msmt17(tmp_path)  # the parent of MSMT17_Vx
    assert data.version == version
    for part, items in MSMT17_LISTS.items():
        _check_split(data[part], len(items))
        assert data[part].person_ids.tolist() == [pid for pid, _ in items]
        assert data[part].camera_ids.tolist() == [cam for _, cam in items]
    assert data.train.filenames[0] == "0000/0000_000_01_0303morning_0000_0.jpg"
    # the list order is kept, and the images are the listed ones (value 40 + line index)
    assert data.gallery.images[3, :60].mean() == pytest.approx(43, abs=2)


def test_msmt17_missing_or_malformed_list_is_named(tmp_path):
    folder = write_msmt17(tmp_path)
    (folder / "list_val.txt").unlink()
    with pytest.raises(ValueError, match=r"list_val\.txt' is missing.*<image path> <person id>"):
        load_msmt17(folder)
    write_msmt17(tmp_path)
    with open(folder / "list_query.txt", "a") as f:
        f.write("0003/0003_000_01_0303morning_0000_0.jpg\n")
    with pytest.raises(ValueError, match=r"list_query\.txt' is malformed: line 4 reads"):
        load_msmt17(folder)
    (folder / "list_query.txt").write_text("../../etc/0000_000_01_x_0_0.jpg 0\n")
    with pytest.raises(ValueError, match=r"list_query\.txt' is malformed: line 1"):
        load_msmt17(folder)


# ---- VIPeR ----------------------------------------------------------------------------------


def test_viper_splits_are_seeded_half_half_and_identity_disjoint(tmp_path):
    folder = write_viper(tmp_path)
    persons = np.array(VIPER_NUMBERS) + 1
    trains = set()
    for split in range(10):
        data = load_viper(tmp_path, split=split)
        _check_split(data.train, 6)
        _check_split(data.query, 3)
        _check_split(data.gallery, 3)
        # the documented rule: RandomState(split).permutation of the people sorted by number
        order = np.random.RandomState(split).permutation(6)
        assert sorted(set(data.train.person_ids)) == sorted(persons[order[:3]])
        assert not set(data.train.person_ids) & set(data.query.person_ids)
        np.testing.assert_array_equal(data.query.person_ids, data.gallery.person_ids)
        assert set(data.query.camera_ids) == {1} and set(data.gallery.camera_ids) == {2}
        trains.add(tuple(sorted(set(data.train.person_ids))))
    assert len(trains) > 1  # the splits differ
    again = load_viper(folder, split=3)
    np.testing.assert_array_equal(again.train.images, load_viper(folder, split=3).train.images)
    assert data.query.filenames[0].startswith("cam_a/")


def test_viper_errors(tmp_path):
    folder = write_viper(tmp_path)
    with pytest.raises(ValueError, match=r"split must be in \[0, 9\].*got split=10"):
        load_viper(folder, split=10)
    with pytest.raises(ValueError, match="split must be a non-negative integer"):
        load_viper(folder, split=True)
    write_image(folder / "cam_a" / "099_0.bmp")
    with pytest.raises(ValueError, match=r"099_0\.bmp' has no partner in .*cam_b"):
        load_viper(folder)
