"""Datasets: loaders for local folders (``load_*``, one per published re-ID protocol, found by
``detect_reid_dataset``), downloaders (``fetch_*``) and synthetic generators (``make_*``). Every
function returns a :class:`sklearn.utils.Bunch` with a ``DESCR``.

Errors: a ``root`` that does not exist raises FileNotFoundError; a folder with the wrong
layout, no images, a file name that does not parse, an unreadable image, a mismatched trimap or
a missing or malformed split file raises ValueError naming the file or folder (and, for a split
file, what was expected) (or, with ``on_error="skip"``, is skipped with one
warning counting what was skipped); a failed download raises OSError. Importing this package
never imports TensorFlow or Keras.
"""

from skreid.datasets._common import IMAGE_EXTENSIONS, MASK_IGNORE, read_image
from skreid.datasets._cuhk03 import load_cuhk03
from skreid.datasets._detect import detect_reid_dataset
from skreid.datasets._fetch import (
    OXFORD_PETS_FILES,
    RemoteFile,
    fetch_oxford_pets,
    get_data_home,
)
from skreid.datasets._ilids_vid import load_ilids_vid
from skreid.datasets._image_folder import load_image_folder, parse_camera_id
from skreid.datasets._market import detect_market_layout, load_market1501, parse_market_name
from skreid.datasets._mars import load_mars
from skreid.datasets._msmt17 import load_msmt17
from skreid.datasets._pets import PET_BREEDS, load_oxford_pets
from skreid.datasets._prid2011 import load_prid2011
from skreid.datasets._synthetic import make_people
from skreid.datasets._synthetic_pets import make_pets
from skreid.datasets._viper import load_viper

__all__ = [
    "IMAGE_EXTENSIONS",
    "MASK_IGNORE",
    "OXFORD_PETS_FILES",
    "PET_BREEDS",
    "RemoteFile",
    "detect_reid_dataset",
    "fetch_oxford_pets",
    "get_data_home",
    "load_cuhk03",
    "load_ilids_vid",
    "load_image_folder",
    "load_market1501",
    "load_mars",
    "load_msmt17",
    "load_oxford_pets",
    "load_prid2011",
    "load_viper",
    "make_people",
    "make_pets",
    "parse_camera_id",
    "parse_market_name",
    "detect_market_layout",
    "read_image",
]
