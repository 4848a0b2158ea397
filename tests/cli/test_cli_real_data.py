"""``skreid reid`` / ``skreid pets`` on the real data (slow; need SKREID_TEST_DATA)."""

import json
import os

import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from skreid.cli import main  # noqa: E402

DATA = os.environ.get("SKREID_TEST_DATA")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA, reason="SKREID_TEST_DATA is not set (real data not available)"),
]


def test_reid_on_the_course_subset(tmp_path, capsys):
    data = os.path.join(DATA, "market1501", "cab420_subset")
    code = main(["reid", "--data", data, "--method", "pca", "--json", "--quiet",
                 "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    results = json.loads(out)
    row = results["reid"]["methods"]["PCAReID (report baseline)"]
    assert results["reid"]["data"]["train_images"] == 5933
    assert results["reid"]["data"]["query_images"] == 301
    # the report's pipeline counted same-camera matches: ~9 % rank-1 (27-28 of 301 probes)
    assert 0.05 <= row["rank1_no_camera_rule"] <= 0.15
    assert (tmp_path / "out" / "report.md").is_file()


def test_pets_with_the_shared_weights(tmp_path, capsys):
    data = os.path.join(DATA, "oxford_pets")
    weights = os.path.join(DATA, "weights",
                           "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5")
    code = main(["pets", "--data", data, "--weights", weights, "--method", "finetuned",
                 "--epochs", "2", "--image-size", "96", "--json", "--quiet",
                 "--out", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    row = json.loads(out)["pets"]["methods"]["FineTunedPetNet"]
    assert row["accuracy"] > 0.3  # 37 breeds: chance is below 0.2 even on this unbalanced set
    assert row["pixel_accuracy"] > 0.6
