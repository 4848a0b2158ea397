"""Bad-input cases of issue 25's classes 1 and 2 (data loss; resource exhaustion and hangs) and
of re-indexing: files that must not be replaced, archives and arrays that would exhaust
memory, FIFOs and devices named like data, Dask addresses and timeouts, writers that collide.

Each case is ``(id, make, error, pattern)``: ``make(tmp, ctx)`` lays out ``tmp`` and returns
the action; ``ctx`` holds a saved model, an image folder and a loopback listener that accepts
and never answers. ``tests/test_bad_input_files.py`` runs them (with the assertions of
tests/test_bad_input.py: the error type, the message naming what is wrong, nothing written or
lost, and for CLI cases exit 2 with one line).
"""

import io
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}


# ------------------------------------------------------------------------- building blocks
def _npy(shape, descr="<f4", data=b""):
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + data


def _rezip(src, dst, manifest=None, drop=(), extra=None, raw_manifest=None, method=None):
    """``src`` re-zipped into ``dst`` with the manifest edited, members dropped or added."""
    import warnings

    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = zin.read(item.filename)
            if item.filename == "manifest.json":
                if raw_manifest is not None:
                    data = raw_manifest
                elif manifest is not None:
                    m = json.loads(data)
                    manifest(m)
                    data = json.dumps(m).encode()
            kind = (method or {}).get(item.filename, zipfile.ZIP_DEFLATED)
            zout.writestr(item.filename, data, compress_type=kind)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a duplicate name is what some cases want
            for name, data in (extra or {}).items():
                zout.writestr(name, data)
    return dst


def _model_file(tmp, ctx, name="m.skreid"):
    path = tmp / name
    shutil.copy(ctx["model"], path)
    return path


def _index_file(tmp, name="g.idx"):
    from skreid.search import GalleryIndex

    path = tmp / name
    GalleryIndex().add(np.arange(12.0).reshape(4, 3), keys=list("abcd"),
                       signatures=["1:1:ab"] * 4).save(path)
    return path


def _load(kind):
    import skreid
    from skreid.search import GalleryIndex

    return skreid.load if kind == "model" else GalleryIndex.load


def _good(tmp, ctx, kind):
    return _model_file(tmp, ctx, "good.bin") if kind == "model" else _index_file(tmp, "good.bin")


def _first_array(path):
    with zipfile.ZipFile(path) as zf:
        return next(n for n in zf.namelist() if n.startswith("arrays/"))


# ------------------------------------------------------------ class 2: loading bad archives
def _total_bomb(kind):
    def make(tmp, ctx):
        good = _good(tmp, ctx, kind)
        bad = _rezip(good, tmp / "bad.bin",
                     manifest=lambda m: m["files"].extend(["z0", "z1", "z2"]))
        with zipfile.ZipFile(bad, "a", zipfile.ZIP_DEFLATED) as zf:
            for name in ("z0", "z1", "z2"):  # 100 MiB each: under the per-member bound
                with zf.open(f"files/{name}", "w", force_zip64=True) as fh:
                    for _ in range(100):
                        fh.write(bytes(2**20))
        good.unlink()
        return lambda: _load(kind)(bad)
    return make


def _npy_case(kind, shape, extra_bytes):
    def make(tmp, ctx):
        good = _good(tmp, ctx, kind)
        member = _first_array(good)
        bad = _rezip(good, tmp / "bad.bin", drop={member},
                     extra={member: _npy(shape, data=b"\x00" * extra_bytes)})
        good.unlink()
        return lambda: _load(kind)(bad)
    return make


def _duplicate_member(kind):
    def make(tmp, ctx):
        good = _good(tmp, ctx, kind)
        member = _first_array(good)
        bad = _rezip(good, tmp / "bad.bin", extra={member: _npy((1,), data=b"\x00" * 4)})
        good.unlink()
        return lambda: _load(kind)(bad)
    return make


def _bzip2_member(tmp, ctx):
    good = _index_file(tmp, "good.bin")
    bad = _rezip(good, tmp / "bad.bin", method={"arrays/keys.npy": zipfile.ZIP_BZIP2})
    good.unlink()
    return lambda: _load("index")(bad)


def _unknown_index_member(tmp, ctx):
    good = _index_file(tmp, "good.bin")
    bad = _rezip(good, tmp / "bad.bin", manifest=lambda m: m["arrays"].append("payload"),
                 extra={"arrays/payload.npy": _npy((2,), data=b"\x00" * 8)})
    good.unlink()
    return lambda: _load("index")(bad)


def _unreferenced_model_member(tmp, ctx):
    good = _model_file(tmp, ctx, "good.bin")
    bad = _rezip(good, tmp / "bad.bin", manifest=lambda m: m["files"].append("payload.bin"),
                 extra={"files/payload.bin": b"carried along"})
    good.unlink()
    return lambda: _load("model")(bad)


def _raw_manifest(kind, text):
    def make(tmp, ctx):
        good = _good(tmp, ctx, kind)
        bad = _rezip(good, tmp / "bad.bin", raw_manifest=text)
        good.unlink()
        return lambda: _load(kind)(bad)
    return make


def _special_file(kind, what):
    def make(tmp, ctx):
        path = tmp / "special.bin"
        if what == "fifo":
            os.mkfifo(path)
        elif what == "device":
            os.symlink("/dev/zero", path)
        else:
            path.mkdir()
        return lambda: _load(kind)(path)
    return make


# ---------------------------------------------------- class 2: FIFOs and devices as images
def _image_fifo(reader):
    def make(tmp, ctx):
        from _bad_input_data import write_image_folder, write_market, write_pets

        from skreid.datasets import (
            load_image_folder,
            load_market1501,
            load_oxford_pets,
            read_image,
        )

        if reader == "read_image":
            os.mkfifo(tmp / "p.jpg")
            return lambda: read_image(tmp / "p.jpg", (8, 4))
        if reader == "read_image_device":
            os.symlink("/dev/zero", tmp / "z.jpg")
            return lambda: read_image(tmp / "z.jpg", (8, 4))
        if reader == "folder":
            root = write_image_folder(tmp / "data")
            os.mkfifo(root / "person0" / "p.jpg")
            return lambda: load_image_folder(root, image_size=16)
        if reader == "market":
            root = write_market(tmp / "data")
            os.mkfifo(root / "query" / "0005_c2s1_000009_01.jpg")
            return lambda: load_market1501(root)
        if reader == "pets":
            root = write_pets(tmp / "data")
            os.mkfifo(root / "images" / "beagle_9.jpg")
            return lambda: load_oxford_pets(root, image_size=16)
        from skreid.parallel import embed_images

        folder = tmp / "imgs"
        shutil.copytree(ctx["images"], folder)
        os.mkfifo(folder / "p.jpg")
        return lambda: embed_images(ctx["model"], sorted(map(str, folder.iterdir())))
    return make


# --------------------------------------------------------------------- class 2: Dask waits
def _embed(client, timeout=2):
    def make(tmp, ctx):
        from skreid.parallel import embed_images

        address = ctx["silent_peer"] if client == "silent" else client
        paths = sorted(str(p) for p in ctx["images"].iterdir())
        return lambda: embed_images(ctx["model"], paths, client=address, timeout=timeout)
    return make


def _connect(client):
    def make(tmp, ctx):
        from skreid.parallel import connect

        address = ctx["silent_peer"] if client == "silent" else client
        return lambda: connect(address, timeout=1.5)
    return make


# ------------------------------------------------------ class 1: files that are not replaced
def _save_over(what):
    def make(tmp, ctx):
        import skreid
        from skreid.search import GalleryIndex

        model = skreid.load(ctx["model"])
        path = tmp / "important.txt"
        if what == "text":
            path.write_text("my notes")
        elif what == "index":
            _index_file(tmp, "important.txt")
        elif what == "zip":
            with zipfile.ZipFile(path, "w") as zf:
                zf.writestr("report.txt", "mine")
        elif what == "fifo":
            os.mkfifo(path)
        elif what == "dangling":
            os.symlink(tmp / "nowhere", path)
        elif what == "folder":
            path.mkdir()
        elif what == "card":
            (tmp / "important.txt.card.md").write_text("my own notes")
        elif what == "card-folder":
            (tmp / "important.txt.card.md").mkdir()
        elif what == "index-over-text":
            path.write_text("my notes")
            return lambda: GalleryIndex().add(np.ones((1, 2))).save(path)
        elif what == "index-over-model":
            shutil.copy(ctx["model"], path)
            return lambda: GalleryIndex().add(np.ones((1, 2))).save(path)
        elif what == "index-over-folder":
            path.mkdir()
            return lambda: GalleryIndex().add(np.ones((1, 2))).save(path)
        elif what == "bad-overwrite":
            return lambda: skreid.save(model, path, overwrite="yes")
        elif what == "bad-lock-timeout":
            return lambda: skreid.save(model, path, lock_timeout=-1)
        return lambda: skreid.save(model, path)
    return make


def _hold_lock(path):
    """A process holding the writer lock of ``path`` (killed by the case's cleanup)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent("""
            import sys, time
            from skreid.utils import writer_lock
            with writer_lock(sys.argv[1]):
                print("held", flush=True)
                time.sleep(120)
        """), str(path)], env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _locked(what):
    def make(tmp, ctx):
        import skreid
        from skreid.search import GalleryIndex

        path = _model_file(tmp, ctx) if what == "save" else _index_file(tmp)
        ctx["cleanup"].append(_hold_lock(path))
        if what == "save":
            model = skreid.load(ctx["model"])
            return lambda: skreid.save(model, path, lock_timeout=0.3)
        return lambda: GalleryIndex().add(np.ones((1, 2))).save(path, lock_timeout=0.3)
    return make


# ---------------------------------------------------------------- re-indexing (GalleryIndex)
def _index_call(what):
    def make(tmp, ctx):
        from skreid.search import GalleryIndex

        index = GalleryIndex().add(np.ones((2, 3)), keys=["a", "b"])
        calls = {
            "update-unknown-key": lambda: index.update(["zz"], np.ones((1, 3))),
            "update-key-twice": lambda: index.update(["a", "a"], np.ones((2, 3))),
            "update-count": lambda: index.update(["a"], np.ones((2, 3))),
            "update-without-keys": lambda: GalleryIndex().add(np.ones((1, 3))).update(
                ["a"], np.ones((1, 3))),
            "signatures-without-keys": lambda: GalleryIndex().add(np.ones((1, 3)),
                                                                  signatures=["1:1:ab"]),
            "signatures-count": lambda: index.add(np.ones((1, 3)), keys=["c"],
                                                  signatures=["x", "y"]),
            "update-width": lambda: index.update(["a"], np.ones((1, 5))),
        }
        return calls[what]
    return make


def _lock_timeout(value):
    def make(tmp, ctx):
        from skreid.utils import writer_lock

        def action():
            with writer_lock(tmp / "x", timeout=value):
                pass
        return action
    return make


# (id, make(tmp, ctx) -> action, error type name, pattern)
FILE_CASES = [
    # class 1: what save replaces
    ("save-over-text-file", _save_over("text"), "FileExistsError",
     r"important\.txt exists and is not a skreid file; skreid replaces only a skreid model"),
    ("save-over-gallery-index", _save_over("index"), "FileExistsError",
     r"important\.txt exists and is a skreid gallery-index file"),
    ("save-over-foreign-zip", _save_over("zip"), "FileExistsError", r"not a skreid file"),
    ("save-over-fifo", _save_over("fifo"), "FileExistsError", r"important\.txt exists"),
    ("save-over-dangling-symlink", _save_over("dangling"), "FileExistsError",
     r"important\.txt exists"),
    ("save-over-folder", _save_over("folder"), "IsADirectoryError",
     r"important\.txt is a folder"),
    ("save-foreign-card", _save_over("card"), "FileExistsError",
     r"important\.txt\.card\.md exists and is not a model card written by skreid"),
    ("save-card-is-a-folder", _save_over("card-folder"), "IsADirectoryError",
     r"card\.md is a folder"),
    ("save-overwrite-not-bool", _save_over("bad-overwrite"), "TypeError",
     r"overwrite must be True or False, got 'yes'"),
    ("save-negative-lock-timeout", _save_over("bad-lock-timeout"), "ValueError",
     r"lock_timeout must be a number of seconds >= 0, got -1"),
    ("index-save-over-text-file", _save_over("index-over-text"), "FileExistsError",
     r"important\.txt exists and is not a skreid file; skreid replaces only a skreid "
     r"gallery-index"),
    ("index-save-over-model", _save_over("index-over-model"), "FileExistsError",
     r"is a skreid model file"),
    ("index-save-over-folder", _save_over("index-over-folder"), "IsADirectoryError",
     r"is a folder"),
    ("save-while-another-process-writes", _locked("save"), "FileLockedError",
     r"m\.skreid is being written by another process.*waited 0\.3 s"),
    ("index-save-while-another-process-writes", _locked("index"), "FileLockedError",
     r"g\.idx is being written by another process"),
    ("lock-timeout-nan", _lock_timeout(float("nan")), "ValueError", r"lock_timeout"),
    ("lock-timeout-string", _lock_timeout("5"), "ValueError", r"lock_timeout.*'5'"),
    # class 2: archives that would exhaust memory, or carry what the format does not list
    ("model-total-decompression-bomb", _total_bomb("model"), "UnsafeArchiveError",
     r"bad\.bin: its \d+ members inflate to 3\d\d,\d{3},\d{3} bytes in all.*bomb"),
    ("index-total-decompression-bomb", _total_bomb("index"), "UnsafeArchiveError",
     r"bytes in all.*decompression bomb"),
    ("model-npy-header-21-tib", _npy_case("model", (2**40, 6), 16), "UnsafeArchiveError",
     r"arrays/.*claims a float32 array of shape \(1099511627776, 6\)"),
    ("index-npy-header-21-tib", _npy_case("index", (2**40, 6), 16), "UnsafeArchiveError",
     r"arrays/.*claims a float32 array of shape \(1099511627776, 6\)"),
    ("index-npy-header-short", _npy_case("index", (10, 3), 12), "UnsafeArchiveError",
     r"\(120 bytes\) but 12 bytes follow"),
    ("model-npy-header-long", _npy_case("model", (1,), 400), "UnsafeArchiveError",
     r"\(4 bytes\) but 400 bytes follow"),
    ("model-duplicate-member", _duplicate_member("model"), "UnsafeArchiveError",
     r"appears twice"),
    ("index-duplicate-member", _duplicate_member("index"), "UnsafeArchiveError",
     r"appears twice"),
    ("index-bzip2-member", _bzip2_member, "UnsafeArchiveError",
     r"arrays/keys\.npy' uses compression method 12"),
    ("index-unknown-array-member", _unknown_index_member, "UnsafeArchiveError",
     r"member 'payload' \(arrays\) is not part of a skreid gallery-index file"),
    ("model-unreferenced-member", _unreferenced_model_member, "UnsafeArchiveError",
     r"member 'files/payload\.bin' is not part of the model"),
    ("index-manifest-nested-deep", _raw_manifest("index", b"[" * 50_000 + b"]" * 50_000),
     "UnsafeArchiveError", r"manifest\.json is nested too deeply"),
    ("model-manifest-nested-deep", _raw_manifest("model", b"{\"a\":" * 50_000 + b"1"
                                                 + b"}" * 50_000),
     "UnsafeArchiveError", r"manifest\.json is nested too deeply"),
    ("index-manifest-huge-integer", _raw_manifest("index", b"[" + b"7" * 6000 + b"]"),
     "UnsafeArchiveError", r"manifest\.json is not valid JSON"),
    ("load-model-from-fifo", _special_file("model", "fifo"), "UnsafeArchiveError",
     r"special\.bin: is a FIFO \(named pipe\), not a regular skreid file"),
    ("load-index-from-fifo", _special_file("index", "fifo"), "UnsafeArchiveError",
     r"special\.bin: is a FIFO"),
    ("load-model-from-dev-zero", _special_file("model", "device"), "UnsafeArchiveError",
     r"special\.bin: is a device"),
    ("load-index-from-folder", _special_file("index", "folder"), "UnsafeArchiveError",
     r"special\.bin: is a folder"),
    # class 2: a FIFO or a device named like an image
    ("read-image-fifo", _image_fifo("read_image"), "ValueError",
     r"p\.jpg.*is a FIFO \(named pipe\), not a regular image file"),
    ("read-image-dev-zero", _image_fifo("read_image_device"), "ValueError",
     r"z\.jpg.*is a device"),
    ("image-folder-fifo", _image_fifo("folder"), "ValueError", r"person0/p\.jpg.*FIFO"),
    ("market-fifo", _image_fifo("market"), "ValueError", r"0005_c2s1_000009_01\.jpg.*FIFO"),
    ("pets-fifo", _image_fifo("pets"), "ValueError", r"beagle_9\.jpg.*FIFO"),
    ("embed-images-fifo", _image_fifo("embed"), "ValueError", r"p\.jpg.*FIFO"),
    # class 2: Dask addresses and timeouts
    ("embed-silent-scheduler", _embed("silent"), "ConnectionError",
     r"No Dask scheduler answered at 'tcp://127\.0\.0\.1:\d+' within 2 s"),
    ("connect-silent-scheduler", _connect("silent"), "ConnectionError",
     r"within 1\.5 s"),
    ("embed-address-without-port", _embed("tcp://127.0.0.1"), "ValueError",
     r"address 'tcp://127\.0\.0\.1' is not a scheduler address.*port"),
    ("embed-address-word", _embed("nonsense"), "ValueError", r"address 'nonsense'"),
    ("embed-address-port-range", _embed("tcp://h:70000"), "ValueError", r"port in 1\.\.65535"),
    ("embed-address-empty", _embed(""), "ValueError", r"address '' is not a scheduler"),
    ("connect-address-scheme", _connect("foo://h:1"), "ValueError",
     r"address 'foo://h:1' is not a scheduler address .*unknown address scheme"),
    ("embed-timeout-negative", _embed("tcp://127.0.0.1:1", -1), "ValueError",
     r"timeout must be a positive number of seconds, got -1"),
    ("embed-timeout-zero", _embed("tcp://127.0.0.1:1", 0), "ValueError", r"got 0"),
    ("embed-timeout-string", _embed("tcp://127.0.0.1:1", "2"), "ValueError", r"got '2'"),
    ("embed-timeout-nan", _embed("tcp://127.0.0.1:1", float("nan")), "ValueError", r"got nan"),
    ("embed-timeout-inf", _embed("tcp://127.0.0.1:1", float("inf")), "ValueError", r"got inf"),
    # re-indexing: the GalleryIndex API
    ("update-unknown-key", _index_call("update-unknown-key"), "KeyError", r"'zz'.*nothing"),
    ("update-key-twice", _index_call("update-key-twice"), "ValueError", r"twice"),
    ("update-embedding-count", _index_call("update-count"), "ValueError",
     r"2 embeddings for 1 keys"),
    ("update-index-without-keys", _index_call("update-without-keys"), "ValueError",
     r"no keys, so items cannot be updated"),
    ("signatures-without-keys", _index_call("signatures-without-keys"), "ValueError",
     r"signatures need keys"),
    ("signatures-count", _index_call("signatures-count"), "ValueError",
     r"signatures has 2 entries but there are 1"),
    ("update-other-width", _index_call("update-width"), "IncompatibleIndexError",
     r"5 features but the index holds 3-d"),
]


# ------------------------------------------------------------------------------ CLI cases
def _cli_index(*extra, out="g.idx", images=None):
    def make(tmp, ctx):
        return ["index", str(ctx["model"]), str(images(tmp, ctx) if images else ctx["images"]),
                "--out", str(tmp / out), "--quiet", *extra]
    return make


def _with(prepare, *extra, out="g.idx"):
    def make(tmp, ctx):
        prepare(tmp, ctx)
        return _cli_index(*extra, out=out)(tmp, ctx)
    return make


def _fifo_folder(tmp, ctx):
    folder = tmp / "imgs"
    shutil.copytree(ctx["images"], folder)
    os.mkfifo(folder / "p.jpg")
    return folder


def _device_folder(tmp, ctx):
    folder = tmp / "imgs"
    shutil.copytree(ctx["images"], folder)
    os.symlink("/dev/zero", folder / "z.jpg")
    return folder


def _fifo_named(tmp, ctx):
    os.mkfifo(tmp / "p.jpg")
    return tmp / "p.jpg"


def _existing_out(what):
    def prepare(tmp, ctx):
        out = tmp / "g.idx"
        if what == "text":
            out.write_text("my notes")
        elif what == "model":
            shutil.copy(ctx["model"], out)
        elif what == "folder":
            out.mkdir()
        elif what == "fifo":
            os.mkfifo(out)
        elif what in ("bomb", "huge-npy"):
            make = _total_bomb("index") if what == "bomb" else \
                _npy_case("index", (2**40, 6), 16)
            make(tmp, ctx)
            os.rename(tmp / "bad.bin", out)
    return prepare


def _held_out(tmp, ctx):
    from skreid.cli._indexing import build_index  # noqa: F401 - the CLI is importable

    out = _index_file(tmp)
    os.remove(out)
    ctx["cleanup"].append(_hold_lock(out))


def _search_of(what):
    def make(tmp, ctx):
        _existing_out(what)(tmp, ctx)
        return ["search", str(tmp / "g.idx"), str(ctx["images"]), "--quiet", "--out",
                str(tmp / "results")]
    return make


def _silent(tmp, ctx):
    return ["index", str(ctx["model"]), str(ctx["images"]), "--out", str(tmp / "g.idx"),
            "--quiet", "--scheduler", ctx["silent_peer"], "--scheduler-timeout", "1.5"]


# (id, make(tmp, ctx) -> argv, pattern of the one error line)
FILE_CLI_CASES = [
    ("index-out-is-a-text-file", _with(_existing_out("text")),
     r"INDEX .*g\.idx: .*not a skreid file"),
    ("index-out-is-a-model", _with(_existing_out("model")),
     r"INDEX .*g\.idx: .*holds a skreid 'model', expected 'gallery-index'"),
    ("index-out-is-a-folder", _with(_existing_out("folder")), r"g\.idx.*is a folder"),
    ("index-out-is-a-fifo", _with(_existing_out("fifo")), r"g\.idx: is a FIFO"),
    ("index-out-is-a-total-bomb", _with(_existing_out("bomb")), r"decompression bomb"),
    ("index-out-npy-header-21-tib", _with(_existing_out("huge-npy")),
     r"claims a float32 array of shape \(1099511627776, 6\)"),
    ("index-out-folder-missing", _cli_index(out="no/such/g.idx"), r"--out .*does not exist"),
    ("index-fifo-in-folder", _cli_index(images=_fifo_folder),
     r"1 image\(s\) cannot be read: .*imgs/p\.jpg"),
    ("index-dev-zero-in-folder", _cli_index(images=_device_folder),
     r"1 image\(s\) cannot be read: .*imgs/z\.jpg"),
    ("index-fifo-named", _cli_index(images=_fifo_named), r"cannot be read: .*p\.jpg"),
    ("index-scheduler-no-port", _cli_index("--scheduler", "tcp://10.0.0.5"),
     r"--scheduler: address 'tcp://10\.0\.0\.5' is not a scheduler address.*port"),
    ("index-scheduler-word", _cli_index("--scheduler", "localhost"),
     r"--scheduler: address 'localhost'"),
    ("index-scheduler-bad-port", _cli_index("--scheduler", "tcp://h:0"), r"1\.\.65535"),
    ("index-scheduler-timeout-negative",
     _cli_index("--scheduler", "tcp://h:1", "--scheduler-timeout", "-1"),
     r"--scheduler-timeout must be a positive number of seconds, got -1"),
    ("index-scheduler-silent", _silent,
     r"--scheduler tcp://127\.0\.0\.1:\d+: No Dask scheduler answered .* within 1\.5 s"),
    ("index-scheduler-with-skip-unreadable",
     _cli_index("--scheduler", "tcp://h:1", "--skip-unreadable"),
     r"--skip-unreadable cannot be combined with --scheduler"),
    ("index-lock-timeout-negative", _cli_index("--lock-timeout", "-1"),
     r"--lock-timeout must be a number of seconds >= 0"),
    ("index-lock-timeout-nan", _cli_index("--lock-timeout", "nan"), r"--lock-timeout"),
    ("index-out-held-by-another-writer", _with(_held_out, "--lock-timeout", "0.3"),
     r"--out .*g\.idx is being written by another process.*waited 0\.3 s"),
    ("search-index-is-a-fifo", _search_of("fifo"), r"g\.idx: is a FIFO"),
    ("search-index-is-a-total-bomb", _search_of("bomb"), r"decompression bomb"),
    ("search-index-npy-header-21-tib", _search_of("huge-npy"),
     r"claims a float32 array of shape"),
]

