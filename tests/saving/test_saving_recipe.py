"""skreid.save / skreid.load of a TripletEmbedder with the camera-generalisation recipe
(colour augmentation, IBN-a, MixStyle: skreid layers inside a registry backbone), loaded in
a fresh process."""

import pytest
from _tiny import tiny_style_triplet
from test_saving import run_in_fresh_process

import skreid
from skreid.datasets import make_people

keras = pytest.importorskip("keras")


def test_recipe_round_trip_in_a_fresh_process(tmp_path):
    people = make_people(n_identities=6, n_images_per_identity=4, n_cameras=2,
                         image_shape=(64, 32, 3), random_state=0)
    est = tiny_style_triplet(str(tmp_path)).fit(people.images, people.person_ids,
                                                cameras=people.camera_ids)
    path = tmp_path / "recipe.skreid"
    skreid.save(est, path)
    loaded = skreid.load(path)
    assert (loaded.color_augment, loaded.ibn, loaded.mixstyle) == (1.0, True, 0.5)
    report = run_in_fresh_process(
        [{"name": "recipe", "path": path, "estimator": est, "X": people.images,
          "methods": ["transform", "predict", "kneighbors"], "keras": True}], tmp_path)
    assert report["recipe"] and all(report["recipe"].values()), report
