"""Validation shared by every skreid package, done before any work starts (and before anything
reaches Keras, where an empty or zero-width array can abort the whole process).

What scikit-learn's ``_parameter_constraints`` cannot express lives here: the weights file
(it must exist), image shapes and sizes, and the one positive-integer check of the functions
that are not estimators.
"""

import numbers
import os
import warnings

import numpy as np


def check_positive_int(value, name, minimum=1):
    """Return ``value`` as an int >= ``minimum``, or raise a ValueError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def check_finite(X, name, what="values"):
    """Raise a ValueError naming ``name`` when float array ``X`` holds NaN or infinite
    entries, saying which (NaN embeddings are a broken model, not an overflow), how many
    rows and the first one."""
    X = np.asarray(X)
    if X.dtype.kind not in "fc" or np.isfinite(X).all():
        return
    rows = X.reshape(len(X), -1) if X.ndim > 1 else X.reshape(-1, 1)
    for label, test in (("NaN", np.isnan), ("infinite", np.isinf)):
        bad = np.flatnonzero(test(rows).any(axis=1))
        if bad.size:
            hint = ("check the model or data that produced them" if label == "NaN"
                    else "rescale them")
            raise ValueError(
                f"{name} contains {label} {what} (in {bad.size} row(s), first at row "
                f"{int(bad[0])}); {hint}."
            )


def check_positive_number(value, name, *, unit="", allow_none=False):
    """Return ``value`` as a float > 0 (finite), or raise a ValueError naming ``name``.

    For the numeric keyword arguments of functions (a ``timeout`` in seconds, a tolerance):
    ``timeout=-1`` or ``timeout="10"`` are refused here by name instead of deep inside the
    library that receives them ("could not convert string to float").
    """
    if value is None and allow_none:
        return None
    what = f"a number > 0{' (' + unit + ')' if unit else ''}{' or None' if allow_none else ''}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be {what}, got {value!r} ({type(value).__name__}).")
    if not (np.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return float(value)


def check_weights(weights, expected="", name="weights"):
    """Return ``weights`` if it is None, ``"imagenet"`` or an existing file, else raise.

    ``expected`` names the network the file must be for (e.g.
    ``"keras.applications.MobileNetV3Small(alpha=0.75, include_top=False)"``), so the message
    says what to pass. Whether the file fits that network is checked when it is loaded.
    """
    if weights is None or (isinstance(weights, str) and weights == "imagenet"):
        return weights
    what = f" for {expected}" if expected else ""
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError(
            f"{name} must be a path to a .weights.h5 file{what}, 'imagenet' or None, got "
            f"{weights!r}."
        )
    if os.path.isdir(weights):
        raise ValueError(
            f"{name} is a directory: {os.fspath(weights)!r}. Pass the path of a .weights.h5 "
            f"file{what}, 'imagenet' or None."
        )
    if not os.path.isfile(weights):
        raise ValueError(
            f"{name} file not found: {os.fspath(weights)!r}. Pass the path of an existing "
            f".weights.h5 file{what}, 'imagenet' or None."
        )
    return weights


def check_labels(labels, name, n=None, n_name=None):
    """Return a 1-D label array (ids or cameras), checking its length against ``n``."""
    if labels is None:
        raise ValueError(f"{name} is required, got None.")
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {labels.shape}.")
    if labels.dtype == object:
        # object arrays compare element by element in Python: refuse them early rather than
        # be slow (and possibly wrong, e.g. for mixed types) later.
        try:
            labels = (
                labels.astype(str)
                if all(isinstance(v, str) for v in labels)
                else (labels.astype(np.int64))
            )
        except (TypeError, ValueError):
            raise ValueError(
                f"{name} must hold ints or strings, got values of types "
                f"{sorted({type(v).__name__ for v in labels})}."
            ) from None
    if n is not None and labels.shape[0] != n:
        raise ValueError(
            f"{name} has {labels.shape[0]} entries but {n_name} has {n}: they must match."
        )
    return labels


def check_image_size(size, name="image_size"):
    """Return ``size`` as a ``(height, width)`` tuple of positive ints, or raise ValueError."""
    if isinstance(size, numbers.Integral) and not isinstance(size, bool):
        size = (int(size), int(size))
    try:
        height, width = (int(v) for v in size)
        if any(float(v) != int(v) for v in size):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be an int or a (height, width) pair of ints, got {size!r}."
        ) from None
    if height < 1 or width < 1:
        raise ValueError(f"{name} must be positive, got {(height, width)!r}.")
    return height, width


def check_images(
    X,
    *,
    image_shape=None,
    allow_flat=True,
    ensure_finite=True,
    dtype=np.float32,
    name="X",
):
    """Validate a batch of images and return it as a 4-D ``(n, height, width, channels)`` array.

    Parameters
    ----------
    X : array-like
        ``(n, h, w)`` grayscale images, ``(n, h, w, c)`` images, or ``(n, h * w * c)`` flat
        vectors when ``image_shape`` is given.
    image_shape : tuple of int, optional
        ``(h, w)`` or ``(h, w, c)``: required to read flat vectors; when given, images must
        match it.
    allow_flat : bool, default=True
        Whether 2-D input is accepted (it needs ``image_shape``).
    ensure_finite : bool, default=True
        Reject NaN and infinite pixels.
    dtype : numpy dtype or None, default=float32
        Output dtype; ``None`` keeps the input dtype.
    name : str, default="X"
        Name of the argument, used in error messages.

    Returns
    -------
    images : ndarray of shape (n, h, w, c)
    """
    if hasattr(X, "toarray") or type(X).__module__.startswith("scipy.sparse"):
        raise ValueError(
            f"{name} is a sparse matrix; sparse input is not supported: pass a dense image array."
        )
    try:
        X = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if np.iscomplexobj(X):
        raise ValueError(
            f"{name} holds complex numbers (dtype {X.dtype}): pixel values must be real; pass "
            f"np.abs(X) or X.real if that is what you mean."
        )
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
        raise ValueError(f"{name} must hold numbers (pixel values), got dtype {X.dtype}.")
    if X.ndim == 0 or X.shape[0] == 0:
        raise ValueError(
            f"{name} is empty (shape {X.shape}): at least one image is needed."
        )
    shape = None
    if image_shape is not None:
        shape = tuple(int(v) for v in image_shape)
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3 or min(shape) < 1:
            raise ValueError(
                f"image_shape must be (height, width) or (height, width, channels) of positive "
                f"ints, got {image_shape!r}."
            )
    if X.ndim == 2:
        if not allow_flat:
            raise ValueError(
                f"{name} must be images of shape (n, height, width[, channels]); got a 2-D array "
                f"of shape {X.shape}."
            )
        if shape is None:
            raise ValueError(
                f"{name} is 2-D (shape {X.shape}): flat vectors need image_shape=(height, width"
                f"[, channels]) so they can be read as images."
            )
        if X.shape[1] != int(np.prod(shape)):
            raise ValueError(
                f"{name} has {X.shape[1]} features per sample but image_shape={tuple(image_shape)} "
                f"needs {int(np.prod(shape))}."
            )
        X = X.reshape((X.shape[0],) + shape)
    elif X.ndim == 3:
        X = X[..., np.newaxis]
    elif X.ndim != 4:
        raise ValueError(
            f"{name} must have shape (n, h, w), (n, h, w, c) or (n, features); got {X.ndim}-D "
            f"shape {X.shape}."
        )
    if min(X.shape[1:]) == 0:
        raise ValueError(f"{name} has a zero-sized image dimension: shape {X.shape}.")
    if shape is not None and X.shape[1:] != shape:
        raise ValueError(
            f"{name} holds images of shape {X.shape[1:]} but image_shape={tuple(image_shape)} "
            f"was given."
        )
    if dtype is not None:
        X = X.astype(dtype, copy=False)
    if ensure_finite and np.issubdtype(X.dtype, np.floating) and not np.isfinite(X).all():
        bad = np.unique(np.nonzero(~np.isfinite(X.reshape(len(X), -1)))[0])
        raise ValueError(
            f"{name} contains NaN or infinite pixel values (in {bad.size} image(s), first at "
            f"index {int(bad[0])}); clean or impute them before fitting."
        )
    return X


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
# ----------------------------------------------------------------------------- pixel scale
#: The most bytes one batch of float32 network inputs may take (1 GiB): ``batch_size x height
#: x width x channels x 4`` at the working ``image_size``. The network's activations take many
#: times more, so a larger batch would exhaust the memory of a workstation rather than train.
MAX_BATCH_BYTES = 1 << 30


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


def check_batch_memory(batch_size, image_size, n_channels, *, name="image_size",
                       limit=MAX_BATCH_BYTES):
    """Raise ValueError when one float32 batch at ``image_size`` would exceed ``limit`` bytes."""
    h, w = check_image_size(image_size, name)
    need = int(batch_size) * h * w * int(n_channels) * 4
    if need > limit:
        raise ValueError(
            f"{name}={(h, w)!r} with batch_size={int(batch_size)} and {int(n_channels)} "
            f"channel(s) needs {need / 2**30:.3g} GiB per float32 input batch, above the "
            f"{limit / 2**30:.3g} GiB limit (skreid.utils.MAX_BATCH_BYTES): use a smaller "
            f"image_size or batch_size."
        )
    return need
