"""OnnxEmbedder and OnnxPetNet: exported skreid models as scikit-learn estimators.

Only onnxruntime, NumPy and scikit-learn are used; TensorFlow and Keras are never imported
(``skreid.reid``'s ``ReIDMixin`` is plain NumPy, ``TripletEmbedder`` is loaded lazily there).
"""

import os
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skreid.reid import REID_METRICS, ReIDMixin
from skreid.runtime._session import (
    check_runtime_images,
    expected_image_shape,
    load_session,
    run_batches,
)
from skreid.utils import resize_bilinear

__all__ = ["OnnxEmbedder", "OnnxPetNet"]


_CONSTRAINTS = {
    "path": [str, os.PathLike],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "providers": [list, tuple, None],
    "n_threads": [Interval(Integral, 1, None, closed="left"), None],
}


class _OnnxModelMixin:
    """Session handling shared by the runtime estimators: open in ``fit``, re-open after
    unpickling (an onnxruntime session cannot be pickled; the file's path is a parameter)."""

    _kind = None

    def _load(self):
        self._session, self.metadata_ = load_session(
            self.path, kind=self._kind, providers=self.providers, n_threads=self.n_threads)
        self.path_ = os.path.abspath(os.fspath(self.path))

    def _run(self, X, outputs):
        check_is_fitted(self, "metadata_")
        X = check_runtime_images(X, self.metadata_, self.path_)
        if getattr(self, "_session", None) is None:  # unpickled: open the file again
            self._load()
        return run_batches(self._session, X, self.batch_size, list(outputs))

    def __getstate__(self):
        state = dict(super().__getstate__())
        state.pop("_session", None)
        return state


class OnnxEmbedder(_OnnxModelMixin, ReIDMixin, ClassifierMixin, TransformerMixin,
                   BaseEstimator):
    """A re-ID embedder exported by :func:`skreid.export_onnx`, run by onnxruntime.

    ``transform`` gives the same L2-normalised embeddings as the exported
    :class:`~skreid.reid.TripletEmbedder`'s (its resize, scaling and flip averaging are in
    the graph); the gallery matching (``set_gallery``, ``kneighbors``, ``predict``,
    ``score``) is :class:`~skreid.reid.ReIDMixin`'s, the one every skreid re-ID estimator
    uses. No TensorFlow needed: ``pip install 'skreid[runtime]'``.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Gallery distance (the embeddings are unit-norm, so both rank alike).
    camera_normalization : {None, "center", "whiten"}, default=None
        Per-camera normalisation of the gallery and query embeddings, as in
        :class:`~skreid.reid.TripletEmbedder` (see :class:`~skreid.reid.ReIDMixin`).
    batch_size : int, default=16
        Images per onnxruntime call. On a CPU small calls are the fastest (their activations
        stay in cache): the default MobileNet embedder at 256x128 with flip averaging ran
        at 726 / 837 / 746 / 627 / 494 / 383 / 116 images/s with 1 / 8 / 16 / 32 / 64 / 128
        / 256 images per call on 2 cores (``benchmarks/inference.py``).
    providers : list of str or None, default=None
        onnxruntime execution providers (``None``: CPU).
    n_threads : int or None, default=None
        onnxruntime intra-op threads (``None``: one per physical core).

    Attributes
    ----------
    metadata_ : dict
        What the exporter recorded (estimator class and parameters, versions, input rule,
        verification result).
    path_ : str
        Absolute path of the loaded file.
    input_shape_ : tuple of int
        ``(height, width, channels)`` the graph expects; ``n_features_in_`` its size.
    classes_, gallery_embeddings_, gallery_ids_, gallery_cameras_, gallery_tracklets_, \
camera_statistics_ :
        The gallery, after ``fit(X, y)`` or ``set_gallery`` (see
        :class:`~skreid.reid.ReIDMixin`).

    Examples
    --------
    Not run by the test suite (``+SKIP``): it needs an exported file (exporting takes
    TensorFlow and tf2onnx; ``tests/runtime`` does it).

    >>> from skreid.runtime import OnnxEmbedder  # doctest: +SKIP
    >>> emb = OnnxEmbedder("embedder.onnx").fit()  # doctest: +SKIP
    >>> emb.set_gallery(gallery_images, gallery_ids).predict(query_images)  # doctest: +SKIP
    """

    _kind = "embedder"
    _parameter_constraints = {**_CONSTRAINTS, "metric": [StrOptions(set(REID_METRICS))],
                              "camera_normalization":
                                  ReIDMixin._reid_parameter_constraints["camera_normalization"]}

    def __init__(self, path, *, metric="euclidean", camera_normalization=None, batch_size=16,
                 providers=None, n_threads=None):
        self.path = path
        self.metric = metric
        self.camera_normalization = camera_normalization
        self.batch_size = batch_size
        self.providers = providers
        self.n_threads = n_threads

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None, cameras=None):
        """Open and check the ONNX file; with ``X`` and ``y``, index them as the gallery.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c]), optional
            Gallery images (as for ``set_gallery``).
        y : array-like of shape (n,), optional
            Their identities; required with ``X``.
        cameras : array-like of shape (n,), optional

        Returns
        -------
        self : OnnxEmbedder
        """
        if X is not None and y is None:
            raise ValueError("fit(X) needs y (the gallery identities) with X, or neither.")
        self._load()
        self.input_shape_ = expected_image_shape(self.metadata_)
        self.n_features_in_ = int(np.prod(self.input_shape_))
        if X is not None:
            self._set_gallery_embeddings(self.transform(X), y, cameras)
        return self

    def _check_reid_fitted(self, method):
        # ReIDMixin's hook: set_gallery needs only the opened file (fit() without a gallery)
        if method == "set_gallery":
            check_is_fitted(self, "metadata_", msg=(
                "This %(name)s instance is not fitted yet: call fit() before set_gallery()."))
        else:
            check_is_fitted(self, "gallery_embeddings_", msg=(
                f"This %(name)s instance has no gallery: call fit(X, y) or set_gallery(X, y) "
                f"before {method}()."))

    def transform(self, X):
        """L2-normalised embeddings of images ``X``, shape ``(n_samples, n_dims)``, float32."""
        return self._run(X, ["embeddings"])[0].astype(np.float32, copy=False)

    def activation_maps(self, X, *, upsample=True):
        """What the embedding looks at, as the exported estimator's ``activation_maps``.

        The exported graph computes the energy (sum of squares over channels) of the trunk's
        last feature map, flip-averaged as the embeddings are; here it is upsampled to the
        images with :func:`skreid.utils.resize_bilinear`, as the Keras estimator does.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c])
        upsample : bool, default=True
            Resize the maps to the images' size; ``False`` gives the feature map's grid.

        Returns
        -------
        maps : ndarray of shape (n, h, w), float32

        Raises
        ------
        ValueError
            The file has no ``activation_maps`` output: exported before the metadata format
            2, or from a network whose trunk returns a vector.
        """
        check_is_fitted(self, "metadata_")
        if "activation_maps" not in self.metadata_.get("outputs", ()):
            raise ValueError(
                f"{self.path_!r} has no 'activation_maps' output (outputs "
                f"{self.metadata_.get('outputs')}): it was exported by skreid "
                f"{self.metadata_.get('versions', {}).get('skreid', '?')} with metadata format "
                f"{self.metadata_.get('format_version')} (maps need format 2), or from a "
                f"network whose trunk returns a vector. Export the estimator again with "
                f"skreid.export_onnx."
            )
        maps = self._run(X, ["activation_maps"])[0]
        return resize_bilinear(maps, self.input_shape_[:2]) if upsample else maps


class OnnxPetNet(_OnnxModelMixin, ClassifierMixin, BaseEstimator):
    """A pets network (:class:`~skreid.pets.MultiTaskPetNet` or
    :class:`~skreid.pets.FineTunedPetNet`) exported by :func:`skreid.export_onnx`.

    ``predict_proba``, ``predict`` and ``predict_mask`` give what the exported estimator's
    do (resize, test-time flip averaging and the mask's resize back to the image size are
    in the graph), with onnxruntime only.

    Parameters
    ----------
    path : str or path-like
        The ``.onnx`` file.
    batch_size : int, default=32
    providers : list of str or None, default=None
    n_threads : int or None, default=None

    Attributes
    ----------
    metadata_ : dict
    path_ : str
    classes_ : ndarray
        Breed labels, in the order of ``predict_proba``'s columns.
    segmentation_ : {"binary", "trimap"}
    """

    _kind = "petnet"
    _parameter_constraints = dict(_CONSTRAINTS)

    def __init__(self, path, *, batch_size=32, providers=None, n_threads=None):
        self.path = path
        self.batch_size = batch_size
        self.providers = providers
        self.n_threads = n_threads

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X=None, y=None):
        """Open and check the ONNX file (``X`` and ``y`` are ignored: nothing is trained)."""
        self._load()
        meta = self.metadata_
        self.classes_ = np.asarray(meta["classes"], dtype=meta.get("classes_dtype"))
        self.segmentation_ = meta["segmentation"]
        return self

    def predict_proba(self, X):
        """Breed probabilities, shape ``(n_images, n_classes)`` in the order of ``classes_``."""
        return self._run(X, ["breed_proba"])[0]

    def predict(self, X):
        """Predicted breed label of each image."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def predict_mask(self, X, return_proba=False):
        """Segment the images at their own resolution (as the estimator's ``predict_mask``).

        Returns
        -------
        masks : ndarray of shape (n, h, w), uint8
            0 pet, 1 background (2 border with ``segmentation="trimap"``); with
            ``return_proba=True`` the probabilities: ``(n, h, w)`` of "pet" (binary) or
            ``(n, h, w, 3)`` (trimap).
        """
        proba = self._run(X, ["mask_proba"])[0]
        if self.segmentation_ == "binary":
            proba = proba[..., 0]
            return proba if return_proba else np.where(proba >= 0.5, 0, 1).astype(np.uint8)
        return proba if return_proba else np.argmax(proba, axis=-1).astype(np.uint8)
