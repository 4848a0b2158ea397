"""load_oxford_pets on a fixture folder in the official layout, bad input, and the real subset."""

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skreid.datasets import MASK_IGNORE, PET_BREEDS, load_oxford_pets

DATA = os.environ.get("SKREID_TEST_DATA")

LIST = """#Image CLASS-ID SPECIES BREED ID
#ID: 1:37 Class ids
#SPECIES: 1:Cat 2:Dog
#BREED ID: 1-25:Cat 1:12:Dog
#All images with 1st letter as captial are cat images
#images with small first letter are dog images
Abyssinian_1 1 1 1
beagle_7 5 2 3
yorkshire_terrier_2 37 2 25
"""


def _trimap(size):
    """Left half pet (1), right half background (2), a border (3) row at the top."""
    w, h = size
    tri = np.full((h, w), 2, dtype=np.uint8)
    tri[:, : w // 2] = 1
    tri[0] = 3
    return tri


@pytest.fixture
def pets(tmp_path):
    images, trimaps = tmp_path / "images", tmp_path / "annotations" / "trimaps"
    images.mkdir()
    trimaps.mkdir(parents=True)
    sizes = {
        "Abyssinian_1": (40, 30),
        "beagle_7": (30, 50),
        "yorkshire_terrier_2": (20, 20),
        "Bombay_99": (24, 24),
    }
    for name, size in sizes.items():
        Image.new("RGB", size, (50, 100, 150)).save(images / f"{name}.jpg")
        if name != "yorkshire_terrier_2":  # classification-only image
            Image.fromarray(_trimap(size)).save(trimaps / f"{name}.png")
    (images / "Abyssinian_1.mat").write_bytes(b"matlab")  # the official archive has a few
    (trimaps / "._Abyssinian_1.png").write_bytes(b"\0\5\26\7")  # macOS AppleDouble junk
    (tmp_path / "annotations" / "list.txt").write_text(LIST)
    (tmp_path / "annotations" / "trainval.txt").write_text("Abyssinian_1 1 1 1\n")
    (tmp_path / "annotations" / "test.txt").write_text(
        "beagle_7 5 2 3\nyorkshire_terrier_2 37 2 25\n"
    )
    return tmp_path


def test_load_oxford_pets(pets):
    data = load_oxford_pets(pets, image_size=(16, 12))
    names = data.filenames.tolist()
    assert names == ["Abyssinian_1.jpg", "Bombay_99.jpg", "beagle_7.jpg", "yorkshire_terrier_2.jpg"]
    assert data.images.shape == (4, 16, 12, 3) and data.images.dtype == np.uint8
    assert data.masks.shape == (4, 16, 12) and data.masks.dtype == np.uint8
    assert [data.breed_names[b] for b in data.breeds] == [
        "Abyssinian",
        "Bombay",
        "beagle",
        "yorkshire_terrier",
    ]
    assert data.breeds.tolist() == [0, 7, 4, 36]
    assert data.species.tolist() == [0, 0, 1, 1]  # Bombay_99 is unlisted: capitalised -> cat
    assert data.has_mask.tolist() == [True, True, True, False]
    assert data.split.tolist() == ["trainval", "unlisted", "test", "test"]
    assert (data.masks[3] == MASK_IGNORE).all()
    # trimap 1 -> 0 pet (left), 2 -> 1 background (right), 3 -> 2 border (top row)
    mask = data.masks[0]
    assert set(np.unique(mask).tolist()) == {0, 1, 2}
    assert (mask[1:, :5] == 0).all() and (mask[1:, -5:] == 1).all() and (mask[0] == 2).all()
    assert "Oxford-IIIT Pet" in data.DESCR


def test_breed_ids_follow_official_class_order():
    assert len(PET_BREEDS) == 37
    assert sorted(PET_BREEDS, key=str.lower) == list(PET_BREEDS)
    assert PET_BREEDS[0] == "Abyssinian" and PET_BREEDS[36] == "yorkshire_terrier"


def test_palette_trimap_values_are_read_raw(pets):
    tri = Image.fromarray(_trimap((40, 30)), mode="L").convert("P")
    tri.putpalette([0, 0, 0, 255, 255, 255, 9, 9, 9, 7, 7, 7] + [0] * 756)
    tri.save(pets / "annotations" / "trimaps" / "Abyssinian_1.png")
    data = load_oxford_pets(pets, image_size=30)
    assert set(np.unique(data.masks[0]).tolist()) <= {0, 1, 2}


def test_without_annotations(pets):
    import shutil

    shutil.rmtree(pets / "annotations")
    data = load_oxford_pets(pets, image_size=8)
    assert not data.has_mask.any() and (data.split == "unlisted").all()
    assert data.species.tolist() == [0, 0, 1, 1]


def test_missing_root_and_images_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_oxford_pets(tmp_path / "missing")
    with pytest.raises(ValueError, match="no images/ sub-folder"):
        load_oxford_pets(tmp_path)


def test_empty_images_folder(tmp_path):
    (tmp_path / "images").mkdir()
    with pytest.raises(ValueError, match="images.*holds no .jpg images"):
        load_oxford_pets(tmp_path)


def test_unreadable_image(pets):
    (pets / "images" / "beagle_7.jpg").write_bytes(b"broken")
    with pytest.raises(ValueError, match="beagle_7.jpg"):
        load_oxford_pets(pets, image_size=8)
    with pytest.warns(UserWarning, match="Skipped 1 image"):
        data = load_oxford_pets(pets, image_size=8, on_error="skip")
    assert "beagle_7.jpg" not in data.filenames.tolist() and len(data.images) == 3


def test_trimap_size_mismatch_names_the_file(pets):
    Image.fromarray(_trimap((10, 10))).save(pets / "annotations" / "trimaps" / "beagle_7.png")
    with pytest.raises(ValueError, match=r"beagle_7.png.*10x10.*30x50"):
        load_oxford_pets(pets, image_size=8)


def test_unknown_breed_in_unlisted_name(pets):
    Image.new("RGB", (8, 8)).save(pets / "images" / "Dragon_1.jpg")
    with pytest.raises(ValueError, match="Dragon_1.jpg.*breed names"):
        load_oxford_pets(pets, image_size=8)


def test_malformed_list_line(pets):
    (pets / "annotations" / "list.txt").write_text("Abyssinian_1 one 1 1\n")
    with pytest.raises(ValueError, match=r"list.txt.*line 1"):
        load_oxford_pets(pets, image_size=8)


@pytest.mark.parametrize("kwargs", [{"image_size": -3}, {"on_error": "never"}])
def test_bad_arguments(pets, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        load_oxford_pets(pets, **kwargs)


@pytest.mark.skipif(not DATA, reason="SKREID_TEST_DATA is not set (real Oxford-IIIT Pet subset)")
def test_real_pets_subset():
    data = load_oxford_pets(Path(DATA) / "oxford_pets", image_size=(32, 32))
    assert len(data.images) == 1084
    assert int(data.has_mask.sum()) == 713
    assert len(np.unique(data.breeds)) == 37
    assert np.bincount(data.species).tolist() == [574, 510]
    index = data.filenames.tolist().index("Abyssinian_82.jpg")
    assert data.split[index] == "unlisted" and data.breeds[index] == 0 and data.has_mask[index]
    assert set(np.unique(data.masks[data.has_mask]).tolist()) <= {0, 1, 2}
    assert (data.masks[~data.has_mask] == MASK_IGNORE).all()
    assert (data.split[data.has_mask] == "trainval").sum() == 377
