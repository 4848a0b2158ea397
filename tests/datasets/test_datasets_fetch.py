"""fetch_oxford_pets against an HTTP server on 127.0.0.1 serving archives built by the test."""

import hashlib
import io
import os
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

import skreid.datasets._fetch as fetch_module
from skreid.datasets import RemoteFile, fetch_oxford_pets, get_data_home


def _tar_gz(members):
    """Build a tar.gz in memory from {name: bytes} (or {name: TarInfo-tweak callable})."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if callable(content):
                content(info)
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def _png(array):
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def _jpg(size):
    out = io.BytesIO()
    Image.new("RGB", size, (10, 200, 30)).save(out, format="JPEG")
    return out.getvalue()


IMAGES = _tar_gz({"images/Abyssinian_1.jpg": _jpg((12, 10)), "images/pug_3.jpg": _jpg((9, 9))})
ANNOTATIONS = _tar_gz(
    {
        "annotations/list.txt": b"#Image CLASS-ID SPECIES BREED ID\n"
        b"Abyssinian_1 1 1 1\npug_3 26 2 14\n",
        "annotations/trainval.txt": b"Abyssinian_1 1 1 1\n",
        "annotations/test.txt": b"pug_3 26 2 14\n",
        "annotations/trimaps/Abyssinian_1.png": _png(np.full((10, 12), 1, np.uint8)),
    }
)


class _Handler(BaseHTTPRequestHandler):
    routes = {}  # path -> (body, announced Content-Length)

    def do_GET(self):  # noqa: N802 - http.server's naming
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, length = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep test output quiet
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"

    def serve(files, monkeypatch):
        """Serve {name: body or (body, Content-Length)} and point the fetcher at it."""
        _Handler.routes = {}
        remotes = []
        for name, body in files.items():
            body, length = body if isinstance(body, tuple) else (body, len(body))
            _Handler.routes[f"/{name}"] = (body, length)
            remotes.append(
                RemoteFile(name, f"{base}/{name}", hashlib.sha256(body).hexdigest(), None)
            )
        monkeypatch.setattr(fetch_module, "OXFORD_PETS_FILES", tuple(remotes))
        return remotes

    yield serve
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _leftovers(home):
    return sorted(str(p.relative_to(home)) for p in home.rglob("*"))


def test_fetch_downloads_verifies_and_caches(server, monkeypatch, tmp_path, capsys):
    server({"images.tar.gz": IMAGES, "annotations.tar.gz": ANNOTATIONS}, monkeypatch)
    home = tmp_path / "home"
    data = fetch_oxford_pets(data_home=home, image_size=(8, 8), verbose=True)
    assert "Downloading http://127.0.0.1" in capsys.readouterr().out
    assert data.filenames.tolist() == ["Abyssinian_1.jpg", "pug_3.jpg"]
    assert data.breeds.tolist() == [0, 25] and data.has_mask.tolist() == [True, False]
    # only the extracted dataset stays: no archives, no .part or temporary folders
    assert {p.split(os.sep)[0] for p in _leftovers(home)} == {"oxford_pets"}
    assert not list(home.rglob("*.part")) and not list(home.rglob("*.tar.gz"))
    # cached: works without the network
    monkeypatch.setattr(fetch_module, "OXFORD_PETS_FILES", ())
    again = fetch_oxford_pets(data_home=home, download_if_missing=False, image_size=(8, 8))
    np.testing.assert_array_equal(again.images, data.images)


def test_wrong_checksum_leaves_nothing(server, monkeypatch, tmp_path):
    remotes = server({"images.tar.gz": IMAGES, "annotations.tar.gz": ANNOTATIONS}, monkeypatch)
    bad = remotes[1]._replace(sha256="0" * 64)
    monkeypatch.setattr(fetch_module, "OXFORD_PETS_FILES", (remotes[0], bad))
    with pytest.raises(OSError, match=r"SHA-256 of .*annotations.tar.gz.*expected 0{64}"):
        fetch_oxford_pets(data_home=tmp_path)
    assert _leftovers(tmp_path) == []


def test_truncated_download_leaves_nothing(server, monkeypatch, tmp_path):
    # the server announces more bytes than it sends, then closes the connection
    server(
        {"images.tar.gz": (IMAGES[:-100], len(IMAGES)), "annotations.tar.gz": ANNOTATIONS},
        monkeypatch,
    )
    with pytest.raises(OSError, match="truncated"):
        fetch_oxford_pets(data_home=tmp_path, timeout=10)
    assert _leftovers(tmp_path) == []


def test_short_download_against_known_size(server, monkeypatch, tmp_path):
    remotes = server({"images.tar.gz": IMAGES, "annotations.tar.gz": ANNOTATIONS}, monkeypatch)
    monkeypatch.setattr(
        fetch_module, "OXFORD_PETS_FILES", (remotes[0]._replace(size=len(IMAGES) + 10), remotes[1])
    )
    with pytest.raises(OSError, match=f"got {len(IMAGES)} bytes"):
        fetch_oxford_pets(data_home=tmp_path)
    assert _leftovers(tmp_path) == []


def _symlink(info):
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"


@pytest.mark.parametrize(
    "members, match",
    [
        ({"images/ok.jpg": b"x", "../evil.txt": b"owned"}, "outside the target folder"),
        ({"images/../../evil.txt": b"owned"}, "outside the target folder"),
        ({"/tmp/evil.txt": b"owned"}, "outside the target folder"),
        ({"images/link.jpg": _symlink}, "link or special file"),
    ],
)
def test_unsafe_archive_is_refused(server, monkeypatch, tmp_path, members, match):
    home = tmp_path / "home"
    server({"images.tar.gz": _tar_gz(members), "annotations.tar.gz": ANNOTATIONS}, monkeypatch)
    with pytest.raises(ValueError, match=match):
        fetch_oxford_pets(data_home=home)
    assert _leftovers(home) == []
    assert not (tmp_path / "evil.txt").exists()


def test_not_a_tar_archive(server, monkeypatch, tmp_path):
    server({"images.tar.gz": b"<html>moved</html>", "annotations.tar.gz": ANNOTATIONS}, monkeypatch)
    with pytest.raises(OSError, match="not a readable tar archive"):
        fetch_oxford_pets(data_home=tmp_path)
    assert _leftovers(tmp_path) == []


def test_http_error_and_unreachable_server(server, monkeypatch, tmp_path):
    remotes = server({"images.tar.gz": IMAGES}, monkeypatch)
    missing = remotes[0]._replace(url=remotes[0].url.replace("images", "nothing"))
    monkeypatch.setattr(fetch_module, "OXFORD_PETS_FILES", (missing,))
    with pytest.raises(OSError, match="Could not download.*Not Found"):
        fetch_oxford_pets(data_home=tmp_path)
    closed = remotes[0]._replace(url="http://127.0.0.1:9/images.tar.gz")  # discard port: refused
    monkeypatch.setattr(fetch_module, "OXFORD_PETS_FILES", (closed,))
    with pytest.raises(OSError, match="Could not download.*offline"):
        fetch_oxford_pets(data_home=tmp_path, timeout=5)
    assert _leftovers(tmp_path) == []


def test_offline_without_download(tmp_path):
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_oxford_pets(data_home=tmp_path, download_if_missing=False)
    assert _leftovers(tmp_path) == []


def test_bad_download_flag(tmp_path):
    with pytest.raises(ValueError, match="download_if_missing"):
        fetch_oxford_pets(data_home=tmp_path, download_if_missing="yes")


def test_data_home_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKREID_DATA", str(tmp_path / "env_home"))
    assert get_data_home() == tmp_path / "env_home"
    assert (tmp_path / "env_home").is_dir()
    assert get_data_home(tmp_path / "explicit") == tmp_path / "explicit"
    with pytest.raises(ValueError, match="data_home"):
        get_data_home(42)


def test_official_remote_files_have_sha256():
    for remote in fetch_module.OXFORD_PETS_FILES:
        assert remote.url.startswith("https://www.robots.ox.ac.uk/~vgg/data/pets/data/")
        assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0
