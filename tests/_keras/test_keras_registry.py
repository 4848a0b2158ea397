"""The component registry (skreid._keras._registry) and the backbones built through it."""

import subprocess
import sys

import numpy as np
import pytest

from skreid._keras import BACKBONES, LOSSES, OPTIMIZERS, SCHEDULES, describe


def test_registry_imports_no_keras():
    code = ("import sys; from skreid._keras import _registry; "
            "print('keras' in sys.modules or 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_estimators_validate_against_the_registry():
    from skreid.pets import FineTunedPetNet
    from skreid.reid import TripletEmbedder

    triplet = TripletEmbedder._parameter_constraints
    assert set(BACKBONES) <= triplet["backbone"][0].options
    assert triplet["loss"][0].options == set(LOSSES)
    assert triplet["optimizer"][0].options == set(OPTIMIZERS)
    assert triplet["lr_schedule"][0].options == set(SCHEDULES)
    assert FineTunedPetNet._parameter_constraints["backbone"][0].options == set(BACKBONES)
    with pytest.raises(ValueError, match=r"'optimizer' parameter .* Got 'lamb'"):
        TripletEmbedder(optimizer="lamb").fit(np.zeros((4, 8, 4, 3)), [0, 0, 1, 1])


def test_every_loss_names_a_sampler_and_every_backbone_its_rules():
    assert {entry.sampler for entry in LOSSES.values()} == {"pk", "triplets"}
    for name, spec in BACKBONES.items():
        assert set(spec.stride_layers) == {2, 4, 8, 16}, name
        assert spec.block_pattern and len(spec.last_downsampling) == 2, name
        assert spec.freezes_batchnorm(True) and not spec.freezes_batchnorm(False), name
        assert spec.application in spec.weights_help()
    assert "mobilenet_v2" in describe(BACKBONES)


def test_cli_reads_its_backbone_choices_from_the_registry(capsys):
    from skreid.cli import main

    try:
        main(["reid", "--help"])
    except SystemExit:  # argparse's --help exits (main may also return its code)
        pass
    out = capsys.readouterr().out
    assert "--backbone" in out and all(name in out for name in BACKBONES)


# ------------------------------------------------------------------------ with Keras
keras = pytest.importorskip("keras")


@pytest.mark.parametrize("name", sorted(BACKBONES))
def test_backbone_strides_blocks_and_batchnorm_rule(name, tmp_path):
    from skreid._keras._backbones import (
        backbone_blocks,
        build_backbone,
        freeze_up_to_stride,
        multiscale_features,
    )

    net = build_backbone(name, (64, 32, 3))
    maps = multiscale_features(net, strides=(2, 4, 8, 16, 32), name=name)
    assert [tuple(o.shape[1:3]) for o in maps.outputs] == [
        (32, 16), (16, 8), (8, 4), (4, 2), (2, 1)]
    assert len(backbone_blocks(net, name)) >= 10
    bns = [la for la in net.layers if isinstance(la, keras.layers.BatchNormalization)]
    # random weights: BatchNorm learns, with a momentum that settles in a small fit
    assert all(la.trainable and la.momentum == 0.9 for la in bns)
    n_frozen = freeze_up_to_stride(net, 8, name)
    assert net.layers[n_frozen - 1].name == BACKBONES[name].stride_layers[8][0]
    # pretrained weights (a local file): every BatchNorm frozen, the file round-trips
    path = tmp_path / f"{name}.weights.h5"
    build_backbone(name, (64, 32, 3)).save_weights(path)
    loaded = build_backbone(name, (64, 32, 3), weights=path, last_stride=1)
    assert tuple(loaded.output.shape[1:3]) == (4, 2)
    assert not any(la.trainable for la in loaded.layers
                   if isinstance(la, keras.layers.BatchNormalization))
    with pytest.raises(ValueError, match="does not fit"):
        other = sorted(set(BACKBONES) - {name})[0]
        build_backbone(other, (64, 32, 3), weights=path)


def test_mobilenet_v2_in_triplet_embedder_and_finetuned_petnet(tmp_path):
    """The backbone added as one registry entry works in both estimators (tiny data)."""
    from skreid.datasets import make_people, make_pets
    from skreid.pets import FineTunedPetNet
    from skreid.reid import TripletEmbedder

    people = make_people(n_identities=4, n_images_per_identity=4, image_shape=(32, 16, 3),
                         random_state=0)
    est = TripletEmbedder(backbone="mobilenet_v2", weights=None, image_size=(32, 32),
                          n_parts=2, epochs=1, batch_size=8, images_per_identity=2,
                          run_eagerly=True, random_state=0)
    emb = est.fit(people.images, people.person_ids).transform(people.images)
    assert emb.shape == (16, 3 * 1280) and np.isfinite(emb).all()
    assert est.model_.get_layer("mobilenet_v2") is not None
    with pytest.raises(ValueError, match="weights file not found.*MobileNetV2"):
        TripletEmbedder(backbone="mobilenet_v2", weights=str(tmp_path / "no.h5")).fit(
            people.images, people.person_ids)

    pets = make_pets(n_samples=12, n_classes=2, image_size=32, random_state=0)
    path = tmp_path / "mnv2.weights.h5"
    from skreid._keras._backbones import build_backbone

    build_backbone("mobilenet_v2", (32, 32, 3)).save_weights(path)
    net = FineTunedPetNet(weights=str(path), backbone="mobilenet_v2", image_size=32, epochs=2,
                          head_epochs=1, fine_tune_blocks=1, decoder_width=4, batch_size=12,
                          random_state=0)
    net.fit(pets.images, pets.labels, masks=pets.masks)
    assert net.transform(pets.images[:3]).shape == (3, 1280)
    assert net.predict_mask(pets.images[:2]).shape == (2, 32, 32)
    assert net._stage == "fine_tune"
    backbone = net.model_.get_layer("backbone")
    trainable = [la.name for la in backbone.layers if la.trainable_weights]
    assert trainable and all(n.startswith(("block_16", "Conv_1")) for n in trainable)
