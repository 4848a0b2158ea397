"""The camera-held-out development split of the CAB420 ``Training/`` folder, shared by every
cross-domain experiment (``cross_domain.py`` and the recipe comparisons).

A model trained on some Market-1501 cameras is judged on cameras it never saw, with identities
it never saw, so that it measures what a user gets on their own camera network. Each *fold*
names the target cameras; the 300 training identities are split (fixed seed) into
``source`` (half: trained on, with their images in the source cameras only), ``adapt`` (a
quarter: their target-camera images are the unlabeled crops for adaptation) and ``test`` (a
quarter: their target-camera images are the test set, never used for training or adaptation).
Two folds, so that no choice is tuned to one number. The ``Testing/`` folders are never read.
"""

import numpy as np
from sklearn.utils import Bunch

#: target cameras of each fold: "A" holds out cameras 5 and 6 (camera 6 is Market's one
#: low-resolution camera: a real change of sensor), "B" holds out cameras 1 and 4.
FOLDS = {"A": (5, 6), "B": (1, 4)}


def domain_split(person_ids, camera_ids, fold="A", seed=0):
    """Boolean masks ``source``, ``adapt`` and ``test`` over the images of one fold.

    Source images come from source identities in non-target cameras; adapt and test images
    from disjoint identity sets in the target cameras. Every mask is identity-disjoint from the
    others, and the source mask holds no target-camera image.
    """
    person_ids, camera_ids = np.asarray(person_ids), np.asarray(camera_ids)
    target = np.isin(camera_ids, FOLDS[fold])
    ids = np.random.default_rng(seed).permutation(np.unique(person_ids))
    half, three_quarters = len(ids) // 2, (3 * len(ids)) // 4
    source_ids, adapt_ids, test_ids = ids[:half], ids[half:three_quarters], ids[three_quarters:]
    return Bunch(
        source=np.isin(person_ids, source_ids) & ~target,
        adapt=np.isin(person_ids, adapt_ids) & target,
        test=np.isin(person_ids, test_ids) & target,
        target_cameras=FOLDS[fold],
    )
