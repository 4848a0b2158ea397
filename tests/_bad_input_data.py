"""Small bad (and good) inputs written to disk, shared by the bad-input and robustness tests."""

import io
import os
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

MARKET_FOLDERS = ("bounding_box_train", "bounding_box_test", "query")


def jpeg_bytes(seed=0, shape=(16, 8, 3), fmt="JPEG"):
    """A small real image encoded in memory."""
    pixels = np.random.RandomState(seed).randint(0, 256, shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format=fmt)
    return buf.getvalue()


def png_bomb(width=20000, height=20000):
    """A PNG whose header claims ``width x height`` pixels (400 M by default, above Pillow's
    decompression-bomb limit) with one empty data chunk: Pillow refuses it when opening."""

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def write_image_folder(root, n_ids=3, per_id=2, seed=0):
    """``root/<id>/<image>.jpg``: n_ids identities of per_id images (cameras c1, c2, ...)."""
    root = Path(root)
    for i in range(n_ids):
        (root / f"person{i}").mkdir(parents=True, exist_ok=True)
        for k in range(per_id):
            (root / f"person{i}" / f"img{k}_c{k + 1}.jpg").write_bytes(
                jpeg_bytes(seed + 10 * i + k))
    return root


def write_market(root, n_ids=4, per_split=2, seed=0):
    """A tiny standard Market-1501 layout (train ids 1..n_ids, test ids n_ids+1..2*n_ids)."""
    root = Path(root)
    for folder in MARKET_FOLDERS:
        (root / folder).mkdir(parents=True, exist_ok=True)
    for pid in range(1, 2 * n_ids + 1):
        for k in range(per_split):
            name = f"{pid:04d}_c{k + 1}s1_{k:06d}_01.jpg"
            split = "bounding_box_train" if pid <= n_ids else (
                "query" if k == 0 else "bounding_box_test")
            (root / split / name).write_bytes(jpeg_bytes(seed + 10 * pid + k, (32, 16, 3)))
    return root


def write_pets(root, n=4, seed=0):
    """A tiny Oxford-IIIT Pet layout: images/, annotations/{trimaps/, list.txt}."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "annotations" / "trimaps").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n):
        name = f"Abyssinian_{i + 1}" if i % 2 == 0 else f"beagle_{i + 1}"
        (root / "images" / f"{name}.jpg").write_bytes(jpeg_bytes(seed + i, (24, 24, 3)))
        trimap = np.random.RandomState(i).randint(1, 4, (24, 24), dtype=np.uint8)
        Image.fromarray(trimap).save(root / "annotations" / "trimaps" / f"{name}.png")
        lines.append(f"{name} {1 if i % 2 == 0 else 5} {1 if i % 2 == 0 else 2} 1")
    (root / "annotations" / "list.txt").write_text("\n".join(lines) + "\n")
    return root


def snapshot(root):
    """Every path under ``root`` with its size and content hash (to check nothing changed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as fh:
                    out[rel] = ("file", zlib.crc32(fh.read()))
            else:
                out[rel] = ("dir",)
    return out
