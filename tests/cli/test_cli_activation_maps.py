"""``skreid reid --method triplet`` reports where the embedding looks (activation maps)."""

import json
import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from skreid.cli import main  # noqa: E402

pytest.importorskip("keras")


@pytest.fixture(scope="module")
def people_folder(tmp_path_factory):
    """6 identities x 4 images, one subfolder per identity."""
    from skreid.datasets import make_people

    root = tmp_path_factory.mktemp("people")
    people = make_people(n_identities=6, n_images_per_identity=4, n_cameras=2,
                         image_shape=(32, 16, 3), random_state=0)
    for i, (image, pid) in enumerate(zip(people.images, people.person_ids, strict=True)):
        folder = root / f"id{pid:03d}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


def test_reid_figures_include_the_activation_maps(people_folder, tmp_path):
    """The figure code of ``skreid reid`` with a tiny TripletEmbedder (seconds, not minutes)."""
    from skreid.cli._common import ReportFolder
    from skreid.cli._data import load_reid_data
    from skreid.cli._reid import run_reid

    folder = ReportFolder(tmp_path / "report")
    tiny = dict(backbone="seed", image_size=None, weights=None, epochs=1, batch_size=8,
                images_per_identity=2, run_eagerly=True)
    section = run_reid(load_reid_data(str(people_folder), 0), ["triplet"], seed=0,
                       options={"triplet": tiny}, progress=lambda message: None,
                       folder=folder)
    figures = dict(section["figures"])
    assert "where the embedding looks" in figures["reid_activation_maps.png"]
    assert Image.open(os.path.join(folder.tmp, "reid_activation_maps.png")).size[0] > 100
    folder.abort()


@pytest.mark.slow
def test_reid_report_has_the_activation_maps(people_folder, tmp_path, capsys):
    """End to end: ``skreid reid --method triplet`` (a ResNet at 256x128, about a minute)."""
    out = tmp_path / "report"
    code = main(["reid", "--data", str(people_folder), "--method", "triplet", "--epochs", "1",
                 "--json", "--quiet", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    figures = dict(json.loads((out / "results.json").read_text())["reid"]["figures"])
    assert "where the embedding looks" in figures["reid_activation_maps.png"]
    assert Image.open(out / "reid_activation_maps.png").size[0] > 100
    assert "reid_activation_maps.png" in (out / "report.md").read_text()


def test_pca_report_has_no_activation_maps(people_folder, tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["reid", "--data", str(people_folder), "--method", "pca", "--json", "--quiet",
                 "--out", str(out)]) == 0
    figures = dict(json.loads((out / "results.json").read_text())["reid"]["figures"])
    assert "reid_cmc.png" in figures and "reid_activation_maps.png" not in figures
