"""detect_reid_dataset: which loader reads a folder, on tiny synthetic layouts of each dataset."""

import pytest
from _reid_layouts import (
    write_cuhk03,
    write_ilids_vid,
    write_image,
    write_mars,
    write_msmt17,
    write_prid2011,
    write_viper,
)

from skreid import datasets
from skreid.datasets import detect_reid_dataset


def _market(root):
    for folder in ("bounding_box_train", "bounding_box_test", "query"):
        write_image(root / folder / "0002_c1s1_000451_03.jpg")
    return root


LAYOUTS = {
    "load_market1501": _market,
    "load_cuhk03": lambda root: write_cuhk03(root, images="mat", variants=("labeled",)),
    "load_msmt17": write_msmt17,
    "load_mars": write_mars,
    "load_ilids_vid": write_ilids_vid,
    "load_prid2011": write_prid2011,
    "load_viper": write_viper,
}


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_each_layout_is_detected_and_loads(tmp_path, name):
    folder = LAYOUTS[name](tmp_path / "release")
    for root in (folder, folder.parent):  # the dataset folder or its parent
        loader = detect_reid_dataset(root)
        assert loader is getattr(datasets, name)
    data = loader(folder.parent)
    assert {"train", "query", "gallery", "DESCR"} <= set(data)


def test_unknown_or_missing_folder(tmp_path):
    assert detect_reid_dataset(tmp_path) is None
    write_image(tmp_path / "alice" / "1.jpg")  # an image folder: not a published protocol
    write_image(tmp_path / "bob" / "1.jpg")
    assert detect_reid_dataset(tmp_path) is None
    with pytest.raises(FileNotFoundError, match="does not exist"):
        detect_reid_dataset(tmp_path / "nowhere")


def test_prid_and_viper_camera_folders_are_told_apart(tmp_path):
    # both have cam_a/ and cam_b/: PRID2011's hold person folders, VIPeR's hold images
    write_prid2011(tmp_path / "p", splits=None)
    assert detect_reid_dataset(tmp_path / "p" / "prid_2011" / "multi_shot") is (
        datasets.load_prid2011)
    write_viper(tmp_path / "v")
    assert detect_reid_dataset(tmp_path / "v" / "VIPeR") is datasets.load_viper


@pytest.mark.parametrize("name", sorted(set(LAYOUTS) - {"load_market1501"}))
def test_loaders_reject_a_missing_or_foreign_folder_and_bad_on_error(tmp_path, name):
    loader = getattr(datasets, name)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        loader(tmp_path / "nowhere")
    _market(tmp_path)  # another dataset's layout: the error says what was expected
    with pytest.raises(ValueError, match=r"No .* layout found in .*: expected"):
        loader(tmp_path)
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'skip', got 'ignore'"):
        loader(tmp_path, on_error="ignore")
