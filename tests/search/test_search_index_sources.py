"""GalleryIndex over files: signatures, update, compare_files (re-indexing a changed folder),
and the index file format's refusals."""

import json
import os
import textwrap
import zipfile

import numpy as np
import pytest

from skreid.search import GalleryIndex, file_signature
from skreid.utils import UnsafeArchiveError


def _files(folder, n=4):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"img{i}.jpg"
        path.write_bytes(bytes([i]) * (10 + i))
        paths.append(str(path))
    return paths


def _indexed(paths, metric="euclidean"):
    rng = np.random.default_rng(0)
    return GalleryIndex(metric).add(rng.normal(size=(len(paths), 4)), keys=paths,
                                    ids=list(range(len(paths))), cameras=[1] * len(paths),
                                    signatures=[file_signature(p) for p in paths])


def test_signatures_round_trip_and_follow_removals(tmp_path):
    paths = _files(tmp_path / "g")
    index = _indexed(paths)
    index.save(tmp_path / "a.idx")
    loaded = GalleryIndex.load(tmp_path / "a.idx")
    assert loaded.signatures.tolist() == index.signatures.tolist()
    loaded.remove([paths[1]])
    assert loaded.signatures.tolist() == [file_signature(p) for p in paths if p != paths[1]]
    loaded.add(np.zeros((1, 4)), keys=["other"])  # no signature: recorded as unknown
    assert loaded.signatures[-1] == ""


def test_compare_files_finds_added_updated_touched_and_missing(tmp_path):
    paths = _files(tmp_path / "g")
    index = _indexed(paths[:3])
    with open(paths[0], "wb") as fh:  # new content
        fh.write(b"changed!" * 3)
    os.utime(paths[1], ns=(1, 1))  # touched: same content, another time
    os.remove(paths[2])
    elsewhere = str(tmp_path / "other" / "x.jpg")
    index.add(np.zeros((1, 4)), keys=[elsewhere], signatures=["1:1:abc"])  # not under g/
    now = [paths[0], paths[1], paths[3]]
    changes = index.compare_files(now, folders=[tmp_path / "g"])
    assert changes.added == [paths[3]] and changes.updated == [paths[0]]
    assert changes.unchanged == [paths[1]] and changes.touched == [paths[1]]
    assert changes.missing == [paths[2]]  # the key outside the folder is not reported
    assert set(changes.signatures) == {paths[0], paths[1], paths[3]}
    assert changes.signatures[paths[1]].split(":")[1] == "1"


def test_verify_hashes_files_whose_size_and_time_are_unchanged(tmp_path):
    paths = _files(tmp_path / "g", 1)
    index = _indexed(paths)
    info = os.stat(paths[0])
    with open(paths[0], "wb") as fh:  # same size, content changed, then the old time back
        fh.write(b"\xff" * info.st_size)
    os.utime(paths[0], ns=(info.st_atime_ns, info.st_mtime_ns))
    assert index.compare_files(paths).updated == []
    assert index.compare_files(paths, verify=True).updated == paths


def test_an_item_without_signature_is_rehashed_and_a_fifo_is_unreadable(tmp_path):
    paths = _files(tmp_path / "g", 2)
    index = GalleryIndex().add(np.ones((1, 4)), keys=paths[:1])  # indexed before signatures
    os.remove(paths[1])
    os.mkfifo(paths[1])  # a FIFO named like an image: never opened for reading
    changes = index.compare_files(paths)
    assert changes.updated == paths[:1] and changes.unreadable == [paths[1]]


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_update_replaces_items_in_place(tmp_path, metric):
    paths = _files(tmp_path / "g")
    index = _indexed(paths, metric)
    before = index.embeddings.copy()
    new = np.full((1, 4), 3.0)
    index.update([paths[2]], new, ids=[42], cameras=[None], signatures=["1:2:ff"])
    expected = new / np.linalg.norm(new) if metric == "cosine" else new
    np.testing.assert_allclose(index.embeddings[2], expected[0], rtol=1e-6)
    np.testing.assert_array_equal(np.delete(index.embeddings, 2, 0), np.delete(before, 2, 0))
    assert index.ids.tolist() == [0, 1, 42, 3] and index.cameras.tolist() == [1, 1, -1, 1]
    assert index.signatures[2] == "1:2:ff" and index.keys.tolist() == paths
    assert index.search(expected, k=1).keys[0, 0] == paths[2]
    with pytest.raises(KeyError, match="nope"):
        index.update(["nope"], new)
    with pytest.raises(ValueError, match="twice"):
        index.update([paths[0], paths[0]], np.ones((2, 4)))
    np.testing.assert_allclose(index.embeddings[2], expected[0], rtol=1e-6)  # refused: as was


def _edit(src, dst, manifest=None, extra=None):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == "manifest.json" and manifest:
                m = json.loads(data)
                manifest(m)
                data = json.dumps(m).encode()
            zout.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


@pytest.mark.parametrize("case, match", [
    ("unknown-file-member", r"member 'evil\.bin' \(files\) is not part of a skreid "
                            r"gallery-index file"),
    ("n-items", r"not a valid gallery index \(embeddings are float32 of shape \(4, 4\), "
                r"expected float32 of 5 rows\)"),
    ("signatures-without-keys", r"signatures"),
    ("user-meta-list", r"'user' metadata is not a JSON object"),
    ("unknown-metric", r"not a valid gallery index \(.*metric"),
])
def test_crafted_index_files_are_refused_by_name(tmp_path, case, match):
    paths = _files(tmp_path / "g")
    good, bad = tmp_path / "good.idx", tmp_path / "bad.idx"
    _indexed(paths).save(good)
    if case == "unknown-file-member":
        _edit(good, bad, lambda m: m["files"].append("evil.bin"), {"files/evil.bin": b"x"})
    elif case == "n-items":
        _edit(good, bad, lambda m: m["meta"].update(n_items=5))
    elif case == "signatures-without-keys":
        with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
            for item in zin.infolist():
                if item.filename != "arrays/keys.npy":
                    data = zin.read(item.filename)
                    if item.filename == "manifest.json":
                        m = json.loads(data)
                        m["arrays"].remove("keys")
                        data = json.dumps(m).encode()
                    zout.writestr(item.filename, data)
    elif case == "user-meta-list":
        _edit(good, bad, lambda m: m["meta"].update(user=[1]))
    else:
        _edit(good, bad, lambda m: m["meta"].update(metric="manhattan"))
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        GalleryIndex.load(bad)
    assert "bad.idx" in str(info.value)


def test_a_faiss_member_claiming_a_huge_vector_is_refused_unallocated(tmp_path):
    """faiss sizes a vector from the bytes' claim before reading it: 2**28 floats (1 GiB)
    claimed in a few hundred bytes is refused without the allocation."""
    faiss = pytest.importorskip("faiss")
    import struct
    import subprocess
    import sys

    good, bad = tmp_path / "good.idx", tmp_path / "bad.idx"
    GalleryIndex(backend="faiss").add(np.random.default_rng(0).normal(size=(10, 8))).save(good)
    flat = faiss.IndexFlatL2(8)
    flat.add(np.zeros((10, 8), np.float32))
    member = bytearray(faiss.serialize_index(flat).tobytes())
    assert struct.unpack("<Q", member[37:45])[0] == 80  # the codes' length, in floats
    member[37:45] = struct.pack("<Q", 2**28)
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item.filename, bytes(member) if "faiss" in item.filename else data)
    code = textwrap.dedent(f"""
        import resource, sys
        from skreid.search import GalleryIndex
        from skreid.utils import UnsafeArchiveError
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            GalleryIndex.load({str(bad)!r})
        except UnsafeArchiveError as exc:
            print("refused:", exc)
        print("grew_mb", (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024)
    """)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = {**os.environ, "PYTHONPATH": root + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120).stdout
    assert "refused:" in out and "bad.idx: the faiss member is damaged" in out, out
    assert float(out.rsplit("grew_mb", 1)[1]) < 200, out
