"""Synthetic pedestrians seen by several cameras (make_people); make_pets lives next door.

A vectorised NumPy renderer (no drawing library) so tests and examples can make a thousand
images in about a second.
"""

import numpy as np
from scipy.ndimage import gaussian_filter
from sklearn.utils import Bunch, check_random_state

from skreid.datasets._common import add_noise

# re-exported so that both generators can be imported from this module too
from skreid.utils import check_image_size, check_positive_int

# Clothing palette (RGB): a small palette so many identities share colours and the pattern, bag,
# build and colour combination (not one colour) is what tells people apart.
_CLOTHES = np.array(
    [
        [20, 20, 25],
        [235, 235, 230],
        [120, 120, 125],
        [30, 45, 110],
        [150, 30, 35],
        [40, 100, 50],
        [200, 170, 60],
        [110, 70, 40],
        [90, 140, 200],
        [220, 120, 150],
        [230, 120, 40],
        [95, 55, 120],
    ],
    dtype=np.float32,
)
_SKIN = np.array([[235, 200, 170], [200, 150, 115], [150, 100, 70], [95, 65, 45]], np.float32)
_HAIR = np.array([[25, 20, 15], [80, 50, 25], [170, 130, 70], [120, 120, 120]], np.float32)
_BG_CAM = 0.4  # share of the background colour that comes from the camera
_CAST = 0.2  # camera colour gain range 1 +- _CAST
_LIGHT = 0.15  # per-image brightness range 1 +- _LIGHT
_CHUNK = 256  # images rendered at once: bounds memory to ~100 MB whatever n is

_PEOPLE_DESCR = """\
Synthetic pedestrians (skreid.datasets.make_people)
---------------------------------------------------
Cartoon pedestrians in the Market-1501 format (128 x 64 RGB uint8 by default). Each identity has
fixed clothing colours for the upper and lower body (from a shared 12-colour palette), an upper
body pattern (plain, horizontal or vertical stripes, chest patch), sleeves, trousers/shorts/skirt,
a bag (none, backpack, handbag), skin and hair colour and a build. Each camera has its own colour
cast, brightness, contrast, background colours and blur. Each image adds a horizontal flip,
walking pose, shift and scale jitter, background clutter, illumination jitter and pixel noise.
Every identity is seen by at least two cameras when n_cameras >= 2 and
n_images_per_identity >= 2, so cross-camera query/gallery splits exist. Raw-pixel matching
(PCA + nearest neighbour) is far from perfect because colours shift between cameras.
person_ids run 1..n_identities, camera_ids 1..n_cameras (Market-1501 style).
"""


def make_people(
    n_identities=50,
    n_images_per_identity=8,
    n_cameras=4,
    image_shape=(128, 64, 3),
    random_state=None,
):
    """Generate synthetic pedestrian images for person re-identification.

    Parameters
    ----------
    n_identities : int, default=50
        Number of people (ids 1..n_identities).
    n_images_per_identity : int, default=8
        Images of each person, spread over the cameras (at least two cameras per person when
        ``n_cameras >= 2`` and ``n_images_per_identity >= 2``).
    n_cameras : int, default=4
        Number of cameras (ids 1..n_cameras), each with its own colour cast, background and blur.
    image_shape : tuple, default=(128, 64, 3)
        ``(height, width)`` or ``(height, width, 3)``; images are always RGB.
    random_state : int, RandomState instance or None, default=None
        Seed; the same seed gives identical images.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (uint8, n x h x w x 3), ``person_ids`` (int64), ``camera_ids`` (int64),
        ``DESCR``. Images are grouped by identity.

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> data = make_people(n_identities=5, n_images_per_identity=4, random_state=0)
    >>> data.images.shape, data.images.dtype
    ((20, 128, 64, 3), dtype('uint8'))
    >>> sorted(set(data.person_ids.tolist()))
    [1, 2, 3, 4, 5]
    """
    n_ids = check_positive_int(n_identities, "n_identities")
    n_per = check_positive_int(n_images_per_identity, "n_images_per_identity")
    n_cams = check_positive_int(n_cameras, "n_cameras")
    height, width = _check_rgb_shape(image_shape)
    rng = check_random_state(random_state)

    ident = _sample_identities(rng, n_ids)
    cams = _sample_cameras(rng, n_cams)
    person_ids = np.repeat(np.arange(1, n_ids + 1), n_per)
    camera_ids = _assign_cameras(rng, n_ids, n_per, n_cams)

    n = n_ids * n_per
    images = np.empty((n, height, width, 3), dtype=np.uint8)
    # every random draw happens here, before rendering, so output does not depend on _CHUNK
    per_image = {
        "dx": rng.uniform(-0.04, 0.04, n),
        "dy": rng.uniform(-0.03, 0.03, n),
        "scale": rng.uniform(0.85, 1.05, n),
        "flip": rng.random_sample(n) < 0.5,
        "stride": rng.uniform(-0.05, 0.05, n),
        "light": rng.uniform(1 - _LIGHT, 1 + _LIGHT, n),
        "clutter": rng.uniform(0, 1, (n, 4, 7)),
        "background": rng.uniform(60, 200, (n, 2, 3)),
        "noise_seed": rng.randint(0, 2**31 - 1, n),
    }
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        images[sl] = _render_people(
            {k: v[person_ids[sl] - 1] for k, v in ident.items()},
            {k: v[camera_ids[sl] - 1] for k, v in cams.items()},
            {k: v[sl] for k, v in per_image.items()},
            height,
            width,
        )
    return Bunch(
        images=images,
        person_ids=person_ids.astype(np.int64),
        camera_ids=camera_ids.astype(np.int64),
        DESCR=_PEOPLE_DESCR,
    )


def _check_rgb_shape(image_shape):
    shape = (
        tuple(image_shape) if isinstance(image_shape, (tuple, list, np.ndarray)) else image_shape
    )
    if isinstance(shape, tuple) and len(shape) == 3:
        if shape[2] != 3:
            raise ValueError(
                f"image_shape must be (height, width) or (height, width, 3), got {image_shape!r}."
            )
        shape = shape[:2]
    height, width = check_image_size(shape, name="image_shape")
    if height < 8 or width < 4:
        raise ValueError(f"image_shape must be at least (8, 4), got {image_shape!r}.")
    return height, width


def _sample_identities(rng, n):
    def colours(palette, size):
        base = palette[rng.randint(0, len(palette), size)]
        return np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.float32)

    upper = colours(_CLOTHES, n)
    return {
        "upper": upper,
        "lower": colours(_CLOTHES, n),
        "pattern_colour": colours(_CLOTHES, n),
        "pattern": rng.randint(0, 4, n),  # 0 plain, 1 h-stripes, 2 v-stripes, 3 chest patch
        "stripe_freq": rng.uniform(14, 24, n),
        "patch_y": rng.uniform(0.26, 0.4, n),
        "sleeves": rng.random_sample(n) < 0.6,  # long sleeves, else bare arms
        "legwear": rng.randint(0, 3, n),  # 0 trousers, 1 shorts, 2 skirt
        "bag": rng.randint(0, 3, n),  # 0 none, 1 backpack, 2 handbag
        "bag_colour": colours(_CLOTHES, n),
        "skin": colours(_SKIN, n),
        "hair": colours(_HAIR, n),
        "shoes": colours(_CLOTHES[:3], n),
        "build": rng.uniform(0.85, 1.2, n),
    }


def _sample_cameras(rng, n):
    return {
        "gain": rng.uniform(1 - _CAST, 1 + _CAST, (n, 3)).astype(np.float32),  # colour cast
        "offset": rng.uniform(-25, 25, (n, 3)).astype(np.float32),
        "contrast": rng.uniform(0.75, 1.15, n),
        "wall": rng.uniform(40, 220, (n, 3)).astype(np.float32),
        "floor": rng.uniform(40, 200, (n, 3)).astype(np.float32),
        "horizon": rng.uniform(0.55, 0.85, n),
        "blur": rng.uniform(0.0, 1.3, n),
        "noise": rng.uniform(3, 9, n),
    }


def _assign_cameras(rng, n_ids, n_per, n_cams):
    # each identity cycles through its own random camera order: the first two images always
    # come from two different cameras, the rest fall anywhere in that order
    cams = np.empty((n_ids, n_per), dtype=np.int64)
    for i in range(n_ids):
        order = rng.permutation(n_cams)
        cycle = order[np.arange(n_per) % n_cams]
        if n_per > 2:
            cycle[2:] = rng.permutation(cycle[2:])
        cams[i] = cycle + 1
    return cams.ravel()


def _render_people(ident, cams, img, height, width):
    n = len(img["dx"])
    col = lambda v: np.asarray(v, dtype=np.float32).reshape(n, 1, 1)  # noqa: E731
    ys = (np.arange(height, dtype=np.float32) + 0.5) / height
    xs = ((np.arange(width, dtype=np.float32) + 0.5) / width - 0.5) * (width / height)
    yn, xn = ys[None, :, None], xs[None, None, :]

    # Paint part labels (int8 maps), then look every pixel's colour up once: far cheaper than
    # blending full RGB canvases layer by layer.
    clutter = img["clutter"]
    n_clutter = clutter.shape[1]
    palette = np.concatenate(
        [
            # the scene changes from image to image, the camera only tints it, so background
            # pixels are mostly a nuisance rather than a camera fingerprint
            _BG_CAM * cams["wall"][:, None] + (1 - _BG_CAM) * img["background"][:, :1],
            _BG_CAM * cams["floor"][:, None] + (1 - _BG_CAM) * img["background"][:, 1:],
            clutter[:, :, 4:7] * 255,
            ident["lower"][:, None],
            ident["skin"][:, None],
            ident["shoes"][:, None],
            np.where(ident["sleeves"][:, None], ident["upper"], ident["skin"])[:, None],
            ident["upper"][:, None],
            ident["pattern_colour"][:, None],
            ident["hair"][:, None],
            ident["bag_colour"][:, None],
        ],
        axis=1,
    ).astype(np.float32)
    lower, skin, shoes, arm, upper, pat, hair, bag_part = range(2 + n_clutter, 10 + n_clutter)
    labels = np.broadcast_to((yn > col(cams["horizon"])).astype(np.int8), (n, height, width)).copy()

    def paint(mask, part):
        labels[mask] = part

    # background clutter blocks
    half_w = 0.5 * width / height
    for k in range(n_clutter):
        c = clutter[:, k]
        y0, x0 = col(c[:, 0] * 0.9), col((c[:, 1] - 0.5) * 2 * half_w)
        box = (
            (yn > y0)
            & (yn < y0 + col(0.05 + 0.3 * c[:, 2]))
            & (xn > x0)
            & (xn < x0 + col(0.05 + 0.2 * c[:, 3]))
        )
        paint(box, 2 + k)

    # person coordinates: shift, scale and mirror per image
    s = col(img["scale"])
    py = (yn - 0.5 - col(img["dy"])) / s + 0.5
    px = (xn - col(img["dx"])) / s
    px = np.where(col(img["flip"]) > 0, -px, px)
    ax = np.abs(px)
    build = col(ident["build"])
    torso_w = 0.1 * build

    # legs (one per side, the stride moves them apart/together), shoes, legwear
    leg_off = np.abs(ax - np.abs(0.045 * build + col(img["stride"]) * np.sign(px)))
    legs = (py > 0.55) & (py < 0.93) & (leg_off < 0.035 * build)
    legwear = col(ident["legwear"])
    paint(legs, lower)
    paint(legs & (((legwear == 1) & (py > 0.68)) | ((legwear == 2) & (py > 0.72))), skin)
    paint((legwear == 2) & (py > 0.53) & (py < 0.72) & (ax < torso_w + (py - 0.53) * 0.35), lower)
    paint((py >= 0.93) & (py < 0.97) & (leg_off < 0.04 * build), shoes)

    # arms, hands, then the torso with its pattern
    arms = (py > 0.21) & (py < 0.53) & (ax > torso_w) & (ax < torso_w + 0.04)
    paint(arms, arm)
    paint(arms & (py > 0.49), skin)
    torso = (py > 0.2) & (py < 0.56) & (ax < torso_w)
    paint(torso, upper)
    pattern = col(ident["pattern"])
    freq = col(ident["stripe_freq"])
    stripes = ((pattern == 1) & (np.sin(py * freq * 2 * np.pi) > 0.3)) | (
        (pattern == 2) & (np.sin(px * freq * 2 * np.pi) > 0.3)
    )
    patch = (
        (pattern == 3) & (np.abs(py - col(ident["patch_y"])) < 0.06) & (np.abs(px + 0.02) < 0.055)
    )
    paint(torso & (stripes | patch), pat)

    # head: skin face under a hair cap
    head = ((px / 0.05) ** 2 + ((py - 0.125) / 0.065) ** 2) < 1
    paint(head, skin)
    paint(head & (py < 0.11), hair)

    # bags sit on the (possibly mirrored) right side, so a flip moves them across the body
    bag = col(ident["bag"])
    backpack = (
        (bag == 1) & (py > 0.23) & (py < 0.45) & (px > torso_w - 0.03) & (px < torso_w + 0.05)
    )
    handbag = (bag == 2) & (py > 0.47) & (py < 0.6) & (px > torso_w + 0.01) & (px < torso_w + 0.09)
    paint(backpack | handbag, bag_part)

    canvas = np.take_along_axis(palette, labels.reshape(n, -1, 1).astype(np.intp), axis=1)
    canvas = canvas.reshape(n, height, width, 3)

    # camera: blur, colour cast, contrast, then per-image light and sensor noise
    for sigma in np.unique(cams["blur"]):
        sel = cams["blur"] == sigma
        if sigma > 0.05:
            canvas[sel] = gaussian_filter(canvas[sel], sigma=(0, sigma, sigma, 0), mode="nearest")
    mean = canvas.mean(axis=(1, 2, 3), keepdims=True)
    gain = (cams["gain"] * (cams["contrast"] * img["light"])[:, None]).astype(np.float32)
    offset = (cams["offset"] + (1 - cams["contrast"])[:, None] * mean[:, 0, 0]).astype(np.float32)
    canvas = (
        canvas * gain[:, None, None]
        + (offset * img["light"][:, None]).astype(np.float32)[:, None, None]
    )
    add_noise(canvas, img["noise_seed"], cams["noise"])
    return np.clip(canvas + 0.5, 0, 255).astype(np.uint8)
