"""Synthetic segmentation + classification data ("pets"): one textured shape per image.

A vectorised NumPy renderer (no drawing library), fast enough for tests and examples.
"""

import numpy as np
from sklearn.utils import Bunch, check_random_state

from skreid.datasets._common import add_noise
from skreid.utils import check_image_size, check_positive_int

_CHUNK = 256  # images rendered at once: bounds memory whatever n is

_PETS_DESCR = """\
Synthetic pets (skreid.datasets.make_pets)
------------------------------------------
One foreground object per image on a cluttered background. The class is carried by the object's
shape (circle, square, triangle, star, cross, diamond, ring, hexagon, ellipse) and its texture
(plain, horizontal stripes, diagonal stripes, checker, dots); colours, position, size and
rotation are random and carry no class information. Up to 45 classes (shape x texture).
masks use the load_oxford_pets coding: 0 = pet, 1 = background (no border pixels, no ignore
value). labels and breeds are the same array (0..n_classes-1).
"""

_SHAPES = ("circle", "square", "triangle", "star", "cross", "diamond", "ring", "hexagon", "ellipse")
_TEXTURES = ("plain", "hstripes", "dstripes", "checker", "dots")
_MAX_PET_CLASSES = len(_SHAPES) * len(_TEXTURES)


def make_pets(n_samples=200, n_classes=3, image_size=(64, 64), random_state=None):
    """Generate synthetic classification + segmentation images ("pets").

    Each image holds one foreground object on a cluttered background. Class ``k`` has its own
    shape and its own texture (for ``n_classes <= 9`` every class has a different shape and
    classes next to each other differ in texture too); colour, position, size and rotation are
    random, so colour alone carries no class information.

    Parameters
    ----------
    n_samples : int, default=200
        Number of images.
    n_classes : int, default=3
        Number of classes, 1 to 45 (classes are balanced up to one image).
    image_size : int or tuple of int, default=(64, 64)
        ``(height, width)`` of the images, each at least 8.
    random_state : int, RandomState instance or None, default=None
        Seed; the same seed gives identical output.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (uint8, n x h x w x 3), ``labels`` and ``breeds`` (the same int64 array,
        0..n_classes-1), ``masks`` (uint8, n x h x w; 0 = pet, 1 = background, the
        ``load_oxford_pets`` coding), ``target_names`` and ``breed_names`` (the same
        ``"<shape>-<texture>"`` names, one per class), ``DESCR``.

    Examples
    --------
    >>> from skreid.datasets import make_pets
    >>> data = make_pets(n_samples=10, n_classes=3, image_size=32, random_state=0)
    >>> data.images.shape, data.masks.shape, sorted(set(data.masks.ravel().tolist()))
    ((10, 32, 32, 3), (10, 32, 32), [0, 1])
    """
    n = check_positive_int(n_samples, "n_samples")
    k = check_positive_int(n_classes, "n_classes")
    if k > _MAX_PET_CLASSES:
        raise ValueError(f"n_classes must be at most {_MAX_PET_CLASSES}, got {k}.")
    height, width = check_image_size(image_size, name="image_size")
    if height < 8 or width < 8:
        raise ValueError(f"image_size must be at least (8, 8), got {image_size!r}.")
    rng = check_random_state(random_state)

    labels = rng.permutation(np.arange(n) % k)
    shape_ids, texture_ids = _pet_class_parts(labels)
    params = {
        "cy": rng.uniform(0.35, 0.65, n),
        "cx": rng.uniform(0.35, 0.65, n),
        "radius": rng.uniform(0.2, 0.3, n),
        "angle": rng.uniform(0, 2 * np.pi, n),
        "fg": rng.uniform(30, 255, (n, 3)),
        "tex": rng.uniform(0, 225, (n, 3)),
        "bg": rng.uniform(0, 255, (n, 2, 3)),
        "clutter": rng.uniform(0, 1, (n, 6, 7)),
        "noise_seed": rng.randint(0, 2**31 - 1, n),
    }
    # the texture must stay visible: push it away from the body colour
    close = np.abs(params["fg"] - params["tex"]).sum(axis=1) < 150
    params["tex"][close] = 255 - params["fg"][close]

    images = np.empty((n, height, width, 3), dtype=np.uint8)
    masks = np.empty((n, height, width), dtype=np.uint8)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        images[sl], masks[sl] = _render_pets(
            {key: v[sl] for key, v in params.items()},
            shape_ids[sl],
            texture_ids[sl],
            height,
            width,
        )
    class_shapes, class_textures = _pet_class_parts(np.arange(k))
    names = [
        f"{_SHAPES[s]}-{_TEXTURES[t]}" for s, t in zip(class_shapes, class_textures, strict=True)
    ]
    labels = labels.astype(np.int64)
    return Bunch(
        images=images,
        labels=labels,
        breeds=labels,
        masks=masks,
        target_names=np.array(names),
        breed_names=np.array(names),
        DESCR=_PETS_DESCR,
    )


def _pet_class_parts(labels):
    # class k -> (shape, texture): shapes cycle first; the texture shifts by one each time the
    # shapes wrap around, so every (shape, texture) pair is used at most once
    shape_ids = labels % len(_SHAPES)
    return shape_ids, (shape_ids + labels // len(_SHAPES)) % len(_TEXTURES)


def _render_pets(p, shape_ids, texture_ids, height, width):
    n = len(shape_ids)
    col = lambda v: np.asarray(v, dtype=np.float32).reshape(n, 1, 1)  # noqa: E731
    size = float(min(height, width))
    yn = ((np.arange(height, dtype=np.float32) + 0.5) / size)[None, :, None]
    xn = ((np.arange(width, dtype=np.float32) + 0.5) / size)[None, None, :]

    # background: a random two-colour vertical gradient and small clutter bars/blocks that are
    # thin enough never to look like a whole object
    t = np.broadcast_to(yn * size / height, (n, height, width))[..., None]
    canvas = (p["bg"][:, 0, None, None] * (1 - t) + p["bg"][:, 1, None, None] * t).astype(
        np.float32
    )
    for j in range(p["clutter"].shape[1]):
        c = p["clutter"][:, j]
        y0, x0 = col(c[:, 0] * height / size), col(c[:, 1] * width / size)
        long_side, short_side = col(0.1 + 0.3 * c[:, 2]), col(0.02 + 0.04 * c[:, 3])
        vertical = col(c[:, 2] > 0.5) > 0
        dy = np.where(vertical, long_side, short_side)
        dx = np.where(vertical, short_side, long_side)
        box = (yn > y0) & (yn < y0 + dy) & (xn > x0) & (xn < x0 + dx)
        canvas = np.where(box[..., None], (c[:, 4:7] * 255)[:, None, None], canvas)

    # object coordinates: centred, rotated, in units of the radius
    r0 = col(p["radius"])
    y = (yn * size / height * height / size - col(p["cy"]) * height / size) / r0
    x = (xn - col(p["cx"]) * width / size) / r0
    cos, sin = col(np.cos(p["angle"])), col(np.sin(p["angle"]))
    u, v = cos * x + sin * y, -sin * x + cos * y
    r = np.hypot(u, v)
    theta = np.arctan2(v, u)
    sid = col(shape_ids)

    def polygon(k):
        # regular k-gon: distance to the nearest edge normal
        sector = 2 * np.pi / k
        rel = np.mod(theta, sector) - sector / 2
        return r * np.cos(rel) < np.cos(np.pi / k)

    inside = (
        ((sid == 0) & (r < 0.95))
        | ((sid == 1) & (np.maximum(np.abs(u), np.abs(v)) < 0.75))
        | ((sid == 2) & polygon(3))
        | ((sid == 3) & (r < 0.62 + 0.38 * np.cos(5 * theta)))
        | (
            (sid == 4)
            & (((np.abs(u) < 0.3) & (np.abs(v) < 1)) | ((np.abs(v) < 0.3) & (np.abs(u) < 1)))
        )
        | ((sid == 5) & (np.abs(u) + np.abs(v) < 1))
        | ((sid == 6) & (r < 1) & (r > 0.55))
        | ((sid == 7) & polygon(6))
        | ((sid == 8) & ((u / 1.0) ** 2 + (v / 0.55) ** 2 < 1))
    )

    # texture in object coordinates, so it rotates with the object
    tid = col(texture_ids)
    period = 0.45
    textured = (
        ((tid == 1) & (np.mod(v, period) < period / 2))
        | ((tid == 2) & (np.mod(u + v, period * 1.2) < period * 0.6))
        | ((tid == 3) & ((np.floor(u / period) + np.floor(v / period)) % 2 == 0))
        | (
            (tid == 4)
            & (
                np.hypot(np.mod(u, period) - period / 2, np.mod(v, period) - period / 2)
                < period * 0.25
            )
        )
    )
    canvas = np.where(inside[..., None], p["fg"][:, None, None].astype(np.float32), canvas)
    canvas = np.where(
        (inside & textured)[..., None], p["tex"][:, None, None].astype(np.float32), canvas
    )
    add_noise(canvas, p["noise_seed"], 6.0)
    images = np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
    masks = np.where(inside, 0, 1).astype(np.uint8)
    return images, masks
