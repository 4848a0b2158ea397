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


def _npy_with_header(shape, descr="<f4", data=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def test_the_total_inflated_size_is_bounded_not_only_each_member(tmp_path):
    """Three 100 MiB members (each under the per-member bound) from a ~300 kB file."""
    good = tmp_path / "good.zip"
    _write(good)
    bomb = tmp_path / "bomb.zip"
    names = ["z0.bin", "z1.bin", "z2.bin"]
    _tamper(good, bomb, manifest_update=lambda m: m["files"].extend(names))
    with zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf:
        for name in names:
            with zf.open(f"files/{name}", "w", force_zip64=True) as fh:
                for _ in range(100):
                    fh.write(bytes(2**20))
    assert bomb.stat().st_size < 2**20
    import tracemalloc

    tracemalloc.start()
    try:
        with pytest.raises(UnsafeArchiveError, match=r"3\d\d,\d{3},\d{3} bytes in all.*"
                                                     r"decompression bomb"):
            read_archive(bomb, kind="thing", max_format_version=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20  # refused before inflating anything


@pytest.mark.parametrize("shape, data, match", [
    ((2**40, 6), b"\x00" * 16, r"claims a float32 array of shape \(1099511627776, 6\)"),
    ((4,), b"\x00" * 20, r"shape \(4,\) \(16 bytes\) but 20 bytes follow"),
    ((4,), b"\x00" * 4, r"but 4 bytes follow"),
])
def test_an_npy_header_that_does_not_match_its_data_is_refused_unallocated(tmp_path, shape,
                                                                           data, match):
    good = tmp_path / "good.zip"
    _write(good)
    bad = tmp_path / "bad.zip"
    _tamper(good, bad, drop={"arrays/x.npy"},
            extra={"arrays/x.npy": _npy_with_header(shape, data=data)})
    with pytest.raises(UnsafeArchiveError, match=match) as info:  # never a MemoryError
        read_archive(bad, kind="thing", max_format_version=1)
    assert "arrays/x.npy" in str(info.value)


def _duplicate(good, bad):
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        import warnings

        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # zipfile warns of the duplicate name
            zout.writestr("arrays/x.npy", _npy_with_header((1,), data=b"\x00" * 4))


def _bzip2(good, bad):
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for item in zin.infolist():
            zout.writestr(item.filename, zin.read(item.filename),
                          compress_type=zipfile.ZIP_BZIP2 if "blob" in item.filename
                          else zipfile.ZIP_DEFLATED)


@pytest.mark.parametrize("case, match", [
    ("duplicate", r"member 'arrays/x\.npy' appears twice"),
    ("bzip2", r"member 'files/blob\.bin' uses compression method 12"),
    ("arrays-not-a-list", r"'arrays' must be a list of names"),
    ("escaping-listed-name", r"outside the archive"),
    ("meta-not-an-object", r"'meta' must be a JSON object"),
    ("nested-manifest", r"nested too deeply"),
    ("huge-integer", r"not valid JSON"),
    ("not-utf8", r"not valid JSON"),
])
def test_malformed_archives_are_refused_by_name(tmp_path, case, match):
    good = tmp_path / "good.zip"
    _write(good)
    bad = tmp_path / "bad.zip"
    if case == "duplicate":
        _duplicate(good, bad)
    elif case == "bzip2":
        _bzip2(good, bad)
    elif case == "arrays-not-a-list":
        _tamper(good, bad, manifest_update=lambda m: m.update(arrays="x"))
    elif case == "escaping-listed-name":
        _tamper(good, bad, manifest_update=lambda m: m["files"].append("../../etc/passwd"))
    elif case == "meta-not-an-object":
        _tamper(good, bad, manifest_update=lambda m: m.update(meta=[1, 2]))
    else:
        text = {"nested-manifest": b"[" * 100_000 + b"]" * 100_000,
                "huge-integer": b'{"format": ' + b"9" * 10_000 + b"}",
                "not-utf8": b'{"format": "\xff\xfe"}'}[case]
        _tamper(good, bad, drop={"manifest.json"}, extra={"manifest.json": text})
    with pytest.raises(UnsafeArchiveError, match=match) as info:
        read_archive(bad, kind="thing", max_format_version=1)
    assert "bad.zip" in str(info.value)


def test_members_the_callers_format_does_not_know_are_refused(tmp_path):
    path = tmp_path / "a.zip"
    _write(path)
    with pytest.raises(UnsafeArchiveError, match=r"member 'names' \(arrays\) is not part of a "
                                                 r"skreid thing file"):
        read_archive(path, kind="thing", max_format_version=1, arrays={"x"},
                     files={"blob.bin"})
    arc = read_archive(path, kind="thing", max_format_version=1, arrays={"x", "names"},
                       files={"blob.bin"})
    assert set(arc.arrays) == {"x", "names"}


def test_a_fifo_or_a_folder_is_refused_without_blocking(tmp_path):
    import os
    import time

    fifo = tmp_path / "p.skreid"
    os.mkfifo(fifo)
    start = time.monotonic()
    with pytest.raises(UnsafeArchiveError, match=r"p\.skreid: is a FIFO"):
        read_archive(fifo, kind="thing", max_format_version=1)
    with pytest.raises(UnsafeArchiveError, match="is a folder"):
        read_archive(tmp_path, kind="thing", max_format_version=1)
    assert time.monotonic() - start < 2


def test_write_replaces_only_its_own_kind_of_file(tmp_path):
    notes = tmp_path / "important.txt"
    notes.write_text("my notes")
    with pytest.raises(FileExistsError, match=r"important\.txt exists and is not a skreid file"):
        _write(notes)
    assert notes.read_text() == "my notes"
    other = tmp_path / "other.zip"
    write_archive(other, kind="other-kind", format_version=1)
    before = other.read_bytes()
    with pytest.raises(FileExistsError, match=r"is a skreid other-kind file; skreid replaces only "
                                              r"a skreid thing file.*overwrite=True"):
        _write(other)
    assert other.read_bytes() == before
    with pytest.raises(IsADirectoryError, match="is a folder"):
        _write(tmp_path)
    _write(notes, overwrite=True)  # told to
    _write(notes)  # now a skreid thing: replaced without being told
    assert read_archive(notes, kind="thing", max_format_version=1).meta["a"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["important.txt", "other.zip"]
