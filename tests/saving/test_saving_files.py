"""What skreid.save replaces, concurrent saves, and a save killed with SIGKILL (real processes)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
import zipfile

import numpy as np
import pytest

import skreid
from skreid.datasets import make_people
from skreid.reid import PCAReID
from skreid.search import GalleryIndex
from skreid.utils import UnsafeArchiveError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


@pytest.fixture(scope="module")
def people():
    return make_people(n_identities=6, n_images_per_identity=4, image_shape=(32, 16, 3),
                       random_state=0)


@pytest.fixture(scope="module")
def pca(people):
    return PCAReID(n_components=8).fit(people.images, people.person_ids)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("existing", ["text", "gallery-index", "zip", "broken-skreid"])
def test_save_refuses_to_replace_a_file_that_is_not_a_skreid_model(tmp_path, pca, existing):
    path = tmp_path / "important.txt"
    if existing == "text":
        path.write_text("my notes")
    elif existing == "gallery-index":
        GalleryIndex().add(np.ones((2, 3))).save(path)
    elif existing == "zip":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("report.txt", "mine")
    else:
        skreid.save(pca, path)
        path.write_bytes(path.read_bytes()[:100])  # truncated: cannot be told to be a model
        os.remove(tmp_path / "important.txt.card.md")
    before, listing = path.read_bytes(), _listing(tmp_path)
    what = {"text": "not a skreid file", "gallery-index": "a skreid gallery-index file",
            "zip": "not a skreid file", "broken-skreid": "not a skreid file"}[existing]
    with pytest.raises(FileExistsError, match=rf"important\.txt exists and is {what}; skreid "
                                              r"replaces only a skreid model file.*"
                                              r"overwrite=True.*Nothing was written"):
        skreid.save(pca, path)
    assert path.read_bytes() == before and _listing(tmp_path) == listing
    skreid.save(pca, path, overwrite=True)  # told to
    assert skreid.load(path).n_components == 8


def test_save_replaces_its_own_model_file_and_card(tmp_path, pca, people):
    path = tmp_path / "m.skreid"
    skreid.save(pca, path)
    other = PCAReID(n_components=5).fit(people.images, people.person_ids)
    skreid.save(other, path)  # a skreid model: replaced without being told
    assert skreid.load(path).n_components == 5
    assert _listing(tmp_path) == ["m.skreid", "m.skreid.card.md"]


def test_save_refuses_a_folder_and_a_foreign_card_unless_told(tmp_path, pca):
    with pytest.raises(IsADirectoryError, match="is a folder"):
        skreid.save(pca, tmp_path)
    card = tmp_path / "m.skreid.card.md"
    card.write_text("my own notes")
    with pytest.raises(FileExistsError, match=r"m\.skreid\.card\.md exists and is not a model "
                                              "card written by skreid"):
        skreid.save(pca, tmp_path / "m.skreid")
    assert _listing(tmp_path) == ["m.skreid.card.md"]
    skreid.save(pca, tmp_path / "m.skreid", overwrite=True)
    assert card.read_text().startswith("<!-- skreid model card")


def test_gallery_index_save_follows_the_same_rule(tmp_path):
    path = tmp_path / "gallery.idx"
    path.write_text("not an index")
    index = GalleryIndex().add(np.ones((2, 3)), keys=["a", "b"])
    with pytest.raises(FileExistsError, match=r"gallery\.idx exists and is not a skreid file"):
        index.save(path)
    assert path.read_text() == "not an index"
    index.save(path, overwrite=True)
    index.add(np.zeros((1, 3)), keys=["c"]).save(path)  # its own kind: replaced
    assert len(GalleryIndex.load(path)) == 3


def test_a_member_the_model_does_not_refer_to_is_refused(tmp_path, pca):
    path = tmp_path / "m.skreid"
    skreid.save(pca, path)
    bad = tmp_path / "bad.skreid"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        import json

        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json":
                manifest = json.loads(data)
                manifest["files"].append("payload.bin")
                data = json.dumps(manifest).encode()
            zout.writestr(item.filename, data)
        zout.writestr("files/payload.bin", b"carried along")
    with pytest.raises(UnsafeArchiveError, match=r"member 'files/payload\.bin' is not part of "
                                                 "the model"):
        skreid.load(bad)


_SAVER = """
import sys, time
import numpy as np
import skreid
from skreid.reid import PCAReID
rng = np.random.default_rng(1)
X = rng.integers(0, 256, (60, 96, 48, 3), dtype=np.uint8)
model = PCAReID(n_components=40).fit(X, np.arange(60) % 12)
print("ready", flush=True)
while True:
    skreid.save(model, sys.argv[1])
"""


def test_a_save_killed_with_sigkill_leaves_the_old_file_and_no_debris_after_the_next(
        tmp_path, pca, people):
    path = tmp_path / "m.skreid"
    skreid.save(pca, path)
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(_SAVER), str(path)],
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        deadline = time.monotonic() + 60
        while not any(n.endswith(".tmp") for n in os.listdir(tmp_path)):  # mid-write
            assert time.monotonic() < deadline, "the saver never started writing"
            time.sleep(0.002)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    debris = [n for n in os.listdir(tmp_path) if n.endswith(".tmp")]
    assert debris, "the kill was meant to land mid-write"
    model = skreid.load(path)  # the file is the old one or the saver's complete one: loads
    assert model.n_components in (8, 40)
    skreid.save(pca, path)
    assert _listing(tmp_path) == ["m.skreid", "m.skreid.card.md"]  # debris and lock gone
    np.testing.assert_array_equal(skreid.load(path).transform(people.images),
                                  pca.transform(people.images))
