"""``skreid reid`` / ``skreid pets`` on tiny folders written by the tests: report.html, the
model metadata of ``--save`` (and the model card once ``skreid.save`` exists), bad --save."""

import json
import os
import re

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from _report_html import check_report  # noqa: E402
from PIL import Image  # noqa: E402

import skreid  # noqa: E402
from skreid.cli import main  # noqa: E402
from skreid.cli._save import pets_metadata, reid_metadata  # noqa: E402

HAS_SAVE = hasattr(skreid, "save")
needs_save = pytest.mark.skipif(not HAS_SAVE, reason="skreid.save (#15a) is not in this tree")


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def people_folder(tmp_path_factory):
    """8 identities x 4 images, one subfolder per identity (no camera ids)."""
    from skreid.datasets import make_people

    root = tmp_path_factory.mktemp("people")
    people = make_people(n_identities=8, n_images_per_identity=4, n_cameras=2,
                         image_shape=(32, 16, 3), random_state=0)
    for i, (image, pid) in enumerate(zip(people.images, people.person_ids, strict=True)):
        folder = root / f"id{pid:03d}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def pets_folder(tmp_path_factory):
    """A tiny Oxford-IIIT Pet layout: 2 breeds x 8 images with trimaps, official lists."""
    from skreid.datasets import make_pets

    root = tmp_path_factory.mktemp("pets")
    (root / "images").mkdir()
    (root / "annotations" / "trimaps").mkdir(parents=True)
    pets = make_pets(n_samples=16, n_classes=2, image_size=32, random_state=0)
    breeds = {0: ("Abyssinian", "1 1 1"), 1: ("beagle", "5 2 3")}
    lines, trainval, test = [], [], []
    for i, (image, mask, label) in enumerate(
            zip(pets.images, pets.masks, pets.labels, strict=True)):
        breed, ids = breeds[int(label)]
        name = f"{breed}_{i + 1}"
        Image.fromarray(image).save(root / "images" / f"{name}.jpg")
        # Oxford trimaps: 1 pet, 2 background, 3 border; make_pets masks: 0 pet, 1 background
        Image.fromarray((np.asarray(mask) + 1).astype(np.uint8)).save(
            root / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} {ids}\n")
        (test if i % 4 == 0 else trainval).append(f"{name} {ids}\n")
    (root / "annotations" / "list.txt").write_text("#Image CLASS-ID SPECIES BREED ID\n"
                                                   + "".join(lines))
    (root / "annotations" / "trainval.txt").write_text("".join(trainval))
    (root / "annotations" / "test.txt").write_text("".join(test))
    return root


@pytest.fixture(scope="module")
def reid_run(people_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("reid") / "report"
    code = main(["reid", "--data", str(people_folder), "--method", "pca", "--json", "--quiet",
                 "--out", str(out)])
    return code, out, None


@pytest.fixture(scope="module")
def reid_save_run(people_folder, tmp_path_factory):
    """The same run with --save (PCAReID: a second run costs about a second)."""
    out = tmp_path_factory.mktemp("reid_save") / "report"
    model = out.parent / "pca.skreid"
    code = main(["reid", "--data", str(people_folder), "--method", "pca", "--json", "--quiet",
                 "--out", str(out), "--save", str(model)])
    return code, out, model


@pytest.fixture(scope="module")
def pets_run(pets_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("pets") / "report"
    model = out.parent / "multitask.skreid"
    argv = ["pets", "--data", str(pets_folder), "--method", "multitask", "--epochs", "1",
            "--image-size", "32", "--json", "--quiet", "--out", str(out)]
    if HAS_SAVE:
        argv += ["--save", str(model)]
    code = main(argv)
    return code, out, model


def test_reid_report_html(reid_run):
    code, out, _ = reid_run
    assert code == 0
    page, results = check_report(out)
    assert list(results["reid"]["methods"]) == ["PCAReID (report baseline)"]
    assert "PCAReID(" in " ".join(page.text)  # the estimator's parameters


def test_pets_report_html(pets_run):
    code, out, _ = pets_run
    assert code == 0
    _, results = check_report(out)
    assert results["pets"]["methods"]["MultiTaskPetNet"]["init"] == "from scratch"


def test_reid_model_metadata_has_the_run_figures(reid_run, people_folder):
    code, out, _ = reid_run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    label = "PCAReID (report baseline)"
    meta = reid_metadata(results, label)
    row = results["reid"]["methods"][label]
    assert meta["training_data"] == {"folder": str(people_folder), "images": 16,
                                     "identities": 4, "image_size": [128, 64]}
    for key in ("rank1", "rank5", "rank10", "mAP", "mINP"):
        assert meta["evaluation"][key] == row[key]
    assert "never seen in training" in meta["evaluation"]["protocol"]
    assert "No camera ids" in meta["evaluation"]["protocol"]  # an image folder has none
    assert meta["training_time_s"] == row["fit_s"]
    assert meta["hardware"]["cpu_count"] == os.cpu_count()
    json.dumps(meta)  # the saved file's metadata is JSON


def test_pets_model_metadata_has_the_run_figures(pets_run, pets_folder):
    code, out, _ = pets_run
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    meta = pets_metadata(results, "MultiTaskPetNet")
    row = results["pets"]["methods"]["MultiTaskPetNet"]
    assert meta["training_data"] == {"folder": str(pets_folder), "images": 12, "breeds": 2,
                                     "image_size": [32, 32]}
    assert meta["evaluation"]["top1_accuracy"] == row["accuracy"]
    assert meta["evaluation"]["pixel_accuracy"] == row["pixel_accuracy"]
    assert meta["evaluation"]["test_images"] == 4
    assert "trainval" in meta["evaluation"]["protocol"]
    json.dumps(meta)


@needs_save
@pytest.mark.parametrize("which", ["reid", "pets"])
def test_save_writes_the_model_and_its_card(which, request):
    code, out, model = request.getfixturevalue("reid_save_run" if which == "reid"
                                               else "pets_run")
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert results["saved_models"] == [{"path": str(model), "card": f"{model}.card.md"}]
    card = open(f"{model}.card.md", encoding="utf-8").read()
    (label, row), = results[which]["methods"].items()
    from skreid.saving import read_metadata

    meta = read_metadata(str(model))
    metadata_of = reid_metadata if which == "reid" else pets_metadata
    expected = metadata_of(results, label)
    for key in ("training_data", "evaluation", "training_time_s"):
        assert meta[key] == expected[key]
    # the card shows every figure this run measured, with its protocol
    table = dict(re.findall(r"^\| (\w+) \| ([^|]+) \|$", card, re.M))
    for key, value in expected["evaluation"].items():
        if key != "protocol":
            assert float(table[key]) == pytest.approx(value, rel=1e-3, abs=1e-4), key
    assert expected["evaluation"]["protocol"] in card
    assert str(expected["training_data"]["folder"]) in card
    assert "Ethical considerations" in card
    assert str(model) in (out / "report.html").read_text()


def test_bad_save_exits_2_before_work(tmp_path, capsys, people_folder):
    existing = tmp_path / "model.skreid"
    existing.write_text("keep me")
    cases = [
        (["--method", "all", "--save", str(tmp_path / "new.skreid")], "--save keeps one model"),
        (["--method", "pca", "--save", str(existing)], "never overwrites"),
        (["--method", "pca", "--save", str(tmp_path / "missing" / "m.skreid")],
         "does not exist"),
    ]
    for extra, message in cases:
        code, out, err = _run(capsys, "reid", "--data", str(people_folder), *extra,
                              "--out", str(tmp_path / "out"))
        assert code == 2 and message in err.strip().splitlines()[-1], err
        assert not (tmp_path / "out").exists()
    assert existing.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.skreid"]


def test_cli_imports_no_jinja2_until_a_report_is_written():
    import subprocess
    import sys

    probe = "import sys, skreid, skreid.cli; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False"


def test_template_ships_as_package_data():
    from importlib import resources

    from skreid.cli.report import TEMPLATE

    assert resources.files("skreid.cli.report").joinpath("templates", TEMPLATE).is_file()
    tomllib = pytest.importorskip("tomllib", reason="tomllib is Python >= 3.11")

    # the package-data glob must cover the template, or wheels ship without it
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "pyproject.toml"), "rb") as fh:
        globs = tomllib.load(fh)["tool"]["setuptools"]["package-data"]["skreid.cli.report"]
    import fnmatch

    assert any(fnmatch.fnmatch(f"templates/{TEMPLATE}", g) for g in globs)
