"""Identity-aware splitters: query/gallery split and identity-disjoint cross-validation."""

import numpy as np
from sklearn.model_selection import GroupKFold
from sklearn.utils import check_random_state

from skreid.utils import check_labels


def query_gallery_split(person_ids, camera_ids=None, random_state=None):
    """Split one labelled set into a Market-1501-style query set and gallery.

    For each identity, cameras are visited in random order and one random image per camera
    becomes a query, provided that every query of that identity keeps at least one gallery
    image of the same identity from **another** camera (so no query is skipped by the
    Market-1501 rule). All other images form the gallery. Consequently:

    - an identity seen by a single camera gives no query: all its images go to the gallery,
      where they act as negatives (like Market-1501's distractors);
    - an identity seen by two cameras with one image each gives one query and one gallery
      image;
    - without ``camera_ids`` every identity with at least two images gives one query.

    Parameters
    ----------
    person_ids : array-like of shape (n_samples,)
        Identity of each image (ints or strings).
    camera_ids : array-like of shape (n_samples,), default=None
        Camera of each image; None: one query per identity, the rest gallery.
    random_state : int, RandomState instance or None, default=None
        Which image (and camera order) is drawn.

    Returns
    -------
    query_idx, gallery_idx : ndarray of int
        Sorted, disjoint indices covering all samples.

    See Also
    --------
    IdentityKFold : identity-disjoint cross-validation (``GroupKFold`` grouped by identity).

    Examples
    --------
    >>> from skreid.model_selection import query_gallery_split
    >>> ids = [1, 1, 1, 1, 2, 2, 3, 3]
    >>> cams = [1, 1, 2, 2, 1, 2, 1, 1]
    >>> q, g = query_gallery_split(ids, cams, random_state=0)
    >>> len(q), len(g)  # id 1: 2 queries, id 2: 1 query, id 3 (one camera): none
    (3, 5)
    """
    person_ids = check_labels(person_ids, "person_ids")
    if person_ids.shape[0] == 0:
        raise ValueError("person_ids is empty: at least one sample is needed.")
    if camera_ids is None:
        camera_ids = np.zeros(person_ids.shape[0], dtype=int)
        single_camera = True
    else:
        camera_ids = check_labels(camera_ids, "camera_ids", person_ids.shape[0], "person_ids")
        single_camera = False
    rng = check_random_state(random_state)
    is_query = np.zeros(person_ids.shape[0], dtype=bool)
    for pid in np.unique(person_ids):
        members = np.flatnonzero(person_ids == pid)
        cams = camera_ids[members]
        cam_values, counts = np.unique(cams, return_counts=True)
        if single_camera:
            if members.shape[0] >= 2:
                is_query[rng.choice(members)] = True
            continue
        remaining = dict(
            zip(cam_values.tolist(), counts.tolist(), strict=True)
        )  # gallery images per camera
        query_cams = []
        for c in rng.permutation(cam_values).tolist():
            remaining[c] -= 1
            # every query camera (the new one included) must keep a gallery image elsewhere
            if all(
                any(n > 0 for other, n in remaining.items() if other != qc)
                for qc in [*query_cams, c]
            ):
                query_cams.append(c)
                is_query[rng.choice(members[cams == c])] = True
            else:
                remaining[c] += 1
    return np.flatnonzero(is_query), np.flatnonzero(~is_query)


class IdentityKFold(GroupKFold):
    """Identity-disjoint K-fold: ``GroupKFold`` whose groups default to ``y`` (the identities).

    Re-ID is open-set: the identities of a validation fold must be unseen in training. This is
    exactly ``GroupKFold(n_splits)`` with ``groups=person_ids``; this class only saves passing
    ``groups`` when ``y`` already holds the identities (``groups``, when given, wins).

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds (at most the number of identities).
    shuffle : bool, default=False
        Shuffle the identities before assigning them to folds (scikit-learn >= 1.6).
    random_state : int, RandomState instance or None, default=None
        Used when ``shuffle=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.model_selection import IdentityKFold
    >>> ids = np.repeat([1, 2, 3, 4], 2)
    >>> for train, test in IdentityKFold(n_splits=2).split(np.zeros((8, 1)), ids):
    ...     assert not set(ids[train]) & set(ids[test])
    """

    def split(self, X, y=None, groups=None):
        """Generate train/test indices with no identity on both sides.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples (only their number is used).
        y : array-like of shape (n_samples,), default=None
            Identities, used as groups when ``groups`` is None.
        groups : array-like of shape (n_samples,), default=None
            Identities (take precedence over ``y``).

        Yields
        ------
        train, test : ndarray
        """
        if groups is None:
            if y is None:
                raise ValueError("IdentityKFold needs the identities: pass y or groups.")
            groups = y
        return super().split(X, y, groups)
