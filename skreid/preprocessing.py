"""Image transformers for scikit-learn pipelines.

They take image batches (``(n, h, w)``, ``(n, h, w, c)``) and return image batches, so they
chain in a :class:`~sklearn.pipeline.Pipeline` before any estimator. The report's
preprocessing (128x64 RGB -> 64x32 grayscale -> 2,048 features) is one line::

    make_pipeline(ResizeImages((64, 32)), Grayscale(), FlattenImages())
"""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from skreid.utils import LUMA_WEIGHTS, check_image_size, check_images

__all__ = ["ResizeImages", "Grayscale", "FlattenImages"]


class _ImageTransformer(TransformerMixin, BaseEstimator):
    """Stateless image transformer: ``fit`` records the input image shape only."""

    _parameter_constraints = {}

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        X = check_images(X)
        self._check_params()
        self.input_shape_ = X.shape[1:]
        self.n_features_in_ = int(np.prod(self.input_shape_))
        return self

    def _check_params(self):
        pass

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags


class ResizeImages(_ImageTransformer):
    """Resize every image to ``size``, anti-aliased when shrinking.

    Parameters
    ----------
    size : int or (height, width)
        Output size in pixels.
    order : int, default=1
        Spline interpolation order (0 nearest, 1 bilinear, 3 bicubic), as in
        :func:`skimage.transform.resize`.
    anti_aliasing : bool, default=True
        Gaussian pre-filter when shrinking, so small details don't alias.

    Attributes
    ----------
    input_shape_ : tuple
        Shape of one image seen in ``fit``.
    n_features_in_ : int
        Its number of values.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.preprocessing import ResizeImages
    >>> ResizeImages((64, 32)).fit_transform(np.zeros((2, 128, 64, 3))).shape
    (2, 64, 32, 3)
    """

    _parameter_constraints = {
        "size": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "order": [Interval(Integral, 0, 5, closed="both")],
        "anti_aliasing": ["boolean"],
    }

    def __init__(self, size=(64, 32), *, order=1, anti_aliasing=True):
        self.size = size
        self.order = order
        self.anti_aliasing = anti_aliasing

    def _check_params(self):
        check_image_size(self.size, "size")

    def transform(self, X):
        from skimage.transform import resize  # imported here: skimage is slow to import

        X = check_images(X)
        height, width = check_image_size(self.size, "size")
        if X.shape[1:3] == (height, width):
            return X
        # skimage resizes all axes at once; keeping n and c fixed resizes each image/channel.
        out = resize(
            X,
            (X.shape[0], height, width, X.shape[3]),
            order=self.order,
            anti_aliasing=self.anti_aliasing and (height < X.shape[1] or width < X.shape[2]),
            preserve_range=True,
            mode="edge",
        )
        return out.astype(np.float32, copy=False)


class Grayscale(_ImageTransformer):
    """Convert RGB images to one luminance channel (``(n, h, w, 1)``).

    Parameters
    ----------
    weights : {"bt601", "bt709"} or tuple of 3 floats, default="bt601"
        Luma weights of R, G, B (:data:`skreid.utils.LUMA_WEIGHTS`). BT.601 matches OpenCV
        and Pillow, BT.709 scikit-image.
    keep_dims : bool, default=True
        Keep the trailing channel axis (``(n, h, w, 1)``) instead of ``(n, h, w)``.

    Attributes
    ----------
    input_shape_ : tuple
        Shape of one image seen in ``fit``.
    n_features_in_ : int
        Its number of values.

    Images that already have one channel pass through unchanged.
    """

    _parameter_constraints = {
        "weights": [StrOptions(set(LUMA_WEIGHTS)), "array-like"],
        "keep_dims": ["boolean"],
    }

    def __init__(self, weights="bt601", *, keep_dims=True):
        self.weights = weights
        self.keep_dims = keep_dims

    def _luma(self):
        if isinstance(self.weights, str):
            if self.weights not in LUMA_WEIGHTS:
                raise ValueError(
                    f"weights must be one of {sorted(LUMA_WEIGHTS)} or 3 floats, got "
                    f"{self.weights!r}."
                )
            return np.asarray(LUMA_WEIGHTS[self.weights], dtype=np.float32)
        w = np.asarray(self.weights, dtype=np.float32)
        if w.shape != (3,):
            raise ValueError(f"weights must have 3 values (R, G, B), got {self.weights!r}.")
        return w

    def _check_params(self):
        self._luma()

    def transform(self, X):
        X = check_images(X)
        if X.shape[3] == 1:
            out = X
        elif X.shape[3] == 3:
            out = (X @ self._luma())[..., np.newaxis]
        else:
            raise ValueError(
                f"Grayscale needs 1 or 3 channels, got images of shape {X.shape[1:]}."
            )
        return out if self.keep_dims else out[..., 0]


class FlattenImages(_ImageTransformer):
    """Flatten images to vectors of ``h * w * c`` features; ``inverse_transform`` reshapes back.

    Attributes
    ----------
    input_shape_ : tuple
        Shape of one image seen in ``fit``.
    n_features_in_ : int
        Its number of values.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.preprocessing import FlattenImages
    >>> flat = FlattenImages().fit(np.zeros((2, 64, 32, 1)))
    >>> flat.transform(np.zeros((2, 64, 32, 1))).shape
    (2, 2048)
    >>> flat.inverse_transform(np.zeros((2, 2048))).shape
    (2, 64, 32, 1)
    """

    def transform(self, X):
        X = check_images(X)
        return X.reshape(len(X), -1)

    def inverse_transform(self, X):
        check_is_fitted(self, "input_shape_")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"inverse_transform expects shape (n, {self.n_features_in_}), got {X.shape}."
            )
        return X.reshape((len(X),) + tuple(self.input_shape_))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        return tags
