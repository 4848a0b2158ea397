"""PCAReID: PCA ("eigen-people") re-ID, optionally followed by LDA, XQDA or KISSME."""

import numbers
from numbers import Integral, Real

import numpy as np
from scipy import linalg
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.decomposition import PCA
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from skreid.metrics.pairwise import check_rerank
from skreid.preprocessing import Grayscale, ResizeImages
from skreid.reid._base import ReIDMixin
from skreid.utils import apply_pixel_rule, check_image_size, check_images

__all__ = ["PCAReID"]

_PROJECTIONS = (None, "lda", "xqda", "kissme")


def _pair_covariances(Z, y):
    """Intra- and extra-personal covariances of all ordered pairs' differences.

    Uses sum_{i,j in S}(z_i - z_j)(z_i - z_j)^T = 2|S| Z_S^T Z_S - 2 s s^T (s = column sums of
    Z_S), so no pair is ever materialised (Liao et al. 2015, section 4.2).
    """
    n, d = Z.shape
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    sums = np.zeros((len(counts), d))
    np.add.at(sums, codes, Z)
    gram = Z.T @ Z
    # sum_k n_k * Z_k^T Z_k = Z^T diag(n_{y_i}) Z
    intra = 2 * (Z * counts[codes][:, None]).T @ Z - 2 * sums.T @ sums
    total = 2 * n * gram - 2 * np.outer(Z.sum(0), Z.sum(0))
    n_intra = float(np.sum(counts * (counts - 1)))
    n_extra = float(n * n - np.sum(counts**2))
    return intra / max(n_intra, 1.0), (total - intra) / max(n_extra, 1.0)


def _fit_xqda(Z, y, n_components, reg):
    """XQDA (Liao et al., CVPR 2015) as a linear map: z -> z @ W diag(sqrt(1 - 1/lambda)).

    W solves cov_E w = lambda cov_I w with W^T cov_I W = I, so XQDA's metric
    W (inv(W^T cov_I W) - inv(W^T cov_E W)) W^T = W diag(1 - 1/lambda) W^T is PSD on the kept
    directions (lambda > 1) and its square root is an embedding for plain Euclidean distance.
    """
    cov_i, cov_e = _pair_covariances(Z, y)
    cov_i += reg * np.trace(cov_i) / len(cov_i) * np.eye(len(cov_i))
    evals, evecs = linalg.eigh(cov_e, cov_i)
    order = np.argsort(evals)[::-1]
    evals, evecs = evals[order], evecs[:, order]
    keep = int(np.sum(evals > 1)) if n_components is None else n_components
    keep = max(1, min(keep, len(evals)))
    scale = np.sqrt(np.clip(1 - 1 / np.maximum(evals[:keep], 1e-12), 0, None))
    return evecs[:, :keep] * scale


def _fit_kissme(Z, y, n_components, reg):
    """KISSME (Koestinger et al., CVPR 2012): M = inv(cov_I) - inv(cov_E), clipped to PSD."""
    cov_i, cov_e = _pair_covariances(Z, y)
    eye = np.eye(len(cov_i))
    cov_i += reg * np.trace(cov_i) / len(cov_i) * eye
    cov_e += reg * np.trace(cov_e) / len(cov_e) * eye
    evals, evecs = linalg.eigh(linalg.inv(cov_i) - linalg.inv(cov_e))
    order = np.argsort(evals)[::-1]
    keep = int(np.sum(evals > 0)) if n_components is None else n_components
    keep = max(1, min(keep, len(evals)))
    order = order[:keep]
    return evecs[:, order] * np.sqrt(np.clip(evals[order], 0, None))


class PCAReID(ReIDMixin, ClassifierMixin, TransformerMixin, BaseEstimator):
    """Re-ID by PCA on pixels (or features), optionally followed by a learned projection.

    The report's classical baseline: images (optionally resized and converted to gray),
    flattened, projected on the principal components that keep ``n_components`` of the
    variance, and matched by nearest gallery neighbour. ``projection`` adds supervised metric
    learning from the training identities: Fisher LDA, XQDA (Liao et al., "Person
    Re-identification by Local Maximal Occurrence Representation and Metric Learning",
    CVPR 2015) or KISSME (Koestinger et al., CVPR 2012). It also works on feature vectors,
    e.g. after :class:`~skreid.reid.LOMOFeatures` in a Pipeline.

    Parameters
    ----------
    n_components : int or float in (0, 1], default=0.95
        Number of principal components, or the fraction of variance they must explain
        (the report used 0.90, 0.95 and 0.99). ``1.0`` keeps every component.
    whiten : bool, default=False
        Scale components to unit variance.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Gallery matching distance.
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of the query x gallery distances used by ``kneighbors``,
        ``gallery_distances``, ``decision_function``, ``predict`` and ``score`` (True: the
        paper's k1=20, k2=6, lambda_value=0.3, or a dict of them); see
        :func:`skreid.metrics.pairwise.rerank_k_reciprocal`. Helps multi-shot galleries only.
    camera_normalization : {None, "center", "whiten"}, default=None
        Per-camera normalisation of the gallery and query embeddings
        (:class:`skreid.metrics.pairwise.CameraStatistics`, fitted on the gallery's cameras at
        ``fit``/``set_gallery``): subtract each camera's mean embedding, and with
        ``"whiten"`` whiten with its covariance. The query methods take the queries'
        ``cameras=``; see :class:`~skreid.reid.ReIDMixin`.
    image_size : int or (height, width), optional
        Resize images to this working size first (anti-aliased bilinear).
    grayscale : bool, default=False
        Convert RGB images to one BT.601 luminance channel first (1-channel images pass
        through; other channel counts are rejected, as by
        :class:`~skreid.preprocessing.Grayscale`).
    image_shape : (height, width[, channels]), optional
        Shape of the images when ``X`` holds flat vectors. Flat 2-D ``X`` without
        ``image_shape`` is taken as feature vectors (no resizing or grayscale possible).
    projection : {None, "lda", "xqda", "kissme"}, default=None
        Supervised projection learned after PCA.
    projection_components : int, optional
        Dimension of the projection. Default: ``n_classes - 1`` for LDA, the directions where
        extra-personal variance exceeds intra-personal variance for XQDA, the positive
        directions of the KISSME metric.
    reg : float, default=1e-3
        Ridge added to the covariances of XQDA/KISSME, relative to their mean eigenvalue.
    random_state : int, RandomState or None, default=None
        Seed of the randomized PCA solver (used when it is faster).

    Attributes
    ----------
    pca_ : sklearn.decomposition.PCA
    n_components_ : int
        Principal components kept.
    explained_variance_ratio_ : ndarray of shape (n_components,)
    projection_ : ndarray of shape (n_components, n_dims) or None
        Linear map applied after PCA (the LDA scalings, XQDA or KISSME square-root metric).
    input_shape_ : tuple or None
        Image shape seen in fit (None for feature vectors).
    n_features_in_ : int
        Values per sample seen in fit (pixels of an image, or features).
    pixel_range_ : float or None
        Pixel scale of the training images under skreid's rule (255.0 or 1.0, see
        :func:`skreid.utils.pixel_range`; None for feature vectors). ``transform`` reads
        integer images as [0, 255] and float images on this scale, warning
        (:class:`~skreid.utils.PixelScaleWarning`) on [0, 1] floats after a fit on [0, 255].
    working_shape_ : tuple or None
        Image shape after resizing/grayscale; ``inverse_transform`` returns this shape.
    classes_, gallery_embeddings_, gallery_ids_, gallery_cameras_, gallery_tracklets_, \
camera_statistics_
        See :class:`~skreid.reid.ReIDMixin`; the gallery is the training set until
        :meth:`set_gallery` is called.

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.reid import PCAReID
    >>> people = make_people(n_identities=10, n_images_per_identity=4, image_shape=(32, 16, 3),
    ...                      random_state=0)
    >>> est = PCAReID(n_components=0.9, grayscale=True).fit(people.images, people.person_ids)
    >>> est.transform(people.images).shape[0]
    40
    >>> est.score(people.images, people.person_ids)
    1.0
    """

    _parameter_constraints = {
        "n_components": [Interval(Integral, 1, None, closed="left"),
                         Interval(Real, 0, 1, closed="right")],
        "whiten": ["boolean"],
        **ReIDMixin._reid_parameter_constraints,  # metric, rerank, camera_normalization
        "image_size": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "grayscale": ["boolean"],
        "image_shape": ["array-like", None],
        "projection": [StrOptions({p for p in _PROJECTIONS if p}), None],
        "projection_components": [Interval(Integral, 1, None, closed="left"), None],
        "reg": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    }

    def __init__(
        self,
        n_components=0.95,
        *,
        whiten=False,
        metric="euclidean",
        rerank=None,
        camera_normalization=None,
        image_size=None,
        grayscale=False,
        image_shape=None,
        projection=None,
        projection_components=None,
        reg=1e-3,
        random_state=None,
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.metric = metric
        self.rerank = rerank
        self.camera_normalization = camera_normalization
        self.image_size = image_size
        self.grayscale = grayscale
        self.image_shape = image_shape
        self.projection = projection
        self.projection_components = projection_components
        self.reg = reg
        self.random_state = random_state

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """What ``_parameter_constraints`` cannot express: the rerank dict (the image size is
        checked where it is used, in :meth:`_as_matrix`)."""
        check_rerank(self.rerank)

    def _as_matrix(self, X, reset):
        """Validate X and return the flat working matrix (resized/gray images or features)."""
        # ndim without np.ndim(X): that would defeat array-likes that only offer __array__
        ndim = len(X.shape) if hasattr(X, "shape") else np.asarray(X).ndim
        image_shape = self.image_shape
        if not reset and ndim == 2 and image_shape is None and self._fitted_on_images():
            image_shape = self.input_shape_  # flat rows of a model fitted on images
        if ndim <= 2 and image_shape is None:
            if self.image_size is not None or self.grayscale:
                raise ValueError(
                    "image_size and grayscale need images: X is 2-D, so pass "
                    "image_shape=(height, width[, channels]) to read its rows as images."
                )
            X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
            if reset:
                self.input_shape_ = self.working_shape_ = self.pixel_range_ = None
            return X
        images = check_images(X, image_shape=image_shape, dtype=None)
        size = None if self.image_size is None else check_image_size(self.image_size, "image_size")
        if self.grayscale and images.shape[3] not in (1, 3):
            raise ValueError(
                f"grayscale=True needs 1 or 3 channels (like skreid.preprocessing.Grayscale), "
                f"got images of shape {images.shape[1:]}."
            )
        # skreid's pixel-scale rule (skreid.utils.pixel_range), the same in fit and transform
        images, fitted = apply_pixel_rule(images, getattr(self, "pixel_range_", None),
                                          reset=reset, estimator=self)
        if reset:
            self.pixel_range_ = fitted
            self.input_shape_ = images.shape[1:]
            self.n_features_in_ = int(np.prod(self.input_shape_))
        else:
            check_is_fitted(self, "pca_")
            if self.input_shape_ is None or images.shape[1:] != self.input_shape_:
                raise ValueError(
                    f"X holds images of shape {images.shape[1:]}, but PCAReID was fitted on "
                    f"{'feature vectors' if self.input_shape_ is None else self.input_shape_}."
                )
        # the working images are made by skreid.preprocessing's transformers, so that
        # PCAReID(image_size=..., grayscale=True) equals a Pipeline of them
        if size is not None:
            images = ResizeImages(size).transform(images)
        if self.grayscale:
            images = Grayscale().transform(images)
        if reset:
            self.working_shape_ = images.shape[1:]
        return images.reshape(len(images), -1)

    def _fitted_on_images(self):
        return getattr(self, "input_shape_", None) is not None

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Learn the PCA (and projection) from training images and identities.

        The training set becomes the gallery, so ``predict``/``score`` work straight away.
        """
        self._check_params()
        y = self._check_reid_targets(y)  # cheap: before any resizing
        M = self._as_matrix(X, reset=True)
        if len(y) != len(M):
            raise ValueError(f"y has {len(y)} labels but X has {len(M)} samples.")
        max_comp = min(M.shape)
        n = self.n_components
        if isinstance(n, numbers.Integral) and n > max_comp:
            raise ValueError(
                f"n_components={n} is larger than possible: at most min(n_samples, "
                f"n_features) = {max_comp} for X of shape {M.shape}."
            )
        if isinstance(n, numbers.Integral):
            solver = "randomized" if n < 0.5 * max_comp and max_comp > 500 else "auto"
            pca = PCA(n, whiten=self.whiten, svd_solver=solver, random_state=self.random_state)
        else:
            # A variance fraction needs the whole spectrum; with more samples than features the
            # eigendecomposition of the covariance gives it several times faster than a full SVD.
            solver = "covariance_eigh" if M.shape[0] >= M.shape[1] else "full"
            pca = PCA(None if n == 1 else float(n), whiten=self.whiten, svd_solver=solver)
        Z = pca.fit_transform(M).astype(np.float64)
        projection = self._fit_projection(Z, y)  # may reject y: set nothing before it
        self.pca_ = pca
        self.n_components_ = int(pca.n_components_)
        self.explained_variance_ratio_ = pca.explained_variance_ratio_
        self.projection_ = projection
        embeddings = Z if self.projection_ is None else Z @ self.projection_
        return self._set_gallery_embeddings(embeddings, y)

    def _fit_projection(self, Z, y):
        if self.projection is None:
            return None
        pc = self.projection_components
        if self.projection == "lda":
            lda = LinearDiscriminantAnalysis(solver="eigen", shrinkage=self.reg or None)
            lda.fit(Z, y)
            n_dir = min(np.unique(y).size - 1, Z.shape[1])
            keep = n_dir if pc is None else min(pc, n_dir)
            # the eigen solver's scalings_ hold every direction; transform keeps the first ones
            return lda.scalings_[:, :keep]
        _, counts = np.unique(y, return_counts=True)
        if not (counts >= 2).any():
            raise ValueError(
                f"projection={self.projection!r} learns from pairs of images of the same "
                f"identity, but every identity in y has a single image; pass at least 2 images "
                f"of some identities, or use projection=None or 'lda'."
            )
        fit = _fit_xqda if self.projection == "xqda" else _fit_kissme
        try:
            return fit(Z, y, pc, self.reg)
        except linalg.LinAlgError as exc:
            raise ValueError(
                f"projection={self.projection!r} failed: the intra-personal covariance is "
                f"singular ({exc}); increase reg (now {self.reg!r}) or n_components' variance, "
                f"or pass more images per identity."
            ) from None

    # --------------------------------------------------------------- transform
    def transform(self, X):
        """Embed images: ``(n_samples, n_dims)`` PCA (then projection) coordinates."""
        check_is_fitted(self, "pca_")
        Z = self.pca_.transform(self._as_matrix(X, reset=False))
        if self.projection_ is not None:
            Z = Z @ self.projection_
        return Z.astype(np.float32)

    def inverse_transform(self, X):
        """Reconstruct images (the report's Figure 2) from PCA coordinates.

        Only without ``projection`` (LDA/XQDA/KISSME are not invertible). Returns images of
        ``working_shape_`` (after resizing/grayscale), or flat vectors for feature input.
        """
        check_is_fitted(self, "pca_")
        if self.projection_ is not None:
            raise ValueError(
                f"inverse_transform needs projection=None; projection={self.projection!r} "
                f"is not invertible."
            )
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_components_:
            raise ValueError(
                f"inverse_transform expects shape (n, {self.n_components_}), got {X.shape}."
            )
        flat = self.pca_.inverse_transform(X)
        if self.working_shape_ is None:
            return flat
        return flat.reshape((len(X),) + tuple(self.working_shape_)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
