"""How a TripletEmbedder fits: its input checks, the network it builds and the training it
runs (:func:`skreid._keras._reid_training.train_triplet`, which takes values and returns a
result); the estimator sets its fitted attributes from what comes back.

Keras is imported only inside ``_build_model`` and ``_train``.
"""

import numpy as np
from sklearn.base import _fit_context

from skreid._keras._registry import BACKBONES, LOSSES
from skreid.metrics.pairwise import check_rerank
from skreid.reid._adapt import unlabeled_mask
from skreid.utils import (
    check_batch_memory,
    check_image_input,
    check_image_size,
    check_weights,
    renamed_param,
)

__all__ = ["TripletFitMixin"]


class TripletFitMixin:
    """``fit``, ``partial_fit`` and the :class:`~skreid._keras.KerasEstimatorMixin` hooks of
    :class:`~skreid.reid.TripletEmbedder` (its parameters are documented there)."""

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, cameras=None):
        """Train the embedding on images ``X`` with identities ``y``; index them as gallery.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c]) or (n, h * w * c)
            Training images: integers in [0, 255], or floats in [0, 1] or [0, 255] (the scale
            is read from the data, recorded as ``pixel_range_`` and applied to every later
            batch; see :func:`skreid.utils.pixel_range`).
        y : array-like of shape (n,)
            Identity of each image (at least 2 identities), or ``-1`` for an unlabeled one:
            with ``warm_start=True`` on a fitted model, or after training on the labeled
            images of the call, the model then adapts to the unlabeled ones (``adapt_*``).
        cameras : array-like of shape (n,), optional
            Camera of each image: validation rank-1 skips same-camera matches, adaptation
            clusters camera-centred embeddings and records the cameras in ``adaptation_``.

        Returns
        -------
        self : TripletEmbedder
        """
        unlabeled = unlabeled_mask(y)
        if unlabeled is not None:
            return self._fit_with_unlabeled(X, y, unlabeled, cameras)
        return self._fit(X, y, epochs=self.epochs, reset=not self.warm_start, cameras=cameras)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, cameras=None):
        """Train for one epoch more (building the network on the first call).

        ``classes`` (all identities, needed by the identity head) is read on the first call;
        by default the identities of that first ``y``.
        """
        self._refuse_unlabeled(y, "partial_fit")
        return self._fit(X, y, epochs=1, reset=False, cameras=cameras, classes=classes)

    def _read_images(self, X, reset):
        return check_image_input(X, image_shape=self.image_shape, estimator=self, reset=reset)

    def _validate_fit_data(self, X, y, reset, cameras=None, classes=None):
        params = self._check_params()
        self.__dict__.pop("_fit_pixel_range", None)
        X = self._read_images(X, reset)
        y = self._check_reid_targets(y)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} images but y has {len(y)} labels; they must match.")
        if cameras is not None:
            cameras = np.asarray(cameras).ravel()
            if len(cameras) != len(y):
                raise ValueError(f"cameras has {len(cameras)} entries but y has {len(y)}.")
        ids, counts = np.unique(y, return_counts=True)
        LOSSES[self.loss].check_identities(self.loss, ids, counts)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
            self.n_features_in_ = int(np.prod(self.input_shape_))
            self.identities_ = ids if classes is None else np.unique(np.asarray(classes))
            if not np.isin(ids, self.identities_).all():
                raise ValueError("y holds identities missing from classes.")
            self.pixel_range_ = self.__dict__.pop("_fit_pixel_range", None)
            if self.pixel_range_ is None:  # feature vectors: no pixel rule, their peak decides
                peak = float(np.max(X)) if X.size else 255.0
                scale = 255.0 if peak <= 1.0 else 1.0
            else:
                scale = 255.0 / self.pixel_range_
            # [0, 1] float images are scaled to the [0, 255] range the networks expect
            self.input_scale_ = scale
            if self.grayscale and X.shape[3] not in (1, 3):
                raise ValueError(
                    f"grayscale=True needs 1 or 3 channels (like skreid.preprocessing."
                    f"Grayscale), got images of shape {X.shape[1:]}."
                )
            size = params["image_size"] or X.shape[1:3]
            for hw, name in ((X.shape[1:3], "X's image size"), (size, "image_size")):
                check_batch_memory(max(self.batch_size, 256), hw, X.shape[3], name=name)
        elif self._n_id_classes() and not np.isin(ids, self.identities_).all():
            raise ValueError(
                "warm_start/partial_fit got identities unseen by the identity head: "
                f"{ids[~np.isin(ids, self.identities_)][:10].tolist()}; fit from scratch."
            )
        return X, y, {"cameras": cameras, "params": params}

    def _check_params(self):
        """What ``_parameter_constraints`` cannot express (sizes, the file, the P x K split),
        checked once per ``fit``; returns the values the fit uses, renamed parameters
        resolved (a FutureWarning for an old name)."""
        backbone = renamed_param(self, "backbone", warn=True)
        params = {"backbone": backbone,
                  "test_time_flip": renamed_param(self, "test_time_flip", warn=True),
                  "image_size": None if self.image_size is None
                  else check_image_size(self.image_size)}
        if isinstance(backbone, str) and backbone in BACKBONES:
            check_weights(self.weights, BACKBONES[backbone].architecture())
        check_rerank(self.rerank)
        LOSSES[self.loss].check_batch(self.batch_size, self.images_per_identity)
        return params

    def _n_id_classes(self):
        return len(self.identities_) if self.id_loss_weight > 0 else None

    def _build_model(self, X, y, cameras=None, params=None):
        from skreid._keras._reid_networks import build_reid_network

        self._embedder = None
        return build_reid_network(
            params["backbone"], self.input_shape_, n_classes=self._n_id_classes(),
            embedding_dim=self.embedding_dim, weights=self.weights,
            image_size=params["image_size"], grayscale=self.grayscale,
            input_scale=self.input_scale_, augment=self.augment, pooling=self.pooling,
            frozen_stride=self.frozen_stride, last_stride=self.last_stride,
            n_parts=self.n_parts, color_augment=self.color_augment, ibn=self.ibn,
            mixstyle=self.mixstyle, calibration_images=X[:: max(1, len(X) // 256)],
        )

    def _train(self, X, y, epochs, cameras=None, params=None):
        from skreid._keras._reid_training import TripletTraining, train_triplet

        result = train_triplet(
            self.model_, X, y, identities=self.identities_, epochs=epochs,
            training=TripletTraining.from_params(self.get_params(deep=False)),
            embed=self._embed, initial_epoch=self.n_epochs_, cameras=cameras,
            validation_identities=self.validation_identities_ if self.n_epochs_ else None)
        self.validation_identities_ = result.validation_identities
        if result.best_epoch is not None:
            self.best_epoch_ = result.best_epoch
        self._set_gallery_embeddings(self._embed(X), y, cameras)
        return result.history
