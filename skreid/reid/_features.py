"""Hand-crafted re-ID features: LOMO-style local maximal occurrence of colour and texture."""

import numbers
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_is_fitted

from skreid.utils import LUMA_WEIGHTS, apply_pixel_rule, check_images

__all__ = ["LOMOFeatures"]

# images per block: bounds the (block, rows, cols, bins) histogram array to ~40 MB
_CHUNK = 64


def _rgb_to_hsv(rgb):
    """Vectorised RGB (in [0, 1]) -> HSV (each in [0, 1]) over any leading axes."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(-1)
    delta = v - rgb.min(-1)
    s = np.where(v > 0, delta / np.where(v > 0, v, 1), 0)
    safe = np.where(delta > 0, delta, 1)
    h = np.where(v == r, (g - b) / safe, np.where(v == g, 2 + (b - r) / safe, 4 + (r - g) / safe))
    h = np.where(delta > 0, (h / 6) % 1.0, 0)
    return h, s, v


def _siltp_codes(gray, radius, tau):
    """Scale-invariant local ternary pattern (Liao et al., CVPR 2010), 4 neighbours -> 0..80.

    Each neighbour at distance ``radius`` (right, down, left, up) is coded 1 when brighter
    than ``(1 + tau)`` times the centre, 2 when darker than ``(1 - tau)`` times it, 0 else:
    relative thresholds make the code invariant to scaling the illumination.
    """
    pad = np.pad(gray, ((0, 0), (radius, radius), (radius, radius)), mode="edge")
    h, w = gray.shape[1:]
    code = np.zeros(gray.shape, dtype=np.int32)
    offsets = [(0, radius), (radius, 0), (0, -radius), (-radius, 0)]
    for k, (dy, dx) in enumerate(offsets):
        nb = pad[:, radius + dy : radius + dy + h, radius + dx : radius + dx + w]
        state = (nb > (1 + tau) * gray).astype(np.int32) + 2 * (nb < (1 - tau) * gray)
        code += state * 3**k
    return code


def _max_occurrence(codes, n_bins, cell):
    """Histograms of ``codes`` over 2x2-cell windows (stride one cell), max-pooled across
    each row of windows: (n, h, w) ints -> (n, n_window_rows, n_bins) counts."""
    n, h, w = codes.shape
    rows, cols = h // cell, w // cell
    top, left = (h - rows * cell) // 2, (w - cols * cell) // 2
    codes = codes[:, top : top + rows * cell, left : left + cols * cell]
    cell_row = np.arange(rows * cell) // cell
    cell_col = np.arange(cols * cell) // cell
    cell_id = cell_row[:, None] * cols + cell_col[None, :]
    index = (np.arange(n)[:, None, None] * (rows * cols) + cell_id) * n_bins + codes
    hist = np.bincount(index.ravel(), minlength=n * rows * cols * n_bins)
    hist = hist.reshape(n, rows, cols, n_bins).astype(np.float32)
    if rows > 1 and cols > 1:
        hist = hist[:, :-1, :-1] + hist[:, 1:, :-1] + hist[:, :-1, 1:] + hist[:, 1:, 1:]
    # max over horizontal positions: a colour/texture seen anywhere along the row counts,
    # which is what makes LOMO robust to viewpoint changes
    return hist.max(axis=2)


class LOMOFeatures(TransformerMixin, BaseEstimator):
    """LOMO-style local maximal occurrence features for person images.

    Following Liao et al., "Person Re-identification by Local Maximal Occurrence
    Representation and Metric Learning" (CVPR 2015): joint HSV colour histograms and SILTP
    texture histograms are counted in overlapping windows (2x2 cells, stride one cell); for
    each horizontal row of windows the maximum count of each bin across the row is kept; the
    same is repeated on 2x2-average-pooled copies of the image (``n_scales``); counts go
    through ``log(1 + x)`` and each part (colour, texture) is L2-normalised.
    Retinex preprocessing of the original is not included.

    Parameters
    ----------
    cell_size : int, default=5
        Cell side in pixels at the first scale; windows are 2x2 cells.
    n_scales : int, default=3
        Number of image scales (each half the previous one).
    hsv_bins : int or (int, int, int), default=8
        Bins of hue, saturation and value for the joint colour histogram.
    siltp_radii : tuple of int, default=(3, 5)
        Radii of the SILTP texture codes (81 bins each); empty to skip texture.
    siltp_tau : float, default=0.3
        SILTP relative threshold.
    texture_weight : float, default=1.0
        Weight of the (L2-normalised) texture part relative to the colour part.
    image_shape : tuple, optional
        ``(height, width, 3)`` when ``X`` holds flat vectors.

    Attributes
    ----------
    input_shape_ : tuple of int
        ``(height, width, 3)`` of the fitted images.
    n_features_in_ : int
        Number of input values per image (the product of ``input_shape_``).
    n_features_out_ : int
        Length of the feature vector.
    pixel_range_ : float
        The pixel scale of the fit images (255.0 or 1.0), under skreid's pixel rule
        (:func:`skreid.utils.pixel_range`): integers are read as [0, 255], floats as [0, 1]
        when none exceeds 1; ``transform`` reads later batches on this scale (floats above 1
        after a fit on [0, 1] are refused, [0, 1] floats after a fit on [0, 255] warned about).

    Examples
    --------
    >>> import numpy as np
    >>> from skreid.reid import LOMOFeatures
    >>> X = np.random.RandomState(0).randint(0, 256, (2, 32, 16, 3)).astype(np.uint8)
    >>> LOMOFeatures(cell_size=4, n_scales=2).fit_transform(X).shape
    (2, 6740)
    """

    def __init__(
        self,
        cell_size=5,
        n_scales=3,
        hsv_bins=8,
        siltp_radii=(3, 5),
        siltp_tau=0.3,
        texture_weight=1.0,
        image_shape=None,
    ):
        self.cell_size = cell_size
        self.n_scales = n_scales
        self.hsv_bins = hsv_bins
        self.siltp_radii = siltp_radii
        self.siltp_tau = siltp_tau
        self.texture_weight = texture_weight
        self.image_shape = image_shape

    _parameter_constraints = {
        "cell_size": [Interval(Integral, 1, None, closed="left")],
        "n_scales": [Interval(Integral, 1, None, closed="left")],
        "hsv_bins": [Interval(Integral, 1, None, closed="left"), "array-like"],
        "siltp_radii": ["array-like"],
        "siltp_tau": [Interval(Real, 0, 1, closed="left")],
        "texture_weight": [Interval(Real, 0, None, closed="left")],
        "image_shape": ["array-like", None],
    }

    def _check_params(self):
        """What ``_parameter_constraints`` cannot express: the lengths and items of tuples."""
        bins = self.hsv_bins
        bins = (bins,) * 3 if isinstance(bins, numbers.Integral) else tuple(bins)
        if len(bins) != 3 or any(not isinstance(b, numbers.Integral) or b < 1 for b in bins):
            raise ValueError(f"hsv_bins must be an int or 3 ints >= 1, got {self.hsv_bins!r}.")
        radii = tuple(self.siltp_radii)
        if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1 for r in radii):
            raise ValueError(f"siltp_radii must be ints >= 1, got {self.siltp_radii!r}.")
        return bins, radii

    def _check_X(self, X, reset=False):
        images = check_images(X, image_shape=self.image_shape, name="X", dtype=None)
        if images.shape[3] != 3:
            raise ValueError(
                f"LOMOFeatures needs RGB images (3 channels), got images of shape "
                f"{images.shape[1:]}."
            )
        # skreid's one pixel rule; a file saved before pixel_range_ existed reads each batch
        fitted = getattr(self, "pixel_range_", None)
        images, fitted = apply_pixel_rule(images, fitted, reset=reset or fitted is None,
                                          estimator=self)
        if reset:
            self.pixel_range_ = fitted
        return images / np.float32(fitted)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check parameters and record the image shape (nothing is learned)."""
        self._check_params()
        images = self._check_X(X, reset=True)
        min_side = self.cell_size * 2 ** (self.n_scales - 1)
        if min(images.shape[1:3]) < min_side:
            raise ValueError(
                f"images of shape {images.shape[1:3]} are too small for cell_size="
                f"{self.cell_size} and n_scales={self.n_scales}: each side needs >= {min_side}."
            )
        self.input_shape_ = images.shape[1:]
        self.n_features_in_ = int(np.prod(self.input_shape_))
        self.n_features_out_ = self._transform(images[:1]).shape[1]
        return self

    def transform(self, X):
        """Compute the features: ``(n_samples, n_features_out_)`` float32."""
        check_is_fitted(self, "input_shape_")
        images = self._check_X(X)
        if images.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X holds images of shape {images.shape[1:]}, but LOMOFeatures was fitted on "
                f"{self.input_shape_}."
            )
        return np.concatenate(
            [self._transform(images[i : i + _CHUNK]) for i in range(0, len(images), _CHUNK)]
        )

    def _transform(self, rgb):
        bins, radii = self._check_params()
        colour, texture = [], []
        for scale in range(self.n_scales):
            if scale:
                n, h, w, c = rgb.shape
                rgb = rgb[:, : h // 2 * 2, : w // 2 * 2]
                rgb = rgb.reshape(n, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))
            hsv = _rgb_to_hsv(rgb)
            q = [
                np.minimum((ch * b).astype(np.int32), b - 1)
                for ch, b in zip(hsv, bins, strict=True)
            ]
            joint = (q[0] * bins[1] + q[1]) * bins[2] + q[2]
            hist = _max_occurrence(joint, int(np.prod(bins)), self.cell_size)
            colour.append(hist.reshape(len(rgb), -1))
            gray = rgb @ np.array(LUMA_WEIGHTS["bt601"], np.float32)
            for r in radii:
                codes = _siltp_codes(gray, r, self.siltp_tau)
                texture.append(_max_occurrence(codes, 81, self.cell_size).reshape(len(rgb), -1))
        parts = [np.concatenate(colour, axis=1)]
        weights = [1.0]
        if texture:
            parts.append(np.concatenate(texture, axis=1))
            weights.append(float(self.texture_weight))
        out = []
        for part, weight in zip(parts, weights, strict=True):
            part = np.log1p(part)
            norm = np.linalg.norm(part, axis=1, keepdims=True)
            out.append(weight * part / np.where(norm > 0, norm, 1))
        return np.concatenate(out, axis=1).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.requires_fit = True
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
