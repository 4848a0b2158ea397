"""Validation shared by every skreid package, done before any work starts (and before anything
reaches Keras, where an empty or zero-width array can abort the whole process).

What scikit-learn's ``_parameter_constraints`` cannot express lives here: the weights file
(it must exist), image shapes and sizes, the one feature-matrix check (:func:`check_features`)
and the one positive-integer check of the functions that are not estimators.
"""

import contextlib
import contextvars
import numbers
import os

import numpy as np

_NESTED = contextvars.ContextVar("skreid_skip_nested_validation", default=False)


@contextlib.contextmanager
def skip_nested_validation():
    """Within the block, skreid's checks trust the values they are handed.

    A public function that has validated its arguments calls the next layer inside this
    block, so that each value is validated once per call (scikit-learn's
    ``skip_parameter_validation`` does the same). Affects :func:`check_features` (arrays
    already checked pass through) and the ``rerank=``/``query_expansion=`` options of
    :mod:`skreid.metrics.pairwise` (resolved, not re-checked).
    """
    token = _NESTED.set(True)
    try:
        yield
    finally:
        _NESTED.reset(token)


def nested_validation_skipped():
    """True inside :func:`skip_nested_validation`."""
    return _NESTED.get()


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
    what = f"a positive number{' of ' + unit if unit else ''}{' or None' if allow_none else ''}"
    if isinstance(value, bool) or not isinstance(value, numbers.Real) \
            or not (np.isfinite(float(value)) and float(value) > 0):
        raise ValueError(f"{name} must be {what}, got {value!r}.")
    return float(value)


#: Luma weights of R, G, B for grayscale conversion: ITU-R BT.601 (OpenCV, Pillow, and skreid's
#: default everywhere: ``Grayscale``, ``PCAReID(grayscale=True)``, the Keras networks, LOMO)
#: and BT.709 (scikit-image).
LUMA_WEIGHTS = {"bt601": (0.299, 0.587, 0.114), "bt709": (0.2125, 0.7154, 0.0721)}


def check_features(X, name="X", *, dtype=None):
    """Return ``X`` as a 2-D float array of finite feature vectors, or raise a ValueError.

    The one feature check of skreid: the distance engine (:mod:`skreid.metrics.pairwise`),
    the evaluation, re-ranking and query expansion all use it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numbers (bools count); not sparse, not empty.
    name : str, default="X"
        The argument's name, for the error messages.
    dtype : numpy dtype, optional
        Convert to it. Default: float32 stays float32, anything else becomes float64.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        Not a copy when nothing had to change.
    """
    if (_NESTED.get() and isinstance(X, np.ndarray) and X.ndim == 2
            and X.dtype == (dtype or (np.float32 if X.dtype == np.float32 else np.float64))):
        return X  # checked by the caller (skip_nested_validation)
    if hasattr(X, "toarray"):
        raise ValueError(f"{name} is a sparse matrix; pass a dense array of features.")
    try:
        X = np.asarray(X)
    except Exception as exc:  # ragged lists
        raise ValueError(f"{name} could not be converted to an array: {exc}") from None
    if X.dtype == object or not (np.issubdtype(X.dtype, np.number) or X.dtype == bool) or (
            np.issubdtype(X.dtype, np.complexfloating)):
        raise ValueError(f"{name} must hold real numbers, got dtype {X.dtype}.")
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(
            f"{name} must be a non-empty 2-D array (n_samples, n_features), got an array of "
            f"shape {X.shape}."
        )
    if dtype is None:
        dtype = np.float32 if X.dtype == np.float32 else np.float64
    X = X.astype(dtype, copy=False)
    check_finite(X, name)
    return X


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


def check_images(X, *, image_shape=None, allow_flat=True, ensure_finite=True, dtype=np.float32,
                 name="X"):
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


#: The most bytes one batch of float32 network inputs may take (1 GiB): ``batch_size x height
#: x width x channels x 4`` at the working ``image_size``. The network's activations take many
#: times more, so a larger batch would exhaust the memory of a workstation rather than train.
MAX_BATCH_BYTES = 1 << 30


def check_batch_memory(batch_size, image_size, n_channels, *, name="image_size",
                       limit=MAX_BATCH_BYTES):
    """Raise ValueError when one float32 batch at ``image_size`` would exceed ``limit`` bytes
    (a checked size, :func:`check_image_size`'s tuple of positive ints, is not checked again)."""
    checked = type(image_size) is tuple and [type(v) for v in image_size] == [int, int]
    h, w = image_size if checked and min(image_size) > 0 else check_image_size(image_size, name)
    need = int(batch_size) * h * w * int(n_channels) * 4
    if need > limit:
        raise ValueError(
            f"{name}={(h, w)!r} with batch_size={int(batch_size)} and {int(n_channels)} "
            f"channel(s) needs {need / 2**30:.3g} GiB per float32 input batch, above the "
            f"{limit / 2**30:.3g} GiB limit (skreid.utils.MAX_BATCH_BYTES): use a smaller "
            f"image_size or batch_size."
        )
    return need
