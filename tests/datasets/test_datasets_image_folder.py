"""load_image_folder on fixture folders, including each bad input."""

import numpy as np
import pytest
from PIL import Image

from skreid.datasets import load_image_folder, parse_camera_id


def _write(folder, names, size=(20, 40), mode="RGB"):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new(mode, size, color=128 if mode == "L" else (200, 10, 10)).save(folder / name)


@pytest.fixture
def people(tmp_path):
    _write(tmp_path / "alice", ["alice_c1_01.jpg", "alice_c2_02.png"])
    _write(tmp_path / "bob", ["0002_c3s1_000451_03.jpg", "bob-cam4.jpg", "bob.jpg"], mode="L")
    _write(tmp_path / ".hidden", ["x.jpg"])
    (tmp_path / "bob" / "notes.txt").write_text("not an image")
    return tmp_path


def test_load_image_folder(people):
    data = load_image_folder(people, image_size=(32, 16))
    assert data.images.shape == (5, 32, 16, 3) and data.images.dtype == np.uint8
    assert data.identity_names.tolist() == ["alice", "bob"]
    assert data.person_ids.tolist() == [0, 0, 1, 1, 1]
    assert data.camera_ids.tolist() == [1, 2, 3, 4, -1]  # bob-cam4 sorts before bob
    assert data.filenames.tolist()[0] == "alice/alice_c1_01.jpg"
    assert data.identity_names[data.person_ids[-1]] == "bob"
    # grey images come back as RGB
    assert data.images[2].std(axis=-1).max() == 0


def test_default_size_is_market(people):
    assert load_image_folder(people).images.shape[1:] == (128, 64, 3)


@pytest.mark.parametrize(
    "name, camera",
    [
        ("0002_c3s1_000451_03.jpg", 3),
        ("x_cam12.png", 12),
        ("camera2-a.jpg", 2),
        ("c3.jpg", 3),
        ("music.jpg", -1),
        ("disc5x.jpg", -1),
    ],
)
def test_parse_camera_id(name, camera):
    assert parse_camera_id(name) == camera


def test_missing_and_empty_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no identity sub-folders"):
        load_image_folder(tmp_path)
    _write(tmp_path, ["loose.jpg"])
    with pytest.raises(ValueError, match="1 image files directly"):
        load_image_folder(tmp_path)


def test_root_is_a_file(tmp_path):
    (tmp_path / "f.jpg").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="f.jpg"):
        load_image_folder(tmp_path / "f.jpg")


def test_empty_identity_folder(people):
    (people / "carol").mkdir()
    with pytest.raises(ValueError, match="carol.*holds no images"):
        load_image_folder(people)
    with pytest.warns(UserWarning, match="Skipped 1"):
        data = load_image_folder(people, on_error="skip")
    assert data.identity_names.tolist() == ["alice", "bob"]


def test_unreadable_image(people):
    (people / "alice" / "broken.jpg").write_bytes(b"\xff\xd8 nope")
    with pytest.raises(ValueError, match="broken.jpg"):
        load_image_folder(people)
    with pytest.warns(UserWarning, match="Skipped 1"):
        data = load_image_folder(people, on_error="skip")
    assert len(data.images) == 5


def test_identity_with_only_unreadable_images_is_renumbered(people):
    _write(people / "aaron", [])
    (people / "aaron" / "bad.jpg").write_bytes(b"junk")
    with pytest.warns(UserWarning):
        data = load_image_folder(people, on_error="skip")
    assert data.identity_names.tolist() == ["alice", "bob"]
    assert data.person_ids.tolist() == [0, 0, 1, 1, 1]


@pytest.mark.parametrize("kwargs", [{"image_size": (0, 5)}, {"on_error": "warn"}])
def test_bad_arguments(people, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        load_image_folder(people, **kwargs)
