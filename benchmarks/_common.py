"""What several benchmark scripts share: the row spec of ``reid_cab420.py`` and the path of
the shared MobileNetV3 weights. Imported by the scripts, imports none of them (no circles)."""

import os
from collections import namedtuple

#: One table row of ``reid_cab420.py``: ``run(data) -> dict`` (see that module's docstring).
Row = namedtuple("Row", ["name", "method", "run"])

WEIGHTS_FILE = "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5"


def shared_weights(data_root, weights=None):
    """Path of the MobileNetV3 weights: explicit, $SKREID_WEIGHTS, or beside the data."""
    if weights:
        return weights
    if os.environ.get("SKREID_WEIGHTS"):
        return os.environ["SKREID_WEIGHTS"]
    return os.path.normpath(os.path.join(str(data_root), "..", "..", "weights", WEIGHTS_FILE))


def best_params(data_root, weights=None):
    """Row (c): the estimator's defaults, with the local weights file (offline machine)."""
    return dict(weights=shared_weights(data_root, weights), random_state=0)
