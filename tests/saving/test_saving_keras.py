"""skreid.save / skreid.load of the Keras estimators: round trips in a fresh process, and the
crafted networks refused (Lambda layers, unregistered custom objects, foreign modules)."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest
from _tiny import tiny_triplet
from test_saving import run_in_fresh_process

import skreid
from skreid.datasets import make_people, make_pets
from skreid.saving import UnsupportedEstimatorError
from skreid.utils import UnsafeArchiveError, write_archive

keras = pytest.importorskip("keras")

from skreid.pets import FineTunedPetNet, MultiTaskPetNet  # noqa: E402


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=6, n_images_per_identity=4, n_cameras=2,
                       image_shape=(32, 16, 3), random_state=0)


@pytest.fixture(scope="module")
def pets():
    return make_pets(n_samples=24, n_classes=3, image_size=16, random_state=0)


@pytest.fixture(scope="module")
def triplet(people):
    # augmentation (RandomErasing, a skreid layer) and the identity head (ScaledDense)
    est = tiny_triplet(augment=True, id_loss_weight=1.0)
    return est.fit(people.images, people.person_ids, cameras=people.camera_ids)


def test_keras_round_trip_in_a_fresh_process(people, pets, triplet, tmp_path):
    X, y, cams = people.images, people.person_ids, people.camera_ids
    resnet = tiny_triplet(backbone="resnet", pooling="gem", grayscale=True,
                          image_size=(16, 8), metric="cosine").fit(X, y)
    resnet.set_gallery(X[::2], y[::2], cameras=cams[::2])
    multitask = MultiTaskPetNet(image_size=16, width=4, depth=2, epochs=1, batch_size=16,
                                segmentation="trimap", augment=False, random_state=0)
    multitask.fit(pets.images, pets.labels, masks=pets.masks)
    finetuned = FineTunedPetNet(weights=None, image_size=32, epochs=1, head_epochs=1,
                                decoder_width=8, batch_size=16, augment=False, random_state=0)
    finetuned.fit(pets.images, pets.labels, masks=pets.masks)
    reid = ["transform", "predict", "kneighbors"]
    pet = ["predict_proba", "predict", "predict_mask", "transform"]
    cases = []
    for name, est, data, methods in [("triplet", triplet, X, reid), ("resnet", resnet, X, reid),
                                     ("multitask", multitask, pets.images, pet),
                                     ("finetuned", finetuned, pets.images, pet)]:
        path = tmp_path / f"{name}.skreid"
        skreid.save(est, path)
        cases.append({"name": name, "path": path, "estimator": est, "X": data,
                      "methods": methods, "keras": True})
    report = run_in_fresh_process(cases, tmp_path)
    assert report.pop("tf_after_read_metadata") is False  # metadata without loading Keras
    assert report.pop("tf_after_classical") is False
    for name, results in report.items():
        assert results and all(results.values()), (name, results)


def test_loaded_network_keeps_training(triplet, people, tmp_path):
    path = tmp_path / "t.skreid"
    skreid.save(triplet, path)
    loaded = skreid.load(path)
    assert loaded.n_epochs_ == 1 and loaded.history_.keys() == triplet.history_.keys()
    again = pickle.loads(pickle.dumps(loaded))  # pickle keeps working (clone, joblib)
    np.testing.assert_array_equal(again.transform(people.images),
                                  triplet.transform(people.images))
    loaded.partial_fit(people.images, people.person_ids)  # compiled, optimizer state kept
    assert loaded.n_epochs_ == 2
    meta = skreid.saving.read_metadata(path)
    assert meta["model"]["facts"]["n_training_identities"] == 6
    assert meta["model"]["facts"]["n_network_parameters"] == triplet.model_.count_params()


def test_a_pickled_keras_estimator_is_refused_as_a_pickle(triplet, tmp_path):
    # its pickle ends with the network's zip, so it also looks like a zip archive
    path = tmp_path / "t.pkl"
    path.write_bytes(pickle.dumps(triplet))
    assert zipfile.is_zipfile(path)
    with pytest.raises(UnsafeArchiveError, match="a pickle .*not a skreid file"):
        skreid.load(path)


def test_callable_architecture_is_refused(people, tmp_path):
    def trunk(x):
        return keras.layers.Dense(4)(keras.layers.Flatten()(x))

    est = tiny_triplet(backbone=trunk).fit(people.images, people.person_ids)
    with pytest.raises(UnsupportedEstimatorError, match="backbone.*function"):
        skreid.save(est, tmp_path / "c.skreid")


def _keras_bytes(model):
    from skreid.saving._keras_io import model_to_bytes

    return model_to_bytes(model)


def _file_with_network(tmp_path, data):
    tree = {"__skreid__": "estimator", "class": "skreid.reid.TripletEmbedder",
            "params": {}, "attrs": {"model_": {"__skreid__": "keras", "file": "m.keras"}}}
    path = tmp_path / "net.skreid"
    write_archive(path, kind="model", format_version=1, meta={"estimator": tree, "metadata": {}},
                  files={"m.keras": data})
    return path


def _edit_config(data, edit):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w") as zout:
        for name in zin.namelist():
            member = zin.read(name)
            if name == "config.json":
                config = json.loads(member)
                edit(config)
                member = json.dumps(config).encode()
            zout.writestr(name, member)
    return out.getvalue()


def test_lambda_layers_and_foreign_objects_are_refused(triplet, tmp_path):
    inputs = keras.Input((4,))
    lam = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    with pytest.raises(UnsafeArchiveError, match="'Lambda' object"):
        _keras_bytes(lam)  # never written ...
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        lam.save(f"{tmp}/lam.keras")
        data = open(f"{tmp}/lam.keras", "rb").read()
    with pytest.raises(UnsafeArchiveError, match="'Lambda' object"):
        skreid.load(_file_with_network(tmp_path, data))  # ... nor loaded

    good = _keras_bytes(triplet.model_)

    def foreign_layer(config):
        layer = config["config"]["layers"][1]
        layer["registered_name"] = "evil>Layer"

    def foreign_module(config):
        config["config"]["layers"][1]["module"] = "os"

    def foreign_function(config):
        loss = config["compile_config"]["loss"]
        loss[next(iter(loss))] = {"module": "builtins", "class_name": "function",
                                  "config": "evil>loss", "registered_name": "function"}

    for edit, match in [(foreign_layer, "'evil>Layer', which is not registered"),
                        (foreign_module, "module 'os'"),
                        (foreign_function, "function 'evil>loss'")]:
        with pytest.raises(UnsafeArchiveError, match=match):
            skreid.load(_file_with_network(tmp_path, _edit_config(good, edit)))
    with zipfile.ZipFile(io.BytesIO(good)) as zin:
        extra = io.BytesIO()
        with zipfile.ZipFile(extra, "w") as zout:
            for name in zin.namelist():
                zout.writestr(name, zin.read(name))
            zout.writestr("assets/run.py", b"print(1)")
    with pytest.raises(UnsafeArchiveError, match="unexpected member assets/run.py"):
        skreid.load(_file_with_network(tmp_path, extra.getvalue()))
    loaded = skreid.load(_file_with_network(tmp_path, good))  # the untouched network loads
    assert loaded.model_.count_params() == triplet.model_.count_params()
