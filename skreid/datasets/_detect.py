"""Which re-ID dataset a folder holds: the loader to read it with."""

from skreid.datasets._common import check_folder
from skreid.datasets._cuhk03 import find_cuhk03, load_cuhk03
from skreid.datasets._ilids_vid import find_ilids_vid, load_ilids_vid
from skreid.datasets._market import detect_market_layout, load_market1501
from skreid.datasets._mars import find_mars, load_mars
from skreid.datasets._msmt17 import find_msmt17, load_msmt17
from skreid.datasets._prid2011 import find_prid2011, load_prid2011
from skreid.datasets._viper import find_viper, load_viper

# (finder, loader) in the order tried: the layouts' marker files and folders do not overlap
# (PRID2011's cam_a/ holds person folders, VIPeR's holds images), so the order only matters
# for a folder holding several datasets, where the first one wins.
_DATASETS = (
    (detect_market_layout, load_market1501),
    (find_cuhk03, load_cuhk03),
    (find_msmt17, load_msmt17),
    (find_mars, load_mars),
    (find_ilids_vid, load_ilids_vid),
    (find_prid2011, load_prid2011),
    (find_viper, load_viper),
)


def detect_reid_dataset(root):
    """The loader for the re-ID dataset in folder ``root``, or None if none is recognised.

    Recognises Market-1501 (:func:`load_market1501`), CUHK03 (:func:`load_cuhk03`), MSMT17
    (:func:`load_msmt17`), MARS (:func:`load_mars`), iLIDS-VID (:func:`load_ilids_vid`),
    PRID2011 (:func:`load_prid2011`) and VIPeR (:func:`load_viper`) by their marker files and
    folders, in ``root``, in a folder named after the release inside it, or in its only
    sub-folder. Detection reads no image and no split file: a damaged split file is reported
    when the returned loader reads it.

    Parameters
    ----------
    root : str or path-like
        The folder to look at.

    Returns
    -------
    loader : callable or None
        The ``load_*`` function to call with ``root`` (its defaults give the published
        protocol: split 0 where there are several, CUHK03's labeled boxes).

    Raises
    ------
    FileNotFoundError
        If ``root`` does not exist.

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs an MSMT17 folder on disk.

    >>> from skreid.datasets import detect_reid_dataset
    >>> loader = detect_reid_dataset("MSMT17_V1")  # doctest: +SKIP
    >>> loader.__name__  # doctest: +SKIP
    'load_msmt17'
    >>> data = loader("MSMT17_V1")  # doctest: +SKIP
    """
    root = check_folder(root)
    for find, loader in _DATASETS:
        if find(root) is not None:
            return loader
    return None
