"""skreid.metrics.single_shot_rank1: the validation rank-1 of re-ID training."""

import numpy as np


def test_single_shot_validation_rank1():
    from skreid.metrics import single_shot_rank1

    ids = np.repeat(np.arange(5), 3)
    cams = np.tile([1, 2, 3], 5)
    perfect = np.eye(5)[ids]  # every image of a person embeds at the same point
    assert single_shot_rank1(perfect, ids, cams) == 1.0
    rng = np.random.RandomState(0)
    noise = rng.normal(size=(15, 4))
    assert single_shot_rank1(noise, ids, cams) == single_shot_rank1(noise, ids, cams)
    assert 0.0 <= single_shot_rank1(noise, ids, cams) <= 1.0
