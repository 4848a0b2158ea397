"""Direct tests of skreid._keras._reid_training: identity split, sampler per loss (from the
registry), optimizer and schedule factories, compilation."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from skreid._keras._registry import LOSSES, OPTIMIZERS, SCHEDULES  # noqa: E402
from skreid._keras._reid_training import (  # noqa: E402
    compile_reid_model,
    make_optimizer,
    make_sampler,
    split_identities,
)
from skreid._keras._samplers import PKSampler, RandomTripletSampler  # noqa: E402


def test_split_identities_is_disjoint_and_refuses_too_few():
    codes = np.repeat(np.arange(10), 3)
    train, val = split_identities(codes, 0.3, np.random.RandomState(0))
    assert not set(codes[train]) & set(codes[val]) and len(set(codes[val])) == 3
    assert split_identities(codes, 0.0, None)[1] is None
    with pytest.raises(ValueError, match="validation_fraction=0.9 cannot split"):
        split_identities(np.repeat(np.arange(3), 2), 0.9, np.random.RandomState(0))


def test_each_loss_gets_its_sampler():
    codes = np.repeat(np.arange(6), 4)
    kinds = {name: type(make_sampler(name, codes, 8, 2, np.random.RandomState(0)))
             for name in LOSSES}
    assert kinds == {"batch_hard": PKSampler, "random_triplet": RandomTripletSampler}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_every_registry_optimizer_builds_with_either_schedule(name):
    for schedule in SCHEDULES:
        opt = make_optimizer(name, 1e-3, schedule, total_steps=100, warmup_steps=10)
        assert isinstance(opt, keras.optimizers.Optimizer)
        assert float(opt.learning_rate) == pytest.approx(1e-4 if schedule == "cosine" else 1e-3,
                                                         rel=1e-3)


def test_cosine_schedule_warms_up_from_a_tenth_then_decays_to_a_hundredth():
    schedule = SCHEDULES["cosine"](keras, 1e-3, 100, 10)
    assert float(schedule(0)) == pytest.approx(1e-4, rel=1e-3)
    assert float(schedule(10)) == pytest.approx(1e-3, rel=1e-3)
    assert float(schedule(100)) == pytest.approx(1e-5, rel=1e-2)
    # a warm-up longer than the run is cut to leave one decay step
    assert float(SCHEDULES["cosine"](keras, 1e-3, 5, 10)(4)) == pytest.approx(1e-3, rel=1e-3)


def test_compile_uses_the_registry_loss():
    from skreid._keras._reid_networks import build_reid_network

    model = build_reid_network("seed", (16, 8, 3), n_classes=3, augment=False)
    compile_reid_model(model, loss="random_triplet", margin=0.5, id_loss_weight=0.0,
                       label_smoothing=0.1, optimizer=keras.optimizers.Adam(1e-3))
    assert type(model.loss["triplet"]).__name__ == LOSSES["random_triplet"].loss_class
    assert model.loss["triplet"].margin == 0.5
