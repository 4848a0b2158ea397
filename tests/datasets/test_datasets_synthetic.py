"""Synthetic generators: shapes, dtypes, ranges, determinism, camera coverage, bad arguments."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skreid.datasets import make_people, make_pets

FAST = settings(max_examples=20, deadline=None)


@FAST
@given(
    n_ids=st.integers(1, 6),
    n_per=st.integers(1, 5),
    n_cams=st.integers(1, 6),
    height=st.integers(8, 40),
    width=st.integers(4, 24),
    seed=st.integers(0, 2**31 - 1),
)
def test_make_people_properties(n_ids, n_per, n_cams, height, width, seed):
    data = make_people(n_ids, n_per, n_cams, image_shape=(height, width), random_state=seed)
    n = n_ids * n_per
    assert data.images.shape == (n, height, width, 3)
    assert data.images.dtype == np.uint8
    assert data.person_ids.shape == data.camera_ids.shape == (n,)
    assert set(data.person_ids.tolist()) == set(range(1, n_ids + 1))
    assert np.bincount(data.person_ids)[1:].tolist() == [n_per] * n_ids
    assert data.camera_ids.min() >= 1 and data.camera_ids.max() <= n_cams
    if n_cams >= 2 and n_per >= 2:
        for pid in range(1, n_ids + 1):
            assert len(set(data.camera_ids[data.person_ids == pid].tolist())) >= 2
    again = make_people(n_ids, n_per, n_cams, image_shape=(height, width, 3), random_state=seed)
    np.testing.assert_array_equal(data.images, again.images)
    np.testing.assert_array_equal(data.camera_ids, again.camera_ids)


@FAST
@given(
    n=st.integers(1, 12),
    k=st.integers(1, 45),
    height=st.integers(8, 40),
    width=st.integers(8, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_make_pets_properties(n, k, height, width, seed):
    data = make_pets(n, k, image_size=(height, width), random_state=seed)
    assert data.images.shape == (n, height, width, 3) and data.images.dtype == np.uint8
    assert data.masks.shape == (n, height, width) and data.masks.dtype == np.uint8
    assert set(np.unique(data.masks).tolist()) <= {0, 1}
    assert data.labels.min() >= 0 and data.labels.max() < k
    np.testing.assert_array_equal(data.labels, data.breeds)
    assert len(data.target_names) == len(set(data.target_names)) == k
    np.testing.assert_array_equal(data.breed_names, data.target_names)
    again = make_pets(n, k, image_size=(height, width), random_state=seed)
    np.testing.assert_array_equal(data.images, again.images)
    np.testing.assert_array_equal(data.masks, again.masks)


def test_import_does_not_load_keras():
    import subprocess
    import sys

    code = "import skreid.datasets, sys; print(bool({'tensorflow', 'keras'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_make_people_defaults_and_descr():
    data = make_people(n_identities=3, random_state=0)
    assert data.images.shape == (3 * 8, 128, 64, 3)
    assert "Synthetic pedestrians" in data.DESCR
    assert not np.array_equal(data.images, make_people(n_identities=3, random_state=1).images)


def test_make_people_is_fast_for_a_thousand_images():
    import time

    start = time.perf_counter()
    make_people(125, 8, random_state=0)
    # well under the ~1 s it takes on one free core; generous for a loaded CI machine
    assert time.perf_counter() - start < 15


def test_make_pets_balanced_with_foreground_and_background():
    data = make_pets(n_samples=90, n_classes=9, image_size=32, random_state=0)
    assert np.bincount(data.labels).tolist() == [10] * 9
    pet_fraction = (data.masks == 0).mean(axis=(1, 2))
    assert (pet_fraction > 0.02).all() and (pet_fraction < 0.8).all()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_identities": 0}, "n_identities"),
        ({"n_identities": 2.5}, "n_identities"),
        ({"n_images_per_identity": 0}, "n_images_per_identity"),
        ({"n_cameras": True}, "n_cameras"),
        ({"image_shape": (128, 64, 1)}, "image_shape"),
        ({"image_shape": (0, 64)}, "image_shape"),
        ({"image_shape": "big"}, "image_shape"),
    ],
)
def test_make_people_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_people(**kwargs)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_samples": 0}, "n_samples"),
        ({"n_classes": 0}, "n_classes"),
        ({"n_classes": 46}, "n_classes"),
        ({"image_size": (4, 64)}, "image_size"),
        ({"image_size": (64, 64, 3)}, "image_size"),
    ],
)
def test_make_pets_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_pets(**kwargs)
