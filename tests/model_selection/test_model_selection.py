"""Identity-aware splitters."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skreid.datasets import make_people
from skreid.metrics import evaluate_reid
from skreid.model_selection import IdentityKFold, query_gallery_split


def _check_split(ids, cams, q, g):
    assert np.array_equal(np.sort(np.concatenate([q, g])), np.arange(len(ids)))
    assert np.all(np.diff(q) > 0) and np.all(np.diff(g) > 0)
    for i in q:  # every query keeps a gallery match from another camera
        assert np.any((ids[g] == ids[i]) & (cams[g] != cams[i]))
    pairs = list(zip(ids[q], cams[q], strict=True))
    assert len(pairs) == len(set(pairs))  # at most one query per identity per camera


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 5), st.integers(1, 3)), min_size=1, max_size=30),
    st.integers(0, 1000),
)
def test_query_gallery_split_properties(samples, seed):
    ids, cams = (np.array(v) for v in zip(*samples, strict=True))
    q, g = query_gallery_split(ids, cams, random_state=seed)
    _check_split(ids, cams, q, g)
    # maximal: an identity with >= 2 cameras always gives at least one query
    for pid in np.unique(ids):
        if len(np.unique(cams[ids == pid])) >= 2:
            assert np.any(ids[q] == pid)
        else:
            assert not np.any(ids[q] == pid)
    q2, g2 = query_gallery_split(ids, cams, random_state=seed)
    assert np.array_equal(q, q2) and np.array_equal(g, g2)


def test_query_gallery_split_on_make_people():
    b = make_people(
        n_identities=15,
        n_images_per_identity=8,
        n_cameras=4,
        image_shape=(16, 8, 3),
        random_state=0,
    )
    q, g = query_gallery_split(b.person_ids, b.camera_ids, random_state=0)
    _check_split(b.person_ids, b.camera_ids, q, g)
    feats = b.images.reshape(len(b.images), -1).astype(float)
    res = evaluate_reid(
        feats[q], b.person_ids[q], feats[g], b.person_ids[g], b.camera_ids[q], b.camera_ids[g]
    )
    assert res["n_skipped"] == 0 and res["n_queries"] == len(q)


def test_query_gallery_split_hand_cases():
    # one camera only: everything in the gallery; two single images: one query
    q, g = query_gallery_split([1, 1, 2, 2], [1, 1, 1, 2], random_state=0)
    assert len(q) == 1 and q[0] in (2, 3)
    # without cameras: one query per identity with >= 2 images
    q, g = query_gallery_split([1, 1, 1, 2, 3, 3], random_state=0)
    assert sorted(np.array([1, 1, 1, 2, 3, 3])[q]) == [1, 3]
    with pytest.raises(ValueError, match="camera_ids"):
        query_gallery_split([1, 2], [1])
    with pytest.raises(ValueError, match="person_ids"):
        query_gallery_split([])


def test_identity_kfold_is_group_kfold_on_y():
    ids = np.repeat(np.arange(10), 3)
    X = np.zeros((30, 1))
    folds = list(IdentityKFold(n_splits=5).split(X, ids))
    assert len(folds) == 5
    for train, test in folds:
        assert not set(ids[train]) & set(ids[test])
    tested = np.sort(np.concatenate([t for _, t in folds]))
    assert np.array_equal(tested, np.arange(30))
    # explicit groups win over y
    groups = ids // 2
    for train, test in IdentityKFold(n_splits=5).split(X, ids, groups):
        assert not set(groups[train]) & set(groups[test])
    with pytest.raises(ValueError, match="pass y or groups"):
        next(IdentityKFold().split(X))
