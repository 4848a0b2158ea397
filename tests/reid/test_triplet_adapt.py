"""TripletEmbedder.fit with unlabeled images (y == -1): adaptation to new cameras."""

import os
import warnings

import numpy as np
import pytest
from _tiny import tiny_triplet

import skreid
from skreid.datasets import make_people
from skreid.reid import NoPseudoIdentitiesWarning

# a setting that finds several pseudo-identities among the tiny network's embeddings
CLUSTERING = dict(adapt_eps=0.5, adapt_k1=8, adapt_min_samples=3)


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=12, n_images_per_identity=8, n_cameras=2,
                       image_shape=(32, 16, 3), random_state=0)


@pytest.fixture(scope="module")
def source(people):
    """A tiny model trained on identities 1-6, and the unlabeled images of identities 7-12."""
    src = people.person_ids <= 6
    est = tiny_triplet(epochs=10, warm_start=True, adapt_rounds=2, adapt_epochs=1,
                       **CLUSTERING)
    est.fit(people.images[src], people.person_ids[src], cameras=people.camera_ids[src])
    return est, people.images[~src], people.camera_ids[~src]


def _clone_fitted(est):
    import pickle

    return pickle.loads(pickle.dumps(est))


def _weights(est):
    return [w.copy() for w in est.model_.get_weights()]


def _unlabeled(n):
    return np.full(n, -1)


def test_adaptation_trains_on_pseudo_identities_and_records_it(source):
    est, X, cams = source
    est = _clone_fitted(est)
    before, head = _weights(est), est.model_.get_layer("logits").get_weights()
    n_epochs = est.n_epochs_
    est.fit(X, _unlabeled(len(X)), cameras=cams)
    after = _weights(est)
    assert any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    # the identity head of the training identities is not part of the adaptation
    for a, b in zip(head, est.model_.get_layer("logits").get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    (record,) = est.adaptation_
    assert record["n_unlabeled_images"] == len(X) and record["n_labeled_images"] == 0
    assert record["cameras"] == [1, 2] and record["rounds"] == 2
    assert len(record["clusters_per_round"]) == 2 and min(record["clusters_per_round"]) >= 2
    assert est.n_epochs_ == n_epochs + 2
    assert est.history_["adapt_round"][-2:] == [1, 2]
    assert np.isnan(est.history_["adapt_loss"][0]) and np.isfinite(est.history_["adapt_loss"][-1])
    # the gallery: the adapted images under their pseudo-identities (-1: DBSCAN noise)
    assert est.gallery_embeddings_.shape[0] == len(X)
    assert set(np.unique(est.gallery_ids_)) <= {-1, *range(record["final_clusters"])}
    np.testing.assert_allclose(est.transform(X), est.gallery_embeddings_, atol=1e-5)


def test_adaptation_is_deterministic_with_random_state(source):
    est, X, cams = source
    a, b = _clone_fitted(est), _clone_fitted(est)
    a.fit(X, _unlabeled(len(X)), cameras=cams)
    b.fit(X, _unlabeled(len(X)), cameras=cams)
    for wa, wb in zip(_weights(a), _weights(b), strict=True):
        np.testing.assert_array_equal(wa, wb)
    assert a.adaptation_[0]["clusters_per_round"] == b.adaptation_[0]["clusters_per_round"]


def test_the_adapted_weights_are_the_average_of_the_rounds(source, monkeypatch):
    from skreid._keras import _adaptation

    est, X, cams = source
    est = _clone_fitted(est)
    seen, averaged = [], []
    embed, average = type(est)._embed, _adaptation.average_weights

    def recording_embed(self, images, *args, **kwargs):
        if len(images) == len(X):  # each round starts by embedding the adaptation images
            seen.append(_weights(self))
        return embed(self, images, *args, **kwargs)

    def recording_average(mean, weights, n):
        averaged.append([w.copy() for w in weights])
        return average(mean, weights, n)

    monkeypatch.setattr(type(est), "_embed", recording_embed)
    monkeypatch.setattr(_adaptation, "average_weights", recording_average)
    est.fit(X, _unlabeled(len(X)), cameras=cams)
    _, end_1, final = seen  # round 1, round 2 (starts where round 1 ended), final clustering
    first, end_2 = averaged  # the weights at the end of each round
    for a, b in zip(end_1, first, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(end_1, end_2, strict=True))
    for w1, w2, w in zip(end_1, end_2, final, strict=True):
        np.testing.assert_allclose(w, (w1 + w2) / 2, rtol=1e-5, atol=1e-7)
    for a, b in zip(final, _weights(est), strict=True):
        np.testing.assert_array_equal(a, b)


def test_fewer_than_two_pseudo_identities_warn_and_change_nothing(source):
    est, X, cams = source
    est = _clone_fitted(est).set_params(adapt_eps=1e-4)
    before, state = _weights(est), dict(vars(est))
    with pytest.warns(NoPseudoIdentitiesWarning,
                      match="found [01] pseudo-identit.* left unchanged"):
        est.fit(X, _unlabeled(len(X)), cameras=cams)
    for a, b in zip(before, _weights(est), strict=True):
        np.testing.assert_array_equal(a, b)
    assert not hasattr(est, "adaptation_") and est.n_epochs_ == state["n_epochs_"]
    assert est.gallery_embeddings_ is state["gallery_embeddings_"]


def test_mixed_labeled_and_unlabeled_in_one_fit(people):
    src = people.person_ids <= 6
    y = np.where(src, people.person_ids, -1)
    est = tiny_triplet(epochs=10, adapt_rounds=1, adapt_epochs=1, **CLUSTERING)
    est.fit(people.images, y, cameras=people.camera_ids)
    # trained on the 6 labeled identities first, then adapted on all the images
    np.testing.assert_array_equal(est.identities_, np.arange(1, 7))
    (record,) = est.adaptation_
    assert record["n_labeled_images"] == src.sum()
    assert record["n_unlabeled_images"] == (~src).sum()
    # labeled images keep their identities, pseudo-identities are numbered after them
    np.testing.assert_array_equal(est.gallery_ids_[src], people.person_ids[src])
    pseudo = est.gallery_ids_[~src]
    assert ((pseudo == -1) | (pseudo >= 7)).all() and (pseudo >= 7).any()


def test_unlabeled_only_fit_needs_a_trained_model(people):
    X, y = people.images[:40], _unlabeled(40)
    with pytest.raises(ValueError, match="needs a trained model .* or labeled images"):
        tiny_triplet().fit(X, y)
    with pytest.raises(ValueError, match="needs a trained model"):
        tiny_triplet(warm_start=True).fit(X, y)  # nothing fitted to continue from
    one_id = np.where(np.arange(40) < 8, 5, -1)
    with pytest.raises(ValueError, match="1 labeled identity"):
        tiny_triplet().fit(X, one_id)


def test_bad_adaptation_input(source):
    est, X, cams = source
    est = _clone_fitted(est)
    with pytest.raises(ValueError, match="cameras has 5 entries but y has 48"):
        est.fit(X, _unlabeled(len(X)), cameras=cams[:5])
    with pytest.raises(ValueError, match=r"fit got 5 unlabeled images .* at least 6 "
                                         r"\(2 x adapt_min_samples=3\)"):
        est.fit(X[:5], _unlabeled(5))
    with pytest.raises(ValueError, match="X has 48 images but y has 47"):
        est.fit(X, _unlabeled(47))
    with pytest.raises(ValueError, match="adapt_eps"):
        est.set_params(adapt_eps=1.5).fit(X, _unlabeled(len(X)))
    with pytest.raises(ValueError, match="partial_fit got unlabeled images"):
        est.set_params(adapt_eps=0.5).partial_fit(X, _unlabeled(len(X)))


def test_save_and_card_record_the_adaptation(source, tmp_path):
    est, X, cams = source
    est = _clone_fitted(est)
    est.fit(X, _unlabeled(len(X)), cameras=cams)
    path = tmp_path / "adapted.skreid"
    skreid.save(est, path)
    loaded = skreid.load(path)
    assert loaded.adaptation_ == est.adaptation_
    np.testing.assert_allclose(loaded.transform(X), est.transform(X), atol=1e-5)
    facts = skreid.saving.read_metadata(path)["model"]["facts"]
    assert facts["adaptation"][0]["n_unlabeled_images"] == len(X)
    card = open(f"{os.fspath(path)}.card.md", encoding="utf-8").read()
    assert "## Adaptation" in card and f"{len(X)} unlabeled images from cameras 1, 2" in card
    # a second adaptation is recorded after the first
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loaded.set_params(warm_start=True).fit(X, _unlabeled(len(X)))
    assert len(loaded.adaptation_) == 2 and loaded.adaptation_[1]["cameras"] is None
