"""load_market1501 on fixture folders (both layouts, bad input) and on the real course subset."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skreid.datasets import load_market1501, parse_market_name

DATA = os.environ.get("SKREID_TEST_DATA")


def _write(folder, names, size=(64, 128)):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.RandomState(len(names))
    for name in names:
        pixels = rng.randint(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / name, format="JPEG")


TRAIN = ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg", "0007_c3s3_077419_03.jpg"]
GALLERY = ["-1_c1s1_000401_03.jpg", "0000_c1s1_000151_01.jpg", "0011_c4s1_012345_02.jpg"]
QUERY = ["0011_c1s1_001051_00.jpg"]


@pytest.fixture
def standard(tmp_path):
    _write(tmp_path / "bounding_box_train", TRAIN)
    _write(tmp_path / "bounding_box_test", GALLERY, size=(32, 64))  # resized on load
    _write(tmp_path / "query", QUERY)
    (tmp_path / "bounding_box_test" / "Thumbs.db").write_bytes(b"\0")  # ignored: not an image
    return tmp_path


@pytest.fixture
def course(tmp_path):
    _write(tmp_path / "Training", TRAIN)
    _write(
        tmp_path / "Testing" / "Gallery", ["0011_c4s6_022316_00.jpg.jpg", "0012_c2s1_000001_00.jpg"]
    )
    _write(tmp_path / "Testing" / "Probe", ["0011_c5s3_071762_00.jpg", "0012_c1s1_000002_00.jpg"])
    return tmp_path


def test_standard_layout(standard):
    data = load_market1501(standard)
    assert data.layout == "standard"
    assert data.train.images.shape == (3, 128, 64, 3) and data.train.images.dtype == np.uint8
    assert data.train.person_ids.tolist() == [2, 2, 7]
    assert data.train.camera_ids.tolist() == [1, 2, 3]
    # junk (-1) and distractors (0) are kept as they are
    assert sorted(data.gallery.person_ids.tolist()) == [-1, 0, 11]
    assert data.gallery.images.shape == (3, 128, 64, 3)
    assert data.query.filenames.tolist() == QUERY
    assert "Market-1501" in data.DESCR


def test_course_layout_with_doubled_extension(course):
    data = load_market1501(str(course))
    assert data.layout == "course"
    assert data.gallery.person_ids.tolist() == [11, 12]
    assert data.gallery.camera_ids.tolist() == [4, 2]
    assert "0011_c4s6_022316_00.jpg.jpg" in data.gallery.filenames.tolist()
    assert data.query.camera_ids.tolist() == [5, 1]


def test_single_child_folder_is_searched(tmp_path):
    inner = tmp_path / "Market-1501-v15.09.15"
    _write(inner / "bounding_box_train", TRAIN)
    _write(inner / "bounding_box_test", GALLERY)
    _write(inner / "query", QUERY)
    assert load_market1501(tmp_path).layout == "standard"


def test_parse_market_name():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 1)
    assert parse_market_name("-1_c6s2_000451_03.JPG") == (-1, 6)
    assert parse_market_name("1488_c4s6_022316_00.jpg.jpg") == (1488, 4)
    assert parse_market_name("person.jpg") is None


def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_market1501(tmp_path / "nope")


def test_no_layout(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="bounding_box_train.*Training"):
        load_market1501(tmp_path)


def test_missing_split_folder_named(tmp_path):
    _write(tmp_path / "bounding_box_train", TRAIN)
    _write(tmp_path / "bounding_box_test", GALLERY)
    with pytest.raises(ValueError, match="query"):
        load_market1501(tmp_path)


def test_empty_split_folder_named(standard):
    for f in (standard / "query").iterdir():
        f.unlink()
    with pytest.raises(ValueError, match=r"query.*holds no images"):
        load_market1501(standard)


def test_bad_file_name_raises_or_skips(standard):
    _write(standard / "query", ["holiday_photo.jpg"])
    with pytest.raises(ValueError, match="holiday_photo.jpg.*PPPP_cCsS"):
        load_market1501(standard)
    with pytest.warns(UserWarning, match="Skipped 1 file"):
        data = load_market1501(standard, on_error="skip")
    assert data.query.filenames.tolist() == QUERY


def test_unreadable_image_raises_or_skips(standard):
    (standard / "bounding_box_train" / "0009_c1s1_000001_00.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match="0009_c1s1_000001_00.jpg"):
        load_market1501(standard)
    with pytest.warns(UserWarning, match="Skipped 1"):
        data = load_market1501(standard, on_error="skip")
    assert 9 not in data.train.person_ids


def test_bad_on_error(standard):
    with pytest.raises(ValueError, match="on_error"):
        load_market1501(standard, on_error="ignore")


@pytest.mark.skipif(not DATA, reason="SKREID_TEST_DATA is not set (real Market-1501 subset)")
def test_real_course_subset():
    data = load_market1501(Path(DATA) / "market1501" / "cab420_subset")
    assert data.layout == "course"
    assert len(data.train.images) == 5933
    assert len(data.gallery.images) == len(data.query.images) == 301
    assert len(np.unique(data.train.person_ids)) == 300
    gallery_ids, query_ids = set(data.gallery.person_ids), set(data.query.person_ids)
    assert gallery_ids == query_ids
    assert not gallery_ids & set(data.train.person_ids)
    assert data.train.images.shape[1:] == (128, 64, 3)
    assert set(data.train.camera_ids.tolist()) <= set(range(1, 7))
