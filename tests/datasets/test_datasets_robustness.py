"""The loaders against hostile files (hypothesis): random bytes and truncated or bit-flipped
real JPEG/PNG files written into each layout give a ValueError naming the file, or, with
``on_error="skip"``, a counted skip; never an uncaught exception from Pillow, NumPy or
anything else."""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import pytest
from _bad_input_data import jpeg_bytes, write_image_folder, write_market, write_pets
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from skreid.datasets import load_image_folder, load_market1501, load_oxford_pets

JPEG = jpeg_bytes(1, (24, 16, 3), "JPEG")
PNG = jpeg_bytes(2, (24, 16, 3), "PNG")


@st.composite
def hostile_bytes(draw):
    """Random bytes, or a real JPEG/PNG truncated and/or with a few bytes overwritten."""
    kind = draw(st.sampled_from(["random", "truncated", "flipped"]))
    if kind == "random":
        return draw(st.binary(max_size=600))
    data = bytearray(draw(st.sampled_from([JPEG, PNG])))
    if kind == "truncated":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _layout(kind, root, payload):
    """Write a valid layout of ``kind`` with one hostile file; return (load, bad file)."""
    if kind == "folder":
        write_image_folder(root, n_ids=2, per_id=2)
        bad = root / "person1" / "hostile.jpg"
        return (lambda **kw: load_image_folder(root, image_size=8, **kw)), bad, payload
    if kind == "market":
        write_market(root, n_ids=2, per_split=2)
        bad = root / "bounding_box_test" / "0004_c2s1_000009_01.jpg"
        return (lambda **kw: load_market1501(root, **kw)), bad, payload
    write_pets(root, n=3)
    if kind == "pets-image":
        bad = root / "images" / "beagle_7.jpg"
    else:  # a hostile trimap for an existing image
        bad = root / "annotations" / "trimaps" / "Abyssinian_1.png"
    return (lambda **kw: load_oxford_pets(root, image_size=8, **kw)), bad, payload


def _n_images(data):
    return len(data.train.images) if "train" in data else len(data.images)


@pytest.mark.parametrize("kind", ["folder", "market", "pets-image", "pets-trimap"])
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload=hostile_bytes())
def test_hostile_file_gives_named_error_or_counted_skip(kind, payload):
    with tempfile.TemporaryDirectory() as tmp:
        load, bad, payload = _layout(kind, Path(tmp) / "data", payload)
        bad.write_bytes(payload)
        try:
            data = load()
        except ValueError as exc:  # the only error allowed, and it names the file
            assert bad.name in str(exc), str(exc)
        else:  # the bytes still decode (Pillow is lenient with some damage): a real image
            assert _n_images(data) > 0
            assert data.images.dtype == np.uint8 if "images" in data else True
            return
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            data = load(on_error="skip")
        skipped = [w for w in caught if "Skipped 1 " in str(w.message)]
        assert len(skipped) == 1 and bad.stem in str(skipped[0].message)
        assert _n_images(data) > 0
