"""``skreid reid --data`` on the published datasets' layouts (detected by
skreid.datasets.detect_reid_dataset), written tiny by the tests."""

import json

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from _reid_layouts import write_ilids_vid, write_prid2011  # noqa: E402
from PIL import Image  # noqa: E402

from skreid.cli import main  # noqa: E402
from skreid.cli._data import FRAMES_PER_TRACKLET, load_reid_data  # noqa: E402


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_reid_runs_on_a_viper_layout(tmp_path, capsys):
    from skreid.datasets import make_people

    people = make_people(n_identities=20, n_images_per_identity=2, n_cameras=2,
                         image_shape=(64, 32, 3), random_state=0)
    seen = {}
    for image, pid in zip(people.images, people.person_ids, strict=True):
        cam, angle = (("cam_a", 45), ("cam_b", 90))[seen.get(pid, 0)]
        seen[pid] = seen.get(pid, 0) + 1
        (tmp_path / "VIPeR" / cam).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "VIPeR" / cam / f"{pid:03d}_{angle}.bmp")
    out = tmp_path / "out"
    code, _, err = _run(capsys, "reid", "--data", str(tmp_path), "--method", "pca",
                        "--out", str(out))
    assert code == 0, err
    data = json.loads((out / "results.json").read_text())["reid"]["data"]
    # VIPeR's split 0: 10 of the 20 people train (both cameras), the other 10 are queried
    assert (data["train_images"], data["query_images"], data["gallery_images"]) == (20, 10, 10)


def test_reid_video_layout_keeps_a_few_frames_per_tracklet(tmp_path):
    write_ilids_vid(tmp_path, frames=FRAMES_PER_TRACKLET + 3)
    data = load_reid_data(str(tmp_path), seed=0)
    _, counts = np.unique(data.train.tracklet_ids, return_counts=True)
    assert set(counts) == {FRAMES_PER_TRACKLET}


def test_reid_bad_split_file_exits_2_naming_it(tmp_path, capsys):
    write_prid2011(tmp_path, splits=None)
    (tmp_path / "splits_prid2011.json").write_text("[{")
    code, out, err = _run(capsys, "reid", "--data", str(tmp_path), "--out", str(tmp_path / "o"))
    assert code == 2 and out == ""
    line = err.strip().splitlines()[-1]
    assert line.startswith("skreid: error: --data") and "PRID2011 layout" in line
    assert "splits_prid2011.json' is malformed: not valid JSON" in line
    assert "Traceback" not in err and not (tmp_path / "o").exists()
