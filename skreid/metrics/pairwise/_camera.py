"""Per-camera normalisation of embeddings: each camera's mean (and covariance) taken out.

A re-ID embedding also encodes the camera: its exposure, colour and background shift every
embedding of that camera the same way, so images of different people from one camera look
closer than images of one person from two cameras. Subtracting each camera's mean embedding
(and optionally whitening with each camera's covariance) removes that shift using camera ids
only, no identity labels: the "camera-aware" feature normalisation of unsupervised and
cross-domain re-ID (e.g. Zhuang et al., "Rethinking the Distribution Gap of Person
Re-identification with Camera-based Batch Normalization", ECCV 2020, applied here to the
embeddings after the network).
"""

import numbers
import warnings

import numpy as np

from skreid.utils import check_features, check_labels

__all__ = [
    "CAMERA_NORMALIZATIONS",
    "CameraStatistics",
    "UnseenCameraWarning",
    "camera_normalize",
    "check_camera_normalization",
]

#: The ``camera_normalization=`` modes of skreid (besides None: off).
CAMERA_NORMALIZATIONS = ("center", "whiten")

#: Camera id meaning "unknown" (as in :class:`skreid.search.GalleryIndex`): such images get
#: the global statistics, silently.
UNKNOWN_CAMERA = -1


class UnseenCameraWarning(UserWarning):
    """Embeddings of cameras the statistics were not fitted on were normalised with the
    global statistics (all cameras together)."""


def check_camera_normalization(value, name="camera_normalization", *, fitted=False):
    """Return ``value`` if it is None or one of :data:`CAMERA_NORMALIZATIONS` (or, with
    ``fitted=True``, a fitted :class:`CameraStatistics`), else raise a ValueError naming
    ``name``."""
    if value is None or (isinstance(value, str) and value in CAMERA_NORMALIZATIONS):
        return value
    if fitted and isinstance(value, CameraStatistics):
        value._check_fitted()
        return value
    accepted = [None, *CAMERA_NORMALIZATIONS] + (["a fitted CameraStatistics"] if fitted else [])
    raise ValueError(f"{name} must be one of {accepted}, got {value!r}.")


def _check_cameras(cameras, n, name, n_name):
    cameras = check_labels(cameras, name, n, n_name)
    if cameras.dtype.kind not in "iuUS":
        raise ValueError(f"{name} must hold ints or strings, got dtype {cameras.dtype}.")
    return cameras


def _known(cameras):
    if cameras.dtype.kind in "iu":
        return cameras != UNKNOWN_CAMERA
    return np.ones(cameras.shape[0], dtype=bool)


def _group_sums(X, groups, n_groups):
    """Row sums of ``X`` per group id in ``range(n_groups)`` (every group non-empty)."""
    if not n_groups:
        return np.zeros((0, X.shape[1]))
    order = np.argsort(groups, kind="stable")
    starts = np.searchsorted(groups[order], np.arange(n_groups))
    return np.add.reduceat(X[order], starts, axis=0)


def _power(cov, power):
    """``cov ** power`` of a symmetric positive (semi-)definite matrix."""
    evals, evecs = np.linalg.eigh(cov)
    floor = max(float(evals.max(initial=0.0)), 1e-30) * 1e-12
    return (evecs * np.maximum(evals, floor) ** power) @ evecs.T


class CameraStatistics:
    """Each camera's mean embedding (and whitening map), with global ones as a fallback.

    Fitted on embeddings and their camera ids (no identity labels), it normalises embeddings
    of the same cameras: ``mode="center"`` subtracts the camera's mean; ``mode="whiten"``
    then also aligns the camera's covariance with the shared one: whitened with the camera's
    covariance, re-coloured with the covariance ``C`` of all cameras' centred embeddings
    (CORAL, Sun et al., "Return of Frustratingly Easy Domain Adaptation", AAAI 2016), so that
    the embedding keeps the geometry the model learned (plain whitening, which equalises every
    direction, measured far worse). The camera's covariance is shrunk toward ``C``
    (``shrinkage``): estimated from a few hundred images in hundreds of dimensions, its
    smallest directions are noise, and inverting them unshrunk wrecked the ranking of *other*
    images of the camera (rank-1 5.7 % instead of 42.0 % in ``benchmarks/camera_norm.py``'s
    adapt-set rows). The distance used afterwards is unchanged: with ``metric="cosine"`` the
    normalised embeddings are compared by angle.

    Parameters
    ----------
    mode : {"center", "whiten"}, default="center"
    min_samples : int, default=5
        A camera with fewer images uses the global statistics (its own mean would be mostly
        noise: one image would be centred to zero).
    shrinkage : float in [0, 1], default=0.5
        ``mode="whiten"``: each camera's covariance is ``(1 - shrinkage) * its own +
        shrinkage * C`` (``C``, the shared covariance, is Ledoit-Wolf shrunk). 0 aligns the
        cameras' sample covariances exactly; 1 is centring only.

    Attributes
    ----------
    cameras_ : ndarray of shape (n_cameras,)
        The cameras seen in ``fit`` (sorted; ints or strings). Camera ``-1`` (unknown) is
        never one of them.
    counts_ : ndarray of shape (n_cameras,)
        Images of each camera.
    means_ : ndarray of shape (n_cameras, n_features), float64
        Each camera's mean (the global mean for cameras under ``min_samples`` images).
    global_mean_ : ndarray of shape (n_features,), float64
        Mean of all images: used for unknown (``-1``) and unseen cameras.
    whitening_ : ndarray of shape (n_cameras, n_features, n_features) or None
        Each camera's alignment map (``mode="whiten"``): ``C_c ** -1/2 @ C ** 1/2``, ``C_c``
        the camera's (shrunk) covariance and ``C`` that of all camera-centred embeddings (the
        identity for cameras under ``min_samples`` images).
    global_whitening_ : ndarray of shape (n_features, n_features) or None
        The map of unknown and unseen cameras: the identity (centring only).
    n_features_ : int

    Notes
    -----
    Images of a camera that was not seen in ``fit`` are normalised with the global
    statistics, with an :class:`UnseenCameraWarning` naming the cameras; images of camera
    ``-1`` (unknown, skreid's convention) or without cameras (``cameras=None``) too, without
    a warning. With the global statistics, centring moves every such image by the same
    vector, so it changes nothing between them.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import CameraStatistics
    >>> X = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 5.0], [0.0, 7.0]])
    >>> stats = CameraStatistics(min_samples=1).fit(X, cameras=[1, 1, 2, 2])
    >>> stats.means_
    array([[2., 0.],
           [0., 6.]])
    >>> stats.transform(X, cameras=[1, 1, 2, 2])
    array([[-1.,  0.],
           [ 1.,  0.],
           [ 0., -1.],
           [ 0.,  1.]])
    """

    def __init__(self, mode="center", *, min_samples=5, shrinkage=0.5):
        self.mode = mode
        self.min_samples = min_samples
        self.shrinkage = shrinkage

    def _check_params(self):
        if self.mode not in CAMERA_NORMALIZATIONS:
            raise ValueError(f"mode must be one of {list(CAMERA_NORMALIZATIONS)}, got "
                             f"{self.mode!r}.")
        if (isinstance(self.min_samples, bool) or not isinstance(self.min_samples,
                                                                  numbers.Integral)
                or self.min_samples < 1):
            raise ValueError(f"min_samples must be an int >= 1, got {self.min_samples!r}.")
        if (isinstance(self.shrinkage, bool) or not isinstance(self.shrinkage, numbers.Real)
                or not 0 <= self.shrinkage <= 1):
            raise ValueError(f"shrinkage must be a number in [0, 1], got {self.shrinkage!r}.")

    def _check_fitted(self):
        if not hasattr(self, "means_"):
            raise ValueError("this CameraStatistics is not fitted: call fit(X, cameras) first.")

    def fit(self, X, cameras):
        """Estimate each camera's statistics from embeddings ``X`` and their ``cameras``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        cameras : array-like of shape (n_samples,)
            Camera id of each row (ints or strings; ``-1``: unknown, used only for the
            global statistics).

        Returns
        -------
        self : CameraStatistics
        """
        self._check_params()
        X = check_features(X, "X").astype(np.float64, copy=False)
        cameras = _check_cameras(cameras, X.shape[0], "cameras", "X")
        known = _known(cameras)
        cams, inverse, counts = np.unique(cameras[known], return_inverse=True,
                                          return_counts=True)
        sums = _group_sums(X[known], inverse, len(cams))
        global_mean = X.mean(axis=0)
        own = counts >= self.min_samples
        means = np.where(own[:, None], sums / np.maximum(counts, 1)[:, None], global_mean)
        whitening = global_whitening = None
        if self.mode == "whiten":
            centred = X[known] - means[inverse]
            if not len(centred):  # no known camera: the global statistics only
                centred = X - global_mean
            from sklearn.covariance import ledoit_wolf

            shared, _ = ledoit_wolf(centred, assume_centered=True)
            recolour, a = _power(shared, 0.5), float(self.shrinkage)
            global_whitening = np.eye(X.shape[1])
            whitening = np.empty((len(cams), X.shape[1], X.shape[1]))
            for c in range(len(cams)):
                rows = centred[inverse == c]
                cov = (1 - a) * (rows.T @ rows) / max(len(rows), 1) + a * shared
                whitening[c] = _power(cov, -0.5) @ recolour if own[c] else global_whitening
        self.cameras_, self.counts_ = cams, counts
        self.means_, self.global_mean_ = means, global_mean
        self.whitening_, self.global_whitening_ = whitening, global_whitening
        self.n_features_ = X.shape[1]
        return self

    def camera_codes(self, cameras, n, *, warn=True, name="cameras", stacklevel=2):
        """Row of ``cameras_`` for each camera, -1 for unknown and unseen cameras (warning
        once, naming the unseen ones, when ``warn``)."""
        self._check_fitted()
        if cameras is None:
            return np.full(n, -1, dtype=np.intp)
        cameras = _check_cameras(cameras, n, name, "X")
        if len(self.cameras_) and (cameras.dtype.kind in "US") != (
                self.cameras_.dtype.kind in "US"):
            raise ValueError(f"{name} ({cameras.dtype}) cannot be compared with the cameras the "
                             f"statistics were fitted on ({self.cameras_.dtype}): use numbers "
                             "on both sides or strings on both sides.")
        pos = np.searchsorted(self.cameras_, cameras)
        pos = np.minimum(pos, max(len(self.cameras_) - 1, 0))
        seen = (self.cameras_[pos] == cameras) if len(self.cameras_) else np.zeros(n, bool)
        unseen = ~seen & _known(cameras)
        if warn and unseen.any():
            names = np.unique(cameras[unseen])
            warnings.warn(
                f"{name} holds camera(s) {names[:10].tolist()}"
                f"{' and more' if len(names) > 10 else ''} that the camera statistics were not "
                f"fitted on (fitted on {self.cameras_[:10].tolist()}); their "
                f"{int(unseen.sum())} embedding(s) are normalised with the global statistics.",
                UnseenCameraWarning, stacklevel=stacklevel)
        return np.where(seen, pos, -1)

    def transform(self, X, cameras=None):
        """Normalise embeddings ``X`` with the statistics of their ``cameras``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        cameras : array-like of shape (n_samples,), optional
            None: every row gets the global statistics.

        Returns
        -------
        X_normalized : ndarray of shape (n_samples, n_features)
            float32 for float32 input, float64 otherwise.
        """
        return self._transform(X, cameras)

    def _transform(self, X, cameras, name="cameras", stacklevel=4):
        self._check_fitted()
        X = check_features(X, "X")
        if X.shape[1] != self.n_features_:
            raise ValueError(f"X has {X.shape[1]} features but the camera statistics were "
                             f"fitted on {self.n_features_}.")
        codes = self.camera_codes(cameras, X.shape[0], name=name, stacklevel=stacklevel)
        means = np.concatenate([self.means_, self.global_mean_[None]])
        out = X - means[codes].astype(X.dtype)  # code -1 picks the global row
        if self.whitening_ is not None:
            maps = np.concatenate([self.whitening_, self.global_whitening_[None]])
            for code in np.unique(codes):
                rows = codes == code
                out[rows] = out[rows] @ maps[code].astype(X.dtype)
        return out

    def fit_transform(self, X, cameras):
        """``fit(X, cameras).transform(X, cameras)``."""
        return self.fit(X, cameras).transform(X, cameras)

    # ----------------------------------------------------------------- storage
    def to_dict(self):
        """The fitted statistics as plain values and arrays (what skreid files store)."""
        self._check_fitted()
        out = {"mode": self.mode, "min_samples": int(self.min_samples),
               "shrinkage": float(self.shrinkage),
               "cameras": self.cameras_, "counts": self.counts_, "means": self.means_,
               "global_mean": self.global_mean_}
        if self.whitening_ is not None:
            out["whitening"], out["global_whitening"] = self.whitening_, self.global_whitening_
        return out

    @classmethod
    def from_dict(cls, values):
        """Rebuild statistics saved by :meth:`to_dict`, checking their shapes."""
        try:
            stats = cls(values["mode"], min_samples=values["min_samples"],
                        shrinkage=values.get("shrinkage", 0.5))
            stats._check_params()
            means = np.asarray(values["means"], dtype=np.float64)
            global_mean = np.asarray(values["global_mean"], dtype=np.float64)
            cams, counts = np.asarray(values["cameras"]), np.asarray(values["counts"])
            d = global_mean.shape[0] if global_mean.ndim == 1 else -1
            if (global_mean.ndim != 1 or means.shape != (len(cams), d) or cams.ndim != 1
                    or counts.shape != cams.shape or cams.dtype.kind not in "iuUS"):
                raise ValueError("arrays of inconsistent shapes")
            whitening = global_whitening = None
            if stats.mode == "whiten":
                whitening = np.asarray(values["whitening"], dtype=np.float64)
                global_whitening = np.asarray(values["global_whitening"], dtype=np.float64)
                if whitening.shape != (len(cams), d, d) or global_whitening.shape != (d, d):
                    raise ValueError("whitening maps of inconsistent shapes")
            if not all(np.isfinite(a).all() for a in (means, global_mean) if a.size):
                raise ValueError("non-finite statistics")
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not valid camera statistics ({exc}).") from None
        stats.cameras_, stats.counts_ = cams, counts
        stats.means_, stats.global_mean_ = means, global_mean
        stats.whitening_, stats.global_whitening_ = whitening, global_whitening
        stats.n_features_ = d
        return stats

    def __repr__(self):
        fitted = (f", {len(self.cameras_)} cameras, {self.n_features_}-d"
                  if hasattr(self, "means_") else "")
        return f"CameraStatistics(mode={self.mode!r}{fitted})"


def camera_normalize(X, cameras, *, mode="center", min_samples=5, shrinkage=0.5):
    """Normalise embeddings with their own cameras' statistics, in one call.

    ``CameraStatistics(mode, min_samples=min_samples).fit_transform(X, cameras)``: each
    camera's mean (``"center"``), and covariance (``"whiten"``), estimated from ``X`` itself
    and taken out. To normalise other embeddings (queries) with the same statistics, fit a
    :class:`CameraStatistics` and call its ``transform``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    cameras : array-like of shape (n_samples,)
        Camera ids (ints or strings; ``-1``: unknown).
    mode : {"center", "whiten"}, default="center"
    min_samples : int, default=5
        Cameras with fewer images use the global statistics.
    shrinkage : float in [0, 1], default=0.5
        ``mode="whiten"``: how far each camera's covariance is shrunk toward the shared one.

    Returns
    -------
    X_normalized : ndarray of shape (n_samples, n_features)

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.metrics.pairwise import camera_normalize
    >>> camera_normalize([[1.0, 1.0], [3.0, 1.0], [5.0, 5.0], [7.0, 5.0]], [0, 0, 1, 1],
    ...                  min_samples=2)
    array([[-1.,  0.],
           [ 1.,  0.],
           [-1.,  0.],
           [ 1.,  0.]])
    """
    return CameraStatistics(mode, min_samples=min_samples,
                            shrinkage=shrinkage).fit_transform(X, cameras)
