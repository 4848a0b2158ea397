"""Loader for the Oxford-IIIT Pet dataset in its official folder layout."""

import numpy as np
from sklearn.utils import Bunch

from skreid.datasets._common import (
    MASK_IGNORE,
    _decoding,
    check_folder,
    check_on_error,
    list_images,
    read_image,
    warn_skipped,
)
from skreid.utils import check_image_size, open_regular

#: The 37 breeds in official class-id order (list.txt CLASS-ID 1..37 -> breeds 0..36).
#: Capitalised names are cats, lower-case names dogs (the dataset's own convention).
PET_BREEDS = (
    "Abyssinian",
    "american_bulldog",
    "american_pit_bull_terrier",
    "basset_hound",
    "beagle",
    "Bengal",
    "Birman",
    "Bombay",
    "boxer",
    "British_Shorthair",
    "chihuahua",
    "Egyptian_Mau",
    "english_cocker_spaniel",
    "english_setter",
    "german_shorthaired",
    "great_pyrenees",
    "havanese",
    "japanese_chin",
    "keeshond",
    "leonberger",
    "Maine_Coon",
    "miniature_pinscher",
    "newfoundland",
    "Persian",
    "pomeranian",
    "pug",
    "Ragdoll",
    "Russian_Blue",
    "saint_bernard",
    "samoyed",
    "scottish_terrier",
    "shiba_inu",
    "Siamese",
    "Sphynx",
    "staffordshire_bull_terrier",
    "wheaten_terrier",
    "yorkshire_terrier",
)
_BREED_INDEX = {name: i for i, name in enumerate(PET_BREEDS)}

# trimap value -> mask value (1 pet -> 0, 2 background -> 1, 3 border -> 2); anything else is
# not a label the dataset defines, so it is ignored rather than guessed
_TRIMAP_LUT = np.full(256, MASK_IGNORE, dtype=np.uint8)
_TRIMAP_LUT[[1, 2, 3]] = [0, 1, 2]

_DESCR = """\
Oxford-IIIT Pet (Parkhi, Vedaldi, Zisserman, Jawahar, "Cats and Dogs", CVPR 2012)
-------------------------------------------------------------------------------
images: uint8 RGB, resized (bilinear, aspect ratio not kept) to image_size.
breeds: 0..36 in official class-id order (breed_names; list.txt CLASS-ID minus one).
species: 0 = cat, 1 = dog (list.txt SPECIES minus one).
masks: uint8 trimaps resized with nearest neighbour and recoded 0 = pet, 1 = background,
2 = border / not classified; images without a trimap get MASK_IGNORE (255) everywhere,
has_mask says which images have one.
split: "trainval" / "test" from annotations/trainval.txt and test.txt, "unlisted" otherwise.
Images missing from annotations/list.txt take their breed from the file name
(<Breed_name>_<number>.jpg; capitalised breed = cat). Licence: CC BY-SA 4.0 (image copyright
stays with the owners). https://www.robots.ox.ac.uk/~vgg/data/pets/
"""


def load_oxford_pets(root, image_size=(224, 224), *, on_error="raise"):
    """Load the Oxford-IIIT Pet dataset from its official folder layout.

    Parameters
    ----------
    root : str or path-like
        Folder with ``images/*.jpg`` and, optionally, ``annotations/`` holding ``trimaps/*.png``,
        ``list.txt``, ``trainval.txt`` and ``test.txt`` (what the two official archives extract
        to).
    image_size : int or (height, width), default=(224, 224)
        Size of the returned images (bilinear) and masks (nearest neighbour).
    on_error : {"raise", "skip"}, default="raise"
        What to do with an image that cannot be decoded, a name that matches no breed, or a
        trimap whose size differs from its image: raise a ValueError naming the file, or skip
        the image with one warning counting what was skipped.

    Returns
    -------
    data : sklearn.utils.Bunch
        ``images`` (uint8, n x h x w x 3), ``breeds`` (int64, 0..36), ``breed_names``
        (the 37 names), ``species`` (int64, 0 = cat, 1 = dog), ``masks`` (uint8, n x h x w:
        0 pet, 1 background, 2 border, 255 = ``MASK_IGNORE`` without trimap), ``has_mask``
        (bool), ``split`` ("trainval", "test" or "unlisted"), ``filenames`` and ``DESCR``.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs the Oxford-IIIT Pet folder on disk.

    >>> from skreid.datasets import load_oxford_pets
    >>> pets = load_oxford_pets("oxford-iiit-pet", image_size=(128, 128))  # doctest: +SKIP
    >>> pets.breed_names[pets.breeds[0]], pets.has_mask.mean()  # doctest: +SKIP
    ('Abyssinian', 1.0)
    """
    check_on_error(on_error)
    size = check_image_size(image_size)
    root = check_folder(root)
    image_dir = root / "images"
    if not image_dir.is_dir():
        raise ValueError(
            f"Oxford-IIIT Pet folder {str(root)!r} has no images/ sub-folder (expected images/ "
            f"and annotations/, as extracted from images.tar.gz and annotations.tar.gz)."
        )
    files = [p for p in list_images(image_dir) if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    if not files:
        raise ValueError(f"Folder {str(image_dir)!r} holds no .jpg images.")
    annotations = root / "annotations"
    listed = _read_list(annotations / "list.txt")
    split_of = {}
    for split in ("trainval", "test"):
        for name in _read_list(annotations / f"{split}.txt"):
            split_of[name] = split
    trimap_dir = annotations / "trimaps"

    n = len(files)
    images = np.empty((n, *size, 3), dtype=np.uint8)
    masks = np.full((n, *size), MASK_IGNORE, dtype=np.uint8)
    has_mask = np.zeros(n, dtype=bool)
    breeds = np.empty(n, dtype=np.int64)
    species = np.empty(n, dtype=np.int64)
    keep, skipped = [], []
    for i, path in enumerate(files):
        try:
            breeds[i], species[i] = _labels(path, listed)
            images[i], mask = _read_pair(path, trimap_dir / f"{path.stem}.png", size)
        except ValueError:
            if on_error == "raise":
                raise
            skipped.append(path)
            continue
        if mask is not None:
            masks[i], has_mask[i] = mask, True
        keep.append(i)
    warn_skipped(skipped, what="image")
    if not keep:
        raise ValueError(f"No readable images in {str(image_dir)!r}.")
    if len(keep) < n:
        images, masks, has_mask = images[keep], masks[keep], has_mask[keep]
        breeds, species = breeds[keep], species[keep]
        files = [files[i] for i in keep]
    return Bunch(
        images=images,
        breeds=breeds,
        breed_names=np.array(PET_BREEDS),
        species=species,
        species_names=np.array(["cat", "dog"]),
        masks=masks,
        has_mask=has_mask,
        split=np.array([split_of.get(p.stem, "unlisted") for p in files]),
        filenames=np.array([p.name for p in files]),
        DESCR=_DESCR,
    )


def _read_list(path):
    """``{image name: (breed 0..36, species 0/1)}`` from a list.txt-format file ({} if absent)."""
    if not path.is_file():
        return {}
    entries = {}
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start}); it should "
            f"hold lines 'Image CLASS-ID SPECIES BREED-ID'."
        ) from None
    except OSError as exc:
        raise ValueError(f"Could not read {str(path)!r}: {exc.strerror or exc}.") from None
    for line_no, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields or line.lstrip().startswith("#"):
            continue
        try:
            class_id, species_id = int(fields[1]), int(fields[2])
        except (IndexError, ValueError):
            raise ValueError(
                f"{str(path)!r} line {line_no} should read 'Image CLASS-ID SPECIES BREED-ID', "
                f"got {line.strip()!r}."
            ) from None
        if not (1 <= class_id <= len(PET_BREEDS) and species_id in (1, 2)):
            raise ValueError(
                f"{str(path)!r} line {line_no}: CLASS-ID must be 1..37 and SPECIES 1 or 2, got "
                f"{line.strip()!r}."
            )
        entries[fields[0]] = (class_id - 1, species_id - 1)
    return entries


def _labels(path, listed):
    if path.stem in listed:
        return listed[path.stem]
    breed_name = path.stem.rsplit("_", 1)[0]
    if breed_name not in _BREED_INDEX:
        raise ValueError(
            f"Image {str(path)!r} is not in annotations/list.txt and its name does not start "
            f"with one of the 37 breed names (expected <Breed_name>_<number>.jpg, e.g. "
            f"Abyssinian_12.jpg or beagle_3.jpg)."
        )
    # the dataset's convention: capitalised breed names are cats
    return _BREED_INDEX[breed_name], 0 if breed_name[0].isupper() else 1


def _read_pair(image_path, trimap_path, size):
    from PIL import Image

    image, image_wh = read_image(image_path, size, return_size=True)
    if not trimap_path.is_file():
        return image, None
    with _decoding(trimap_path, "trimap"), open_regular(trimap_path, "trimap") as fh, \
            Image.open(fh) as tri:
        # palette ("P") trimaps hold the labels as indices: read them raw, never through a
        # luminance conversion that would change the values
        trimap, trimap_wh = np.asarray(tri), tri.size
    if trimap_wh != image_wh:
        raise ValueError(
            f"Trimap {str(trimap_path)!r} is {trimap_wh[0]}x{trimap_wh[1]} (WxH) but its image "
            f"{image_path.name!r} is {image_wh[0]}x{image_wh[1]}: they must be the same size."
        )
    if trimap.ndim == 3:
        trimap = trimap[..., 0]
    mask = _TRIMAP_LUT[trimap.astype(np.uint8, copy=False)]
    if mask.shape != size:
        mask = np.asarray(Image.fromarray(mask).resize((size[1], size[0]), Image.NEAREST))
    return image, mask
