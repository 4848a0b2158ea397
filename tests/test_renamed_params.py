"""One name per concept across the estimators (issue 26): ``backbone`` (was TripletEmbedder's
``architecture``), ``network`` (was MultiTaskPetNet's ``architecture``), ``test_time_flip``
(was TripletEmbedder's ``flip_test``), ``run_eagerly`` "auto" or a bool everywhere.

The old names keep working for two releases with a FutureWarning, ``get_params`` / ``clone``
see both, and files or pickles written under the old names load as the new ones.
"""

import inspect
import pickle
import warnings

import numpy as np
import pytest
from _tiny import tiny_triplet
from sklearn.base import clone

import skreid
from skreid.datasets import make_people, make_pets
from skreid.utils import DEPRECATED, read_archive, write_archive

keras = pytest.importorskip("keras")

from skreid.pets import FineTunedPetNet, MultiTaskPetNet  # noqa: E402
from skreid.reid import TripletEmbedder  # noqa: E402


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=4, n_images_per_identity=4, image_shape=(16, 8, 3),
                       random_state=0)


@pytest.fixture(scope="module")
def pets():
    return make_pets(n_samples=16, n_classes=2, image_size=16, random_state=0)


@pytest.fixture(scope="module")
def triplet(people):
    return tiny_triplet(backbone="seed", test_time_flip=False).fit(people.images,
                                                                   people.person_ids)


def _fit_quietly(est, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the new names never warn
        return est.fit(*args, **kwargs)


def test_one_name_per_concept():
    triplet, multitask, finetuned = (inspect.signature(c).parameters for c in
                                     (TripletEmbedder, MultiTaskPetNet, FineTunedPetNet))
    assert "backbone" in triplet and "backbone" in finetuned and "network" in multitask
    assert "test_time_flip" in triplet and "test_time_flip" in finetuned
    for params in (triplet, multitask, finetuned):
        assert params["run_eagerly"].default == "auto"
        for old in ("architecture", "flip_test"):  # only as deprecated aliases
            assert old not in params or params[old].default == DEPRECATED


def test_parameters_after_the_first_few_are_keyword_only():
    for cls, positional in [(TripletEmbedder, ["backbone", "weights", "image_size"]),
                            (MultiTaskPetNet, ["network"]), (FineTunedPetNet, ["weights"])]:
        params = list(inspect.signature(cls).parameters.values())
        assert [p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD] == positional
        assert all(p.kind == p.KEYWORD_ONLY for p in params[len(positional):])
    with pytest.raises(TypeError):
        TripletEmbedder("seed", None, (64, 32), None)


def test_old_triplet_names_warn_and_mean_the_same(people, triplet):
    old = tiny_triplet(architecture="seed", flip_test=False)
    assert old.get_params()["architecture"] == "seed"
    assert clone(old).get_params()["flip_test"] is False  # clone keeps the old name's value
    with pytest.warns(FutureWarning) as caught:
        old.fit(people.images, people.person_ids)
    assert sorted(str(w.message).split(" in skreid")[0] for w in caught) == [
        "TripletEmbedder: architecture was renamed backbone",
        "TripletEmbedder: flip_test was renamed test_time_flip"]
    np.testing.assert_array_equal(old.transform(people.images),
                                  triplet.transform(people.images))


def test_old_multitask_name_warns_and_means_the_same(pets):
    kwargs = dict(image_size=16, epochs=1, batch_size=16, augment=False, random_state=0)
    new = _fit_quietly(MultiTaskPetNet("seed", **kwargs), pets.images, pets.labels)
    old = MultiTaskPetNet(architecture="seed", **kwargs)
    with pytest.warns(FutureWarning, match="architecture was renamed network"):
        old.fit(pets.images, pets.labels)
    assert new.model_.name == old.model_.name == "seed_multitask"  # not the default U-Net
    np.testing.assert_array_equal(old.predict_proba(pets.images), new.predict_proba(pets.images))


def _as_saved_before_the_rename(path, out, renames):
    """The file ``path`` as skreid 0.1 wrote it: old parameter names, no new ones."""
    archive = read_archive(path, kind="model", max_format_version=1)
    meta = archive.meta
    params = meta["estimator"]["params"]
    for old, new in renames.items():
        assert params.pop(old) == DEPRECATED
        params[old] = params.pop(new)
    write_archive(out, kind="model", format_version=archive.format_version, meta=meta,
                  arrays=archive.arrays, files=archive.files)
    return out


def test_load_reads_files_saved_under_the_old_names(people, pets, triplet, tmp_path):
    skreid.save(triplet, tmp_path / "new.skreid")
    old = _as_saved_before_the_rename(tmp_path / "new.skreid", tmp_path / "old.skreid",
                                      {"architecture": "backbone", "flip_test": "test_time_flip"})
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        loaded = skreid.load(old)
    params = loaded.get_params()
    assert params["backbone"] == "seed" and params["test_time_flip"] is False
    assert params["architecture"] == params["flip_test"] == DEPRECATED
    np.testing.assert_array_equal(loaded.transform(people.images),
                                  triplet.transform(people.images))
    _fit_quietly(clone(loaded), people.images, people.person_ids)

    net = _fit_quietly(MultiTaskPetNet("seed", image_size=16, epochs=1, batch_size=16,
                                       augment=False, random_state=0), pets.images, pets.labels)
    skreid.save(net, tmp_path / "pets.skreid")
    old = _as_saved_before_the_rename(tmp_path / "pets.skreid", tmp_path / "pets_old.skreid",
                                      {"architecture": "network"})
    loaded = skreid.load(old)
    assert loaded.network == "seed" and loaded.architecture == DEPRECATED
    np.testing.assert_array_equal(loaded.predict_proba(pets.images),
                                  net.predict_proba(pets.images))


def test_pickles_of_the_old_names_load(people, triplet):
    state = triplet.__getstate__()
    state["architecture"], state["flip_test"] = state.pop("backbone"), state.pop("test_time_flip")
    old = TripletEmbedder.__new__(TripletEmbedder)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.get_params()["backbone"] == "seed" and old.test_time_flip is False
    np.testing.assert_array_equal(old.transform(people.images),
                                  triplet.transform(people.images))


def test_run_eagerly_auto_is_eager_for_small_calls_only():
    from skreid._keras._base import AUTO_EAGER_STEPS, resolve_run_eagerly

    assert resolve_run_eagerly("auto", AUTO_EAGER_STEPS) is True
    assert resolve_run_eagerly("auto", AUTO_EAGER_STEPS + 1) is False
    assert resolve_run_eagerly(False, 1) is False and resolve_run_eagerly(True, 10**6) is True
