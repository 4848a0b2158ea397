"""skreid's one pixel rule, used by every estimator that reads images and by
:mod:`skreid.runtime`: how a batch's pixel scale is read (:func:`pixel_range`), matched to the
scale seen in ``fit`` (:func:`match_pixel_range`) and applied (:func:`apply_pixel_rule`), and
the images of an estimator's ``fit``/``transform`` read under it (:func:`check_image_input`).
"""

import warnings

import numpy as np

from skreid.utils._validation import check_images


class PixelScaleWarning(UserWarning):
    """Images whose pixel scale does not match the one the estimator was fitted on."""


def pixel_range(X, name="X"):
    """The pixel scale of an image batch under skreid's rule: 255.0 or 1.0.

    The rule, the same for every skreid estimator and for :mod:`skreid.runtime`: integer
    images (uint8, uint16, ...) hold pixels in [0, 255]; float images hold them in [0, 1]
    when no value exceeds 1, else in [0, 255]. Values outside [0, 255] are not pixels
    (normalised images, say, or 16-bit ones) and booleans are masks, not images: both raise
    ValueError naming ``name``.

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.utils import pixel_range
    >>> pixel_range(np.ones((1, 2, 2, 3), np.uint8)), pixel_range(np.full((1, 2, 2), 0.5))
    (255.0, 1.0)
    """
    X = np.asarray(X)
    if X.dtype == bool:
        raise ValueError(
            f"{name} holds booleans (dtype bool), not pixel values: pass a mask as "
            f"{name}.astype(np.uint8) * 255, or images as uint8 (0-255) or floats."
        )
    if X.size == 0:
        return 255.0
    low, high = float(X.min()), float(X.max())
    if not (low >= 0 and high <= 255):  # NaN compares False: refused here too
        raise ValueError(
            f"{name} has pixel values in [{low:.4g}, {high:.4g}] (dtype {X.dtype}), outside "
            f"[0, 255]: pass images with pixels in [0, 255] (uint8, or floats) or [0, 1] "
            f"(floats), not normalised or 16-bit values."
        )
    if np.issubdtype(X.dtype, np.floating):
        return 1.0 if high <= 1.0 else 255.0
    return 255.0  # integer dtype: 0-255 whatever the values (uint8 masks of 0/1 stay 0/1)


def _owner_name(estimator):
    return estimator if isinstance(estimator, str) else type(estimator).__name__


def match_pixel_range(X, fitted_range, *, estimator, name="X"):
    """Factor that brings image batch ``X`` to the pixel scale seen in ``fit`` (1, 255 or 1/255).

    Integer ``X`` is always read as [0, 255] (so ``uint8`` works after a fit on [0, 1] floats).
    Float ``X`` is read on the fitted scale, checked: values above 1 after a fit on [0, 1]
    floats raise ValueError; floats that all lie in [0, 1] after a fit on [0, 255] pixels give a
    :class:`PixelScaleWarning` (they are probably ``X / 255``; an all-black batch is not
    warned about). ``estimator`` (an estimator, or a string naming the model) is named in the
    messages.
    """
    X = np.asarray(X)
    if X.size == 0 or fitted_range is None:
        return 1.0
    got = pixel_range(X, name)
    owner = _owner_name(estimator)
    if not np.issubdtype(X.dtype, np.floating):
        return float(fitted_range) / 255.0
    if got == fitted_range:
        return 1.0
    if fitted_range == 1.0:
        raise ValueError(
            f"{name} has float pixels up to {float(X.max()):.4g}, but {owner} was fitted on "
            f"float pixels in [0, 1]: pass {name} / 255 (or uint8 images)."
        )
    if float(X.max()) > 0:
        warnings.warn(
            f"{name} holds float pixels in [0, 1] (max {float(X.max()):.4g}), but {owner} was "
            f"fitted on pixels in [0, 255]; they are read as [0, 255] (nearly black images). "
            f"Pass {name} * 255 or uint8 images, or fit on [0, 1] floats.",
            PixelScaleWarning,
            stacklevel=4,
        )
    return 1.0


def apply_pixel_rule(X, fitted_range=None, *, reset=False, estimator, name="X",
                     keep_uint8=False):
    """skreid's pixel rule applied to an image batch: ``(pixels, pixel_range)``.

    The one implementation every estimator and :mod:`skreid.runtime` call. With ``reset``
    (``fit``), the batch's scale is read (:func:`pixel_range`) and returned for the caller
    to record as ``pixel_range_``; otherwise the batch is brought to ``fitted_range`` (the
    recorded scale; :func:`match_pixel_range`: integers read as [0, 255], floats checked or
    warned about). Pixels come back as float32 (uint8 kept when ``keep_uint8`` and no
    scaling is needed).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.utils import apply_pixel_rule
    >>> X, fitted = apply_pixel_rule(np.full((1, 2, 2, 3), 0.5), reset=True, estimator="m")
    >>> fitted, float(apply_pixel_rule(np.full((1, 2, 2, 3), 255, np.uint8), fitted,
    ...                                estimator="m")[0].max())
    (1.0, 1.0)
    """
    X = np.asarray(X)
    if reset:
        fitted_range, factor = pixel_range(X, name), 1.0
    else:
        factor = match_pixel_range(X, fitted_range, estimator=estimator, name=name)
    if factor == 1.0 and keep_uint8 and X.dtype == np.uint8:
        return X, fitted_range
    X = X.astype(np.float32, copy=False)
    if factor == 1.0:
        return X, fitted_range
    # integers onto a [0, 1] fit: divide by 255 (bit-identical to the caller's X / 255)
    return (X * np.float32(factor) if factor > 1 else X / np.float32(round(1 / factor))), \
        fitted_range


def check_image_input(X, *, image_shape=None, estimator=None, reset=True):
    """Images of an estimator's ``fit``/``transform`` as ``(n, h, w, c)`` (uint8 kept).

    Feature vectors (2-D or sparse ``X`` without ``image_shape``) are validated the
    scikit-learn way (sparse, object, 1-D, 0 features all refused), then read as 1x1 images
    with one channel per feature. Images follow skreid's pixel-scale rule
    (:func:`pixel_range`): with ``reset`` the scale is recorded as
    ``estimator._fit_pixel_range`` (the estimator publishes it once ``fit`` succeeds); later
    batches are read on ``estimator.pixel_range_`` (integers always as [0, 255]) or warned
    about. Without ``reset``, images of another shape than ``estimator.input_shape_`` are
    refused, in scikit-learn's wording for feature vectors.
    """
    import scipy.sparse as sp
    from sklearn.utils.validation import check_array

    owner = type(estimator).__name__
    X_arr = X if hasattr(X, "ndim") or sp.issparse(X) else np.asarray(X)
    if image_shape is None and (sp.issparse(X_arr) or X_arr.ndim <= 2):
        X = check_array(X_arr, dtype=np.float32, accept_sparse=False)
        X = check_images(X[:, None, None, :], name="X")
    else:
        X = check_images(X_arr, image_shape=image_shape, name="X", dtype=None)
        X, fitted = apply_pixel_rule(X, getattr(estimator, "pixel_range_", None), reset=reset,
                                     estimator=estimator, keep_uint8=True)
        if reset:
            estimator._fit_pixel_range = fitted
    fitted = None if reset else tuple(estimator.input_shape_)
    if fitted is not None and X.shape[1:] != fitted:
        if X.shape[1:3] == (1, 1):
            # flat feature vectors: sklearn's wording, which its common checks look for
            raise ValueError(f"X has {X.shape[3]} features, but {owner} is expecting "
                             f"{estimator.n_features_in_} features as input.")
        raise ValueError(
            f"X has images of shape {X.shape[1:]}, but {owner} was fitted on images of shape "
            f"{fitted} (n_features_in_={estimator.n_features_in_}); resize them first."
        )
    return X
