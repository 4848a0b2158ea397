"""``skreid adapt MODEL IMAGES --out NEW_MODEL`` on synthetic crops written to disk."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from _tiny import tiny_triplet
from PIL import Image

import skreid
from skreid.cli import main
from skreid.datasets import make_people
from skreid.reid import PCAReID

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# clustering settings that find pseudo-identities among the tiny network's embeddings
ADAPT = dict(adapt_eps=0.5, adapt_k1=8, adapt_min_samples=3, adapt_rounds=1, adapt_epochs=1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A tiny model saved with skreid.save, Market-named crops of other people, a PCAReID."""
    root = tmp_path_factory.mktemp("adapt")
    people = make_people(n_identities=12, n_images_per_identity=8, n_cameras=2,
                         image_shape=(32, 16, 3), random_state=0)
    src = people.person_ids <= 6
    est = tiny_triplet(epochs=10, **ADAPT)
    est.fit(people.images[src], people.person_ids[src], cameras=people.camera_ids[src])
    skreid.save(est, root / "model.skreid", metadata={"training_data": {"images": 48}})
    crops = root / "crops"
    for sub in ("cam_a", "cam_b"):
        (crops / sub).mkdir(parents=True)
    for n, i in enumerate(np.flatnonzero(~src)):
        cam = people.camera_ids[i]
        name = f"{people.person_ids[i]:04d}_c{cam}s1_{n:06d}_00.png"
        Image.fromarray(people.images[i]).save(crops / ("cam_a" if cam == 1 else "cam_b") / name)
    skreid.save(PCAReID(n_components=5).fit(people.images[src], people.person_ids[src]),
                root / "pca.skreid")
    return root


def _cli(*argv):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-m", "skreid.cli", *map(str, argv)],
                          capture_output=True, text=True, env=env, timeout=600)


def test_adapt_writes_an_adapted_model_with_progress(setup, tmp_path):
    out = tmp_path / "adapted.skreid"
    proc = _cli("adapt", setup / "model.skreid", setup / "crops", "--out", out, "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "reading 48 images" in proc.stderr and "cameras: 1, 2" in proc.stderr
    assert "adapt round 1/1:" in proc.stderr and "pseudo-identities" in proc.stderr
    results = json.loads(proc.stdout)
    assert results["images"] == 48 and results["cameras"] == [1, 2]
    adapted = skreid.load(out)
    assert adapted.adaptation_ == [{**adapted.adaptation_[0], "n_unlabeled_images": 48}]
    metadata = skreid.saving.read_metadata(out)
    assert metadata["training_data"] == {"images": 48}
    assert metadata["adaptation_data"]["images"] == 48
    assert "## Adaptation" in (tmp_path / "adapted.skreid.card.md").read_text()
    # MODEL itself is unchanged
    assert not hasattr(skreid.load(setup / "model.skreid"), "adaptation_")


def test_adapt_cameras_from_folders(setup, tmp_path, capsys):
    out = tmp_path / "adapted.skreid"
    code = main(["adapt", str(setup / "model.skreid"), str(setup / "crops"), "--out", str(out),
                 "--cameras", "folder", "--quiet"])
    assert code == 0
    assert skreid.load(out).adaptation_[0]["cameras"] == ["cam_a", "cam_b"]
    assert "adapted on 48 images from cameras cam_a, cam_b" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["{root}/missing.skreid", "{root}/crops"], "MODEL .*missing.skreid: no such file"),
    (["{root}/pca.skreid", "{root}/crops"], "a PCAReID cannot adapt"),
    (["{root}/model.skreid", "{root}/nothing"], "no such file or folder"),
    (["{root}/model.skreid", "{one}"],
     "fit got 1 unlabeled images .* needs at least 6"),
    (["{root}/model.skreid", "{root}/crops", "--eps", "2"], "--eps must be in"),
    (["{root}/model.skreid", "{root}/crops", "--rounds", "0"], "--rounds must be at least 1"),
    (["{root}/model.skreid", "{root}/crops", "--eps", "0.0001"],
     "found [01] pseudo-identit.* Nothing was written"),
])
def test_adapt_user_errors_exit_2_with_one_line(setup, tmp_path, capsys, argv, message):
    import re

    out = tmp_path / "new.skreid"
    one = sorted((setup / "crops" / "cam_a").iterdir())[0]
    argv = [a.format(root=setup, one=one) for a in argv]
    code = main(["adapt", *argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and re.search(message, err[-1]), err
    assert not out.exists()


def test_adapt_never_overwrites_a_foreign_file(setup, tmp_path, capsys):
    foreign = tmp_path / "notes.skreid"
    foreign.write_text("my notes")
    code = main(["adapt", str(setup / "model.skreid"), str(setup / "crops"),
                 "--out", str(foreign), "--quiet"])
    assert code == 2 and "not a file written by skreid.save" in capsys.readouterr().err
    assert foreign.read_text() == "my notes"
