"""scikit-learn objects outside skreid's registry, through skops with an explicit trust list.

skops (``skops.io``) stores scikit-learn objects without pickle and, on load, lists every type
the file would construct. skreid trusts skops's own default types (NumPy, SciPy and
scikit-learn estimators skops vetted) plus exactly the helper types below; a file needing any
other type is refused, naming it. ``save`` checks the same list, so it never writes a file that
``load`` would refuse.
"""

from skreid.saving._registry import UnsupportedEstimatorError
from skreid.utils import UnsafeArchiveError

#: the types skreid trusts beyond skops's defaults (neighbour trees and their metrics)
TRUSTED_TYPES = (
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    "sklearn.metrics._dist_metrics.ChebyshevDistance64",
)


def _skops():
    try:
        import skops.io
    except ImportError:
        raise ImportError(
            "this model holds a scikit-learn object that skreid stores with skops: "
            "pip install 'skreid[skops]' (or pip install skops)."
        ) from None
    return skops.io


def dumps(obj, path):
    sio = _skops()
    data = sio.dumps(obj)
    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in TRUSTED_TYPES]
    if untrusted:
        raise UnsupportedEstimatorError(
            f"skreid.save cannot store {path} ({type(obj).__name__}): it needs types skreid "
            f"does not trust on load: {untrusted}. Use pickle/joblib for a file only you load."
        )
    return data


def loads(data, where):
    sio = _skops()
    try:
        found = sio.get_untrusted_types(data=data)
    except Exception as exc:
        raise UnsafeArchiveError(f"{where}: damaged skops member ({exc}).") from None
    untrusted = [t for t in found if t not in TRUSTED_TYPES]
    if untrusted:
        raise UnsafeArchiveError(
            f"{where}: the scikit-learn member needs untrusted types {untrusted}; refusing it."
        )
    return sio.loads(data, trusted=list(found))
