"""Data for the CLI commands: the demo's synthetic splits and the real-data layouts."""

import os

import numpy as np
from sklearn.utils import Bunch

from skreid.cli._common import CLIError

# The demo's TripletEmbedder: the report's seed branch at 64x32 RGB with batch-hard triplets,
# trained from scratch (no weights file needed). Augmentation is off: on make_people it kept
# the network from learning within the demo's epochs (docs/benchmarks.rst).
_DEMO_TRIPLET = dict(backbone="seed", weights=None, image_size=(64, 32), batch_size=32,
                     images_per_identity=4, id_loss_weight=0.0, augment=False,
                     validation_fraction=0.0, learning_rate=1e-3)

# Demo sizes: "full" is the README's ~3-minute run on a 2-core CPU; "small" and "tiny" are for
# quick looks and the test suite. Estimator options are applied only where the estimator has
# that parameter (skreid.cli._common.set_known_params).
SIZES = {
    "full": {
        "people": dict(n_identities=120, n_images_per_identity=8, n_cameras=4,
                       image_shape=(128, 64, 3)),
        "train_identities": 60,
        "pets": dict(n_samples=480, n_classes=6, image_size=(64, 64)),
        "options": {
            "triplet": dict(_DEMO_TRIPLET, epochs=25),
            "multitask": dict(epochs=10, image_size=(64, 64)),
            "finetuned": dict(epochs=6, image_size=(64, 64)),
        },
    },
    "small": {
        "people": dict(n_identities=50, n_images_per_identity=6, n_cameras=3,
                       image_shape=(64, 32, 3)),
        "train_identities": 25,
        "pets": dict(n_samples=160, n_classes=4, image_size=(48, 48)),
        "options": {
            "triplet": dict(_DEMO_TRIPLET, epochs=8),
            "multitask": dict(epochs=4, image_size=(48, 48)),
            "finetuned": dict(epochs=2, image_size=(48, 48)),
        },
    },
    "tiny": {
        "people": dict(n_identities=16, n_images_per_identity=4, n_cameras=2,
                       image_shape=(48, 24, 3)),
        "train_identities": 8,
        "pets": dict(n_samples=48, n_classes=3, image_size=(32, 32)),
        "options": {
            "triplet": dict(backbone="seed", weights=None, image_size=None, epochs=1,
                            batch_size=16, images_per_identity=2, validation_fraction=0.0),
            "multitask": dict(epochs=1, batch_size=16, image_size=(32, 32)),
            "finetuned": dict(epochs=1, batch_size=16, image_size=(32, 32)),
        },
    },
}


def _take(bunch, idx, keys):
    return Bunch(**{k: np.asarray(bunch[k])[idx] for k in keys})


def split_people(people, train_identities, seed):
    """Identity-disjoint split: the first ``train_identities`` ids train; the others are split
    into query and gallery Market-style by :func:`skreid.model_selection.query_gallery_split`
    (one query per identity when there are no camera ids)."""
    from skreid.model_selection import query_gallery_split

    keys = ("images", "person_ids", "camera_ids")
    cams = people.get("camera_ids")
    if cams is None or np.all(np.asarray(cams) < 0):  # load_image_folder: -1 = no camera
        people = Bunch(**people)
        people.camera_ids = np.zeros(len(people.person_ids), dtype=int)
        cameras = False
    else:
        cameras = True
    ids = np.unique(people.person_ids)
    is_train = np.isin(people.person_ids, ids[:train_identities])
    test = _take(people, ~is_train, keys)
    query_idx, gallery_idx = query_gallery_split(
        test.person_ids, test.camera_ids if cameras else None, random_state=seed)
    out = Bunch(train=_take(people, is_train, keys), query=_take(test, query_idx, keys),
                gallery=_take(test, gallery_idx, keys))
    for split in ("train", "query", "gallery"):
        if len(out[split].person_ids) == 0:
            raise CLIError(
                f"the {len(ids) - train_identities} test identities give no {split} images: "
                f"re-ID needs at least 2 images of each test identity (one query, one gallery"
                f"{', from different cameras' if cameras else ''}); found "
                f"{len(test.person_ids)} test images.")
    if not cameras:  # no camera rule without cameras
        out.query.camera_ids = out.gallery.camera_ids = None
    return out


def demo_people(size, seed):
    from skreid.datasets import make_people

    spec = SIZES[size]
    people = make_people(**spec["people"], random_state=seed)
    return split_people(people, spec["train_identities"], seed)


def demo_pets(size, seed):
    from sklearn.model_selection import train_test_split

    from skreid.datasets import make_pets

    pets = make_pets(**SIZES[size]["pets"], random_state=seed)
    idx = np.arange(len(pets.images))
    train, test = train_test_split(idx, test_size=0.25, stratify=pets.labels, random_state=seed)
    keys = ("images", "masks")
    out = Bunch(train=_take(pets, train, keys), test=_take(pets, test, keys))
    out.train.breeds, out.test.breeds = pets.labels[train], pets.labels[test]
    names = pets.get("breed_names", pets.get("target_names"))
    if names is not None:
        out.breed_names = list(names)
    return out


# the published datasets skreid.datasets.detect_reid_dataset recognises, by their loader
_DATASET_NAMES = {"load_market1501": "Market-1501", "load_cuhk03": "CUHK03",
                  "load_msmt17": "MSMT17", "load_mars": "MARS", "load_ilids_vid": "iLIDS-VID",
                  "load_prid2011": "PRID2011", "load_viper": "VIPeR"}
# video datasets: evenly spaced frames kept per tracklet (every frame of MARS takes ~29 GB, and
# this command ranks single images)
FRAMES_PER_TRACKLET = 8


def load_reid_data(path, seed):
    """A published re-ID dataset (Market-1501, CUHK03, MSMT17, MARS, iLIDS-VID, PRID2011, VIPeR:
    :func:`skreid.datasets.detect_reid_dataset`) with its protocol's first split, else an image
    folder (one subfolder per id)."""
    import inspect

    from skreid.datasets import detect_reid_dataset, load_image_folder

    if not os.path.isdir(path):
        raise CLIError(f"--data {path}: no such folder.")
    # a folder laid out like a published dataset is read as that dataset or fails naming the
    # file: never silently reread as an image folder (whose "identities" would be its folders)
    loader = detect_reid_dataset(path)
    if loader is not None:
        name = _DATASET_NAMES.get(loader.__name__, loader.__name__)
        options = ({"frames_per_tracklet": FRAMES_PER_TRACKLET}
                   if "frames_per_tracklet" in inspect.signature(loader).parameters else {})
        try:
            return loader(path, **options)
        except (ValueError, OSError, ImportError) as exc:
            raise CLIError(f"--data {path}: {name} layout: {_first_line(exc)}") from None
    try:
        people = load_image_folder(path)
    except (ValueError, OSError) as folder_error:
        raise CLIError(
            f"--data {path}: neither a Market-1501 layout (bounding_box_train/, "
            f"bounding_box_test/, query/ or Training/, Testing/Gallery/, Testing/Probe/), "
            f"another published re-ID dataset (CUHK03, MSMT17, MARS, iLIDS-VID, PRID2011, "
            f"VIPeR) nor an image folder with one subfolder per identity "
            f"({_first_line(folder_error)})"
        ) from None
    n_ids = len(np.unique(people.person_ids))
    if n_ids < 4:
        raise CLIError(f"--data {path}: needs at least 4 identities to split, found {n_ids}.")
    try:
        return split_people(people, n_ids // 2, seed)
    except CLIError as exc:
        raise CLIError(f"--data {path}: {exc}") from None


def load_pets_data(path, image_size):
    """Oxford-IIIT Pet layout, split by its official trainval/test lists."""
    from skreid.datasets import load_oxford_pets

    if not os.path.isdir(path):
        raise CLIError(f"--data {path}: no such folder.")
    try:
        pets = load_oxford_pets(path, image_size=image_size)
    except (ValueError, OSError) as exc:
        raise CLIError(f"--data {path}: not an Oxford-IIIT Pet layout (images/, "
                       f"annotations/trimaps/, annotations/list.txt): {_first_line(exc)}") from None
    split = np.asarray(pets.split)
    keys = ("images", "masks", "breeds")
    train, test = np.flatnonzero(split == "trainval"), np.flatnonzero(split == "test")
    if len(train) == 0 or len(test) == 0:
        raise CLIError(f"--data {path}: the trainval/test lists select {len(train)} and "
                       f"{len(test)} images; both splits are needed.")
    return Bunch(train=_take(pets, train, keys), test=_take(pets, test, keys),
                 breed_names=list(pets.breed_names))


def _first_line(exc):
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
