"""Safe model files: :func:`save` / :func:`load` without pickle, and the model card.

``skreid.save(estimator, path)`` writes one zip of JSON, ``.npy`` arrays and (for the Keras
estimators) a ``.keras`` network; ``skreid.load(path)`` rebuilds the estimator without running
code from the file, so skreid files are safe to exchange. Pickles (and joblib files) run
whatever code they hold: load only your own.

Importing this package does not import TensorFlow or Keras; ``load`` imports them only for a
file that holds a Keras network.
"""

from skreid.saving._api import FORMAT_VERSION, load, read_metadata, save
from skreid.saving._registry import UnsupportedEstimatorError, supported_names
from skreid.utils import UnsafeArchiveError

__all__ = [
    "save",
    "load",
    "read_metadata",
    "supported_names",
    "FORMAT_VERSION",
    "UnsupportedEstimatorError",
    "UnsafeArchiveError",
]
