"""Helpers shared by the dataset loaders and generators (argument checks, image reading)."""

import contextlib
import os
import warnings
from pathlib import Path

import numpy as np

#: Mask value for pixels (or whole images) without a ground-truth label: metrics and losses
#: skip it.  Same value as ``skreid.datasets.MASK_IGNORE``.
MASK_IGNORE = 255

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def check_on_error(on_error):
    if on_error not in ("raise", "skip"):
        raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}.")
    return on_error


def check_folder(root, name="root"):
    """Return ``root`` as a Path to an existing directory, or raise a clear error."""
    if not isinstance(root, (str, os.PathLike)):
        raise ValueError(f"{name} must be a path (str or os.PathLike), got {root!r}.")
    root = Path(root).expanduser()
    if not root.exists():
        raise FileNotFoundError(f"{name} folder {str(root)!r} does not exist.")
    if not root.is_dir():
        raise NotADirectoryError(f"{name} {str(root)!r} is a file, expected a folder.")
    return root


def list_images(folder):
    """Image files directly inside ``folder`` (sorted by name; hidden files ignored).

    A dangling symbolic link, a symlink loop, a FIFO or a device named like an image is listed
    too, so that reading it fails with an error naming it (or is counted by
    ``on_error="skip"``) instead of the file vanishing without a word; :func:`read_image` opens
    only regular files, so none of them can block a loader.
    """
    return sorted(
        p
        for p in folder.iterdir()
        if not p.name.startswith(".") and p.name.lower().endswith(IMAGE_EXTENSIONS)
        and not p.is_dir()
    )


@contextlib.contextmanager
def _decoding(path, what="image"):
    """Any failure to decode ``path`` becomes a ValueError naming it: Pillow raises many types
    (OSError, SyntaxError, struct.error, IndexError, ... on corrupt files) and a decompression
    bomb (more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, which Pillow only warns about up to
    twice that) is an unreadable image too, not a reason to allocate gigabytes."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    except (MemoryError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(
            f"Could not read {what} file {str(path)!r}: too large to decode safely ({exc})"
        ) from None
    except Exception as exc:  # noqa: BLE001 - whatever the decoder raised, the file is bad
        detail = str(exc) or type(exc).__name__
        raise ValueError(f"Could not read {what} file {str(path)!r}: {detail}") from None


def read_image(path, size, *, resample=None, mode="RGB", return_size=False):
    """Read one image with Pillow, convert it to ``mode`` and resize it to ``size=(h, w)``.

    With ``return_size=True`` also return the original ``(width, height)``. Raises ValueError
    naming the file when Pillow cannot decode it, including decompression bombs (images of
    more than ``PIL.Image.MAX_IMAGE_PIXELS`` pixels, refused before decoding), and for anything
    but a regular file (a FIFO would block ``open`` forever, a device stream without end).
    """
    from PIL import Image

    from skreid.utils import open_regular

    if resample is None:
        resample = Image.BILINEAR
    with _decoding(path), open_regular(path, "image file") as fh, Image.open(fh) as img:
        original = img.size
        img = img.convert(mode)
        if img.size != (size[1], size[0]):
            img = img.resize((size[1], size[0]), resample)
        array = np.asarray(img, dtype=np.uint8)
    return (array, original) if return_size else array


def add_noise(canvas, seeds, scale):
    """Add Gaussian pixel noise in place, one generator per image so that every image depends
    only on its own seed (not on how the batch is chunked)."""
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float32), (len(canvas),))
    for image, seed, sd in zip(canvas, seeds, scale, strict=True):
        image += np.random.default_rng(int(seed)).standard_normal(image.shape, np.float32) * sd
    return canvas


def read_images(paths, size, on_error, skipped):
    """Decode ``paths`` into one uint8 ``(n, h, w, 3)`` array.

    With ``on_error="skip"`` unreadable files are appended to ``skipped`` instead of raising.
    Returns the images that decoded and the indices (into ``paths``) they came from.
    """
    images = np.empty((len(paths),) + tuple(size) + (3,), dtype=np.uint8)
    keep = []
    for i, path in enumerate(paths):
        try:
            images[i] = read_image(path, size)
        except ValueError:
            if on_error == "raise":
                raise
            skipped.append(path)
            continue
        keep.append(i)
    return (images[keep] if len(keep) < len(paths) else images), keep


def warn_skipped(skipped, what="file"):
    """Emit one UserWarning counting what ``on_error='skip'`` dropped (naming the first few)."""
    if skipped:
        shown = ", ".join(repr(str(s)) for s in skipped[:3])
        more = f" and {len(skipped) - 3} more" if len(skipped) > 3 else ""
        warnings.warn(
            f"Skipped {len(skipped)} {what}(s) that could not be read or parsed: {shown}{more}.",
            UserWarning,
            stacklevel=3,
        )
