"""The safe archive: round trips, and every unsafe or damaged file refused by name."""

import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from skreid.utils import UnsafeArchiveError, atomic_write, read_archive, write_archive


def _write(path, **kw):
    write_archive(
        path,
        kind="thing",
        format_version=1,
        meta={"a": 1, "b": [1.5, "x"]},
        arrays={"x": np.arange(6.0).reshape(2, 3), "names": np.array(["p", "qq"])},
        files={"blob.bin": b"\x00\x01"},
        **kw,
    )


def test_round_trip(tmp_path):
    path = tmp_path / "a.zip"
    _write(path)
    arc = read_archive(path, kind="thing", max_format_version=1)
    assert arc.meta == {"a": 1, "b": [1.5, "x"]}
    np.testing.assert_array_equal(arc.arrays["x"], np.arange(6.0).reshape(2, 3))
    assert arc.arrays["names"].tolist() == ["p", "qq"]
    assert arc.files == {"blob.bin": b"\x00\x01"}


def test_object_arrays_are_refused_on_write(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        write_archive(tmp_path / "a.zip", kind="t", format_version=1, arrays={"o": np.array([{}])})
    assert list(tmp_path.iterdir()) == []


def _tamper(src, dst, extra=None, manifest_update=None, drop=()):
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "manifest.json" and manifest_update:
                m = json.loads(data)
                manifest_update(m)
                data = json.dumps(m).encode()
            zout.writestr(item.filename, data)
        for name, data in (extra or {}).items():
            zout.writestr(name, data)


def _pickled_npy():
    buf = io.BytesIO()
    np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
    return buf.getvalue()


@pytest.mark.parametrize(
    "case, match",
    [
        ("not_zip", "not a skreid file"),
        ("truncated", "not a skreid file|truncated|damaged"),
        ("no_manifest", "without manifest.json"),
        ("other_kind", "expected 'thing'"),
        ("newer", "format version 99.*Upgrade skreid"),
        ("unlisted", "not listed in the manifest"),
        ("escape", "outside the archive"),
        ("pickle_file", "pickle payload"),
        ("object_npy", "without pickle"),
    ],
)
def test_unsafe_or_damaged_files_are_refused(tmp_path, case, match):
    good = tmp_path / "good.zip"
    _write(good)
    bad = tmp_path / "bad.zip"
    if case == "not_zip":
        bad.write_bytes(pickle.dumps({"x": 1}))
    elif case == "truncated":
        bad.write_bytes(good.read_bytes()[:-40])
    elif case == "no_manifest":
        _tamper(good, bad, drop={"manifest.json"})
    elif case == "other_kind":
        _tamper(good, bad, manifest_update=lambda m: m.update(kind="other"))
    elif case == "newer":
        _tamper(good, bad, manifest_update=lambda m: m.update(format_version=99))
    elif case == "unlisted":
        _tamper(good, bad, extra={"files/evil.pkl": b"x"})
    elif case == "escape":
        _tamper(good, bad, extra={"../evil.txt": b"x"})
    elif case == "pickle_file":
        _tamper(
            good, bad, drop={"files/blob.bin"}, extra={"files/blob.bin": pickle.dumps([1], 4)}
        )
    elif case == "object_npy":
        _tamper(good, bad, drop={"arrays/x.npy"}, extra={"arrays/x.npy": _pickled_npy()})
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        read_archive(bad, kind="thing", max_format_version=1)
    assert "bad.zip" in str(info.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.zip"):
        read_archive(tmp_path / "nope.zip", kind="thing", max_format_version=1)


def test_interrupted_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.zip"
    _write(path)
    before = path.read_bytes()
    with pytest.raises(KeyboardInterrupt), atomic_write(path) as fh:
        fh.write(b"partial")
        raise KeyboardInterrupt
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_atomic_write_honours_the_umask(tmp_path):
    path = tmp_path / "f.bin"
    with atomic_write(path) as fh:
        fh.write(b"x")
    import os

    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_a_decompression_bomb_is_refused_before_inflating(tmp_path):
    good = tmp_path / "good.zip"
    _write(good)
    bomb = tmp_path / "bomb.zip"
    # 300 MB of zeros deflates to ~300 kB: a member claiming far more than it could hold
    _tamper(good, bomb, manifest_update=lambda m: m["files"].append("zeros.bin"))
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf, \
            zf.open("files/zeros.bin", "w", force_zip64=True) as fh:
        chunk = bytes(2**20)
        for _ in range(300):
            fh.write(chunk)
    with pytest.raises(UnsafeArchiveError, match="decompression bomb") as info:
        read_archive(bomb, kind="thing", max_format_version=1)
    assert "zeros.bin" in str(info.value)
