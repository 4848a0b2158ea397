"""Resizing low-resolution maps (activation energy, masks) to an image's size, in NumPy.

Shared by the Keras estimators and :mod:`skreid.runtime` (no TensorFlow there), so an
activation map upsampled from an exported ONNX graph equals the Keras estimator's.
"""

import numpy as np

__all__ = ["resize_bilinear"]


def _bilinear_matrix(n_in, n_out):
    """``(n_out, n_in)`` matrix of bilinear interpolation with half-pixel centres."""
    centres = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    centres = np.clip(centres, 0, n_in - 1)  # edges clamped: no extrapolation
    low = np.floor(centres).astype(np.intp)
    high = np.minimum(low + 1, n_in - 1)
    frac = (centres - low).astype(np.float32)
    matrix = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    np.add.at(matrix, (rows, low), 1.0 - frac)
    np.add.at(matrix, (rows, high), frac)
    return matrix


def resize_bilinear(maps, size):
    """Resize a batch of 2-D maps to ``size`` with bilinear interpolation.

    Pixel centres are aligned as in ``keras.ops.image.resize`` without antialiasing (and
    ONNX ``Resize`` with ``half_pixel`` coordinates); values beyond the border are the
    border's. Meant for upsampling a feature map's coarse grid to the image (downsampling
    skips samples, with no antialiasing).

    Parameters
    ----------
    maps : array-like of shape (n, h, w)
    size : (int, int)
        Output ``(height, width)``.

    Returns
    -------
    resized : ndarray of shape (n, height, width), float32

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.utils import resize_bilinear
    >>> resize_bilinear(np.array([[[0.0, 1.0]]]), (1, 4)).round(2).tolist()
    [[[0.0, 0.25, 0.75, 1.0]]]
    """
    maps = np.asarray(maps, dtype=np.float32)
    if maps.ndim != 3:
        raise ValueError(f"maps must have shape (n, h, w), got shape {maps.shape}.")
    try:
        height, width = (int(v) for v in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}.") from None
    if height < 1 or width < 1 or 0 in maps.shape[1:]:
        raise ValueError(
            f"size must be positive and maps non-empty, got size={size!r} for maps of shape "
            f"{maps.shape}.")
    rows = _bilinear_matrix(maps.shape[1], height)
    cols = _bilinear_matrix(maps.shape[2], width)
    return np.einsum("oh,nhw,pw->nop", rows, maps, cols, optimize=True).astype(np.float32)
