"""What MultiTaskPetNet and FineTunedPetNet share: input checks, targets, predict/transform.

Mask coding (the one of :func:`skreid.datasets.load_oxford_pets` and
:func:`skreid.datasets.make_pets`): 0 pet, 1 background, 2 border (trimap "not classified"),
:data:`skreid.datasets.MASK_IGNORE` (255) = no annotation. ``predict_mask`` answers in the
same coding (0/1 for ``segmentation="binary"``, 0/1/2 for ``"trimap"``).

No Keras import at module level: the Keras helpers are imported inside the methods.
"""

from numbers import Integral, Real

import numpy as np
from sklearn.base import _fit_context
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skreid.pets._targets import PetTargetsMixin
from skreid.utils import apply_pixel_rule, check_batch_memory, check_images

#: constraints of the parameters both pets estimators have
PET_CONSTRAINTS = {
    "image_size": [Interval(Integral, 1, None, closed="left"), "array-like"],
    "n_classes": [Interval(Integral, 2, None, closed="left"), None],
    "segmentation": [StrOptions({"binary", "trimap"})],
    "ignore_border": ["boolean"],
    "task_weights": ["array-like", dict],
    "class_weight": [StrOptions({"balanced"}), dict, None],
    "dropout": [Interval(Real, 0, 1, closed="left")],
    "augment": ["boolean"],
    "epochs": [Interval(Integral, 0, None, closed="left")],
    "batch_size": [Interval(Integral, 1, None, closed="left")],
    "learning_rate": [Interval(Real, 0, 10, closed="right")],
    "validation_fraction": [Interval(Real, 0, 0.5, closed="right"), None],
    "run_eagerly": [StrOptions({"auto"}), "boolean"],
    "warm_start": ["boolean"],
    "random_state": ["random_state"],
    "verbose": ["verbose"],
}


def _as_images(X, name="X"):
    """``check_images`` on X; 2-D input is read as one-pixel-high grayscale strips.

    Flat rows carry no image shape: reading them as ``(1, n_features, 1)`` strips (which the
    model resizes to ``image_size``) lets generic tabular tooling, such as scikit-learn's
    estimator checks, run. Pass real images as ``(n, h, w[, c])`` arrays.
    """
    import scipy.sparse

    if scipy.sparse.issparse(X):
        raise TypeError(f"{name} is a sparse matrix: sparse input is not supported (images).")
    arr = np.asarray(X) if not hasattr(X, "shape") else X
    if np.iscomplexobj(arr):
        raise ValueError(f"Complex data not supported: {name} pixel values must be real.")
    ndim = getattr(arr, "ndim", 0)
    if ndim in (0, 1):
        raise ValueError(
            f"{name} must be images (n, h, w[, c]) or a 2-D array, got {ndim}-D shape "
            f"{arr.shape}. Reshape your data."
        )
    if ndim == 2 and arr.shape[1] == 0:
        raise ValueError(
            f"Found array with 0 feature(s) (shape={arr.shape}) while a minimum of 1 is "
            f"required."
        )
    if ndim == 2:
        return check_images(arr, image_shape=(1, arr.shape[1], 1), name=name), True
    # dtype kept: the pixel-scale rule reads integer images as [0, 255] (PetNetMixin._pixels)
    return check_images(arr, allow_flat=False, name=name, dtype=None), False


class PetNetMixin(PetTargetsMixin):
    """Shared implementation of the pets estimators (first base: its tags go on top of the
    scikit-learn mixins' ones).

    Subclasses provide ``_image_size()`` (the working size) and the
    :class:`~skreid._keras._base.KerasEstimatorMixin` hooks ``_build_model`` (a compiled
    two-headed network from :mod:`skreid._keras._pet_networks`) and ``_train`` (which calls
    :meth:`_training_arrays`, :meth:`_split_validation` and :meth:`_fit_stage`); both get
    ``params``, the values :meth:`_check_params` checked once for the ``fit`` call.
    """

    # ---------------------------------------------------------------- training
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, masks=None):
        """Train on images ``X``, breed labels ``y`` and optional segmentation ``masks``.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c])
            Pixel values in ``[0, 255]``.
        y : array-like of shape (n,)
        masks : array-like of shape (n, h, w), optional
            0 pet, 1 background, 2 border, 255 (``skreid.datasets.MASK_IGNORE``) for pixels
            or whole images without annotation. Sample-aligned, so ``GridSearchCV.fit(X, y,
            masks=M)`` splits it with the images. ``None``: the mask head is not trained.

        Returns
        -------
        self
        """
        return self._fit(X, y, epochs=self.epochs, reset=not self.warm_start, masks=masks)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, masks=None):
        """Train one more epoch (building the network on the first call).

        ``classes`` (all the labels ``y`` may hold) fixes ``classes_`` on the first call.
        """
        return self._fit(X, y, epochs=1, reset=False, masks=masks, classes=classes)

    # ---------------------------------------------------------------- validation
    def _check_params(self):
        """What ``_parameter_constraints`` cannot express, checked once per ``fit``: returns
        the values the fit uses (``image_size`` as a pair, ``task_weights``)."""
        params = {"image_size": self._image_size(), "task_weights": self._task_weights()}
        # one float32 RGB batch at the working size must fit skreid.utils.MAX_BATCH_BYTES
        check_batch_memory(self.batch_size, params["image_size"], 3)
        return params

    def _validate_fit_data(self, X, y, reset, masks=None, classes=None, **fit_params):
        if fit_params:
            raise TypeError(
                f"fit got unexpected keyword argument(s) {sorted(fit_params)}; accepted: masks."
            )
        params = self._check_params()
        X, flat = _as_images(X)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None "
                f"(breed labels)."
            )
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if np.issubdtype(y.dtype, np.floating) and not np.isfinite(y).all():
            raise ValueError("Input y contains NaN or infinity; labels must be finite.")
        if y.ndim != 1 or len(y) != len(X):
            raise ValueError(
                f"y must be a 1-D array with one label per image ({len(X)}), got shape {y.shape}."
            )
        if not reset:
            self._check_predict_input(X, flat)
        X = self._pixels(X, flat, reset)
        y_idx = self._encode_labels(y, reset, classes)
        m = self._validate_masks(masks, X)
        if reset:
            self.n_channels_in_ = X.shape[-1]
            if flat:
                self.n_features_in_ = X.shape[2]
            else:
                self.__dict__.pop("n_features_in_", None)
        return X, y_idx, {"masks": m, "params": params}

    # ---------------------------------------------------------------- inference
    def _check_predict_input(self, X, flat):
        if getattr(self, "n_features_in_", None) is not None and flat:
            if X.shape[2] != self.n_features_in_:
                raise ValueError(
                    f"X has {X.shape[2]} features, but {type(self).__name__} is expecting "
                    f"{self.n_features_in_} features as input."
                )
        if X.shape[-1] != self.n_channels_in_:
            raise ValueError(
                f"X has {X.shape[-1]} channel(s) per pixel but the network was fitted on "
                f"{self.n_channels_in_}-channel images."
            )

    def _pixels(self, X, flat, reset):
        """Images on the networks' [0, 255] scale under skreid's pixel-scale rule
        (:func:`skreid.utils.pixel_range`): fit records ``pixel_range_``; later integer
        images are read as [0, 255], float ones on the fitted scale (or warned about)."""
        if flat:  # feature strips, not pixels: no rule
            if reset:
                self.pixel_range_ = None
            return X.astype(np.float32, copy=False)
        X, fitted = apply_pixel_rule(X, getattr(self, "pixel_range_", None) or 255.0,
                                     reset=reset, estimator=self)
        if reset:
            self.pixel_range_ = fitted
        return X if fitted == 255.0 else X * np.float32(255.0 / fitted)

    def _prepare(self, X):
        check_is_fitted(self, "model_")
        X, flat = _as_images(X)
        self._check_predict_input(X, flat)
        return self._to_network_input(self._pixels(X, flat, reset=False))

    def _to_network_input(self, X):
        return X

    def _network_outputs(self, X):
        """``(breed_proba, mask_proba)`` of prepared images (mask at the working size)."""
        from skreid._keras._pet_training import predict_outputs

        return predict_outputs(self.model_, X, self.batch_size)

    def predict_proba(self, X):
        """Breed probabilities, shape ``(n_images, n_classes)`` in the order of ``classes_``."""
        X = self._prepare(X)
        return self._network_outputs(X)[0]

    def predict(self, X):
        """Predicted breed label of each image."""
        proba = self.predict_proba(X)  # first: it raises NotFittedError before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    def predict_mask(self, X, return_proba=False):
        """Segment the images at their own resolution.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c])
        return_proba : bool, default=False
            Return per-pixel probabilities instead of labels: ``(n, h, w)`` probability of
            "pet" for ``segmentation="binary"``, ``(n, h, w, 3)`` for ``"trimap"``.

        Returns
        -------
        masks : ndarray of shape (n, h, w), uint8
            0 pet, 1 background (and 2 border for ``segmentation="trimap"``).
        """
        from skreid._keras._pet_training import resize_batch

        X = self._prepare(X)
        proba = self._network_outputs(X)[1]
        proba = resize_batch(proba, X.shape[1:3])
        if self.segmentation == "binary":
            proba = proba[..., 0]
            if return_proba:
                return proba
            return np.where(proba >= 0.5, 0, 1).astype(np.uint8)
        if return_proba:
            return proba
        return np.argmax(proba, axis=-1).astype(np.uint8)

    def transform(self, X):
        """Bottleneck embedding of each image (for k-NN, t-SNE...), shape ``(n, d)``."""
        from skreid._keras._pet_training import predict_embedding

        X = self._prepare(X)
        return predict_embedding(self.model_, X, self.batch_size)

    def _test_time_flip(self):
        """Whether predictions average each image with its mirror (``_network_outputs``)."""
        return False

    def _network_channels(self):
        """Channels the network takes (``_to_network_input`` repeats grayscale to them)."""
        return self.n_channels_in_

    def _inference_graph(self):
        """Export hook: images -> (breed_proba, mask_proba), the mask at the image's size."""
        from skreid._keras._inference_graph import petnet_graph

        def reference(X, names):
            mask = self.predict_mask(X, return_proba=True)
            if self.segmentation == "binary":
                mask = mask[..., None]
            return {"breed_proba": self.predict_proba(X), "mask_proba": mask}

        flip = self._test_time_flip()
        return petnet_graph(
            self.model_, self.n_channels_in_, network_channels=self._network_channels(),
            flip=flip, image_size=self._image_size(), reference=reference,
            input_scale=255.0 / (self.pixel_range_ or 255.0), metadata={
                "image_size": list(self._image_size()), "segmentation": self.segmentation,
                "classes": self.classes_.tolist(),
                "classes_dtype": None if self.classes_.dtype == object
                else self.classes_.dtype.str,
                "test_time_flip": bool(flip),
                "preprocessing": "in the graph: resize to image_size, flip averaging, the "
                                 "mask resized back to the input size (bilinear)"})

    # ---------------------------------------------------------------- training
    def _fit_stage(self, train, val, epochs, offset=0):
        """Run ``epochs`` epochs on ``train`` (images, breed, masks); return the history."""
        from skreid._keras._pet_training import train_stage

        # a fresh, reproducible shuffling/augmentation stream for each call
        seed = (self._seed_ + 104729 * (self.n_epochs_ + offset + 1)) % (2**31 - 1)
        return train_stage(self.model_, train, val, epochs=epochs, batch_size=self.batch_size,
                           seed=seed, augment=self.augment, run_eagerly=self.run_eagerly,
                           initial_epoch=self.n_epochs_, verbose=self._keras_verbose())

    def _split_validation(self, images, breed, masks):
        if self.validation_fraction is None:
            return (images, breed, masks), None
        rng = np.random.default_rng(self._seed_)
        order = rng.permutation(len(images))
        n_val = max(1, int(round(self.validation_fraction * len(images))))
        if n_val >= len(images):
            raise ValueError(
                f"validation_fraction={self.validation_fraction} leaves no training image "
                f"out of {len(images)}."
            )
        va, tr = order[:n_val], order[n_val:]
        return (images[tr], breed[tr], masks[tr]), (images[va], breed[va], masks[va])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        tags.non_deterministic = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
