"""TripletEmbedder: a Keras triplet-loss re-ID embedder as a scikit-learn estimator.

Keras is imported only when a network is built (``fit``) or unpickled.
"""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin, _fit_context
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from skreid._keras._base import KerasEstimatorMixin
from skreid._keras._registry import BACKBONES, LOSSES, OPTIMIZERS, SCHEDULES
from skreid.reid._adapt import ADAPT_CONSTRAINTS, AdaptationMixin, unlabeled_mask
from skreid.reid._base import REID_METRICS, ReIDMixin
from skreid.reid._presets import TRIPLET_PRESETS
from skreid.search import check_rerank
from skreid.utils import check_batch_memory, check_image_input, check_image_size, check_weights

__all__ = ["TripletEmbedder"]


class TripletEmbedder(ReIDMixin, AdaptationMixin, ClassifierMixin, TransformerMixin,
                      KerasEstimatorMixin, BaseEstimator):
    """Re-ID embedding network trained with a triplet loss (Keras 3), sklearn-compatible.

    ``fit`` learns an embedding from images and identity labels; the training images become
    the gallery, so ``predict``/``score`` work straight away (closed set). ``set_gallery``
    indexes unseen identities (open set); ``transform`` gives L2-normalised embeddings.

    The defaults are the best configuration measured on the CAB420 Market-1501 subset
    (``docs/benchmarks.rst``): MobileNetV3-Small (alpha 0.75) at 256x128, fine-tuned with
    frozen BatchNorm, the whole image and four horizontal stripes as five branches, P x K
    batches (16 x 4), batch-hard triplet loss on L2-normalised features plus a label-smoothed
    identity loss on a BN neck per branch (heads at 10x the learning rate, BoT's recipe),
    flip / translation / random-erasing augmentation, Adam 3.5e-4 with a five-epoch warm-up
    and cosine decay over 40 epochs on every training identity, test-time flip averaging.
    Pass ``weights=`` a local ``.weights.h5`` file when offline. Named configurations:
    :meth:`from_preset` (:data:`skreid.reid.TRIPLET_PRESETS`).

    ``warm_start=True`` / ``partial_fit`` continue with the optimizer state and learning-rate
    schedule where the previous call left them (so with ``lr_schedule="cosine"`` at its end).

    Parameters
    ----------
    architecture : {"mobilenet_v3_small", "mobilenet_v2", "resnet", "seed"} or callable, \
            default="mobilenet_v3_small"
        A pretrained backbone of the registry (``skreid._keras._registry.BACKBONES``), the
        report's ``"seed"`` branch exactly (1,076,344 parameters at 64x32x1) or
        ``"resnet"``, a small from-scratch ResNet with a BN neck. A callable receives the
        (augmented) input tensor with pixels in [0, 255] and returns a feature map or vector.
    weights : str, path-like, "imagenet" or None, default="imagenet"
        Backbone weights: a local ``.weights.h5`` file of the same network, Keras's ImageNet
        download, or random initialisation. Ignored by ``"seed"``, ``"resnet"`` and callables.
    image_size : (int, int) or None, default=(256, 128)
        Working (height, width): images are resized inside the network. ``None`` keeps the
        training images' size. The pretrained backbone works better on Market-1501's 128x64
        crops upsampled (``docs/benchmarks.rst``). ``fit`` refuses a size at which one batch
        (the larger of ``batch_size`` and the inference batch of 256) of float32 inputs
        exceeds :data:`skreid.utils.MAX_BATCH_BYTES` (1 GiB).
    image_shape : tuple of int, optional
        ``(height, width[, channels])`` to read flat 2-D ``X`` as images. Flat ``X`` without it
        is read as 1x1 images with one channel per feature.
    grayscale : bool, default=False
        Convert RGB to one luma channel first (the report used 64x32 grayscale); images with
        other than 1 or 3 channels are rejected, as by :class:`~skreid.preprocessing.Grayscale`.
    embedding_dim : int or None, default=None
        Dense projection size before the BN neck (``None``: the trunk's width; the seed
        branch's 32).
    pooling : {"avg", "gem"}, default="avg"
        Global pooling of the trunk's feature map (not the seed branch, which flattens):
        average or generalised-mean pooling with a learned power (GeM).
    frozen_stride : {None, 4, 8, 16}, default=None
        Registry backbones: layers up to the feature map at this stride stay frozen (generic
        low-level filters; skipping their backward pass speeds up training).
    last_stride : {2, 1}, default=2
        Registry backbones: stride of the last stage; ``1`` doubles the final map's height and
        width (re-ID's "last stride" trick, Luo et al. 2019) for a 4x costlier last stage.
    n_parts : int, default=4
        Horizontal body stripes beside the whole image (Sun et al. 2018), each average-pooled
        with its own BN neck and identity classifier; the embedding concatenates the
        ``1 + n_parts`` L2-normalised branch features. Ignored by the seed branch and by
        callables returning a vector.
    loss : {"batch_hard", "random_triplet"}, default="batch_hard"
        Batch-hard triplet on P x K batches, or the report's random triplets (``batch_size``
        triplets per batch); both with the hinge ``margin``.
    margin : float, default=0.3
        Triplet margin.
    id_loss_weight : float, default=1.0
        Weight of the identity cross-entropy head (training only); 0 disables it.
    label_smoothing : float, default=0.1
        Label smoothing of the identity loss.
    augment : bool, default=True
        Horizontal flip, random translation (10 %), random erasing; training only.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"}, default="adam"
    learning_rate : float, default=3.5e-4
        Backbone learning rate (the identity head gets 10 times it). Rates this high need
        the warm-up (``docs/benchmarks.rst``, the schedule table).
    lr_schedule : {"cosine", "constant"}, default="cosine"
        Cosine decay over all epochs after ``warmup_epochs`` of linear warm-up (from a
        tenth of ``learning_rate``).
    warmup_epochs : int, default=5
        Epochs of linear learning-rate warm-up (``lr_schedule="cosine"`` only).
    epochs : int, default=40
    batch_size : int, default=64
        Images per P x K batch (P = batch_size / images_per_identity), or triplets per batch
        for ``loss="random_triplet"``.
    images_per_identity : int, default=4
        K of the P x K batches.
    validation_fraction : float, default=0.0
        Fraction of the training *identities* held out to measure rank-1 after each epoch
        (for early stopping and ``history_["val_rank1"]``).
    early_stopping : bool, default=True
        Stop when validation rank-1 has not improved for ``patience`` epochs and restore the
        best weights (needs ``validation_fraction > 0``).
    patience : int, default=10
    flip_test : bool, default=True
        Every embedding (``transform``, gallery, validation) is the L2-normalised mean of
        those of the image and its mirror: twice the inference cost; training flips too, so
        both views are in-distribution and their mean is a less noisy descriptor.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Gallery distance (embeddings are L2-normalised, so both rank alike).
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of the query x gallery distances used by ``kneighbors``,
        ``gallery_distances``, ``decision_function``, ``predict`` and ``score`` (True: the
        paper's k1=20, k2=6, lambda_value=0.3, or a dict of them); see
        :func:`skreid.search.rerank_k_reciprocal`. Helps multi-shot galleries only.
    run_eagerly : bool, default=False
        Run Keras eagerly (no graph tracing): faster for tiny problems.
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
        0 silent, 1 Keras progress bar, 2 one line per epoch.
    warm_start : bool, default=False
        ``fit`` continues training the fitted network.
    adapt_rounds, adapt_epochs, adapt_eps, adapt_min_samples, adapt_k1 : \
            int, int, "auto" or float in (0, 1], int, int, default=4, 4, "auto", 4, 30
        Adaptation from unlabeled images (``y == -1`` in ``fit``; user guide "Your own
        cameras"): rounds of clustering (k-reciprocal Jaccard distances with neighbourhoods
        of ``adapt_k1``; DBSCAN with ``eps``, ``min_samples``), each followed by
        ``adapt_epochs`` epochs of training on the pseudo-identities. ``adapt_eps="auto"``:
        the 75th percentile of each crop's distance to its ``adapt_min_samples - 1``-th
        nearest other crop, read once from the model being adapted.

    Attributes
    ----------
    model_ : keras.Model
        Training network (outputs ``"triplet"`` and, with an identity head, ``"logits"``).
    history_ : dict of lists
        Per-epoch losses, ``val_rank1`` and ``epoch_time``.
    identities_ : ndarray
        Training identities (order of the identity head).
    classes_, gallery_embeddings_, gallery_ids_, gallery_cameras_ :
        The gallery (see :class:`~skreid.reid.ReIDMixin`).
    input_shape_ : tuple
        Shape of one input image; ``n_features_in_`` its number of values.
    pixel_range_ : float or None
        Pixel scale of the training images (255.0 or 1.0; None for feature vectors), applied
        to every later batch under :func:`skreid.utils.pixel_range`'s rule.
    validation_identities_ : ndarray
        Training identities held out for validation rank-1 (empty without validation).
    best_epoch_ : int
        Epoch whose weights were restored by early stopping (only with validation).
    adaptation_ : list of dict
        One record per ``fit`` that adapted on unlabeled images (images, cameras, rounds,
        pseudo-identities per round); ``skreid.save`` files and model cards show it.

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.reid import TripletEmbedder
    >>> people = make_people(n_identities=8, n_images_per_identity=4,
    ...                      image_shape=(32, 16, 3), random_state=0)
    >>> est = TripletEmbedder(architecture="seed", image_size=None, epochs=1, batch_size=8,
    ...                       images_per_identity=2, validation_fraction=0, random_state=0)
    >>> est.fit(people.images, people.person_ids).transform(people.images).shape
    (32, 32)
    """

    _keras_transient_attrs = ("_embedder",)

    _parameter_constraints = {
        "architecture": [StrOptions({"seed", "resnet", *BACKBONES}), callable],
        "weights": [str, os.PathLike, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), "array-like", None],
        "image_shape": ["array-like", None],
        "grayscale": ["boolean"],
        "embedding_dim": [Interval(Integral, 1, None, closed="left"), None],
        "pooling": [StrOptions({"avg", "gem"})],
        "frozen_stride": [Options(Integral, {4, 8, 16}), None],
        "last_stride": [Options(Integral, {1, 2})],
        "n_parts": [Interval(Integral, 0, None, closed="left")],
        "loss": [StrOptions(set(LOSSES))],
        "margin": [Interval(Real, 0, None, closed="left")],
        "id_loss_weight": [Interval(Real, 0, None, closed="left")],
        "label_smoothing": [Interval(Real, 0, 1, closed="left")],
        "augment": ["boolean"],
        "optimizer": [StrOptions(set(OPTIMIZERS))],
        "learning_rate": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions(set(SCHEDULES))],
        "warmup_epochs": [Interval(Integral, 0, None, closed="left")],
        "epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "images_per_identity": [Interval(Integral, 1, None, closed="left")],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "early_stopping": ["boolean"],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "flip_test": ["boolean"],
        "metric": [StrOptions(set(REID_METRICS))],
        "rerank": [None, "boolean", dict],
        "run_eagerly": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        **ADAPT_CONSTRAINTS,
    }

    def __init__(
        self,
        architecture="mobilenet_v3_small",
        weights="imagenet",
        image_size=(256, 128),
        image_shape=None,
        grayscale=False,
        embedding_dim=None,
        pooling="avg",
        frozen_stride=None,
        last_stride=2,
        n_parts=4,
        loss="batch_hard",
        margin=0.3,
        id_loss_weight=1.0,
        label_smoothing=0.1,
        augment=True,
        optimizer="adam",
        learning_rate=3.5e-4,
        lr_schedule="cosine",
        warmup_epochs=5,
        epochs=40,
        batch_size=64,
        images_per_identity=4,
        validation_fraction=0.0,
        early_stopping=True,
        patience=10,
        flip_test=True,
        metric="euclidean",
        rerank=None,
        run_eagerly=False,
        random_state=None,
        verbose=0,
        warm_start=False,
        adapt_rounds=4, adapt_epochs=4, adapt_eps="auto", adapt_min_samples=4, adapt_k1=30,
    ):
        self.architecture = architecture
        self.weights = weights
        self.image_size = image_size
        self.image_shape = image_shape
        self.grayscale = grayscale
        self.embedding_dim = embedding_dim
        self.pooling = pooling
        self.frozen_stride = frozen_stride
        self.last_stride = last_stride
        self.n_parts = n_parts
        self.loss = loss
        self.margin = margin
        self.id_loss_weight = id_loss_weight
        self.label_smoothing = label_smoothing
        self.augment = augment
        self.optimizer = optimizer
        self.learning_rate = learning_rate
        self.lr_schedule = lr_schedule
        self.warmup_epochs = warmup_epochs
        self.epochs = epochs
        self.batch_size = batch_size
        self.images_per_identity = images_per_identity
        self.validation_fraction = validation_fraction
        self.early_stopping = early_stopping
        self.patience = patience
        self.flip_test = flip_test
        self.metric = metric
        self.rerank = rerank
        self.run_eagerly = run_eagerly
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.adapt_rounds = adapt_rounds
        self.adapt_epochs = adapt_epochs
        self.adapt_eps = adapt_eps
        self.adapt_min_samples = adapt_min_samples
        self.adapt_k1 = adapt_k1

    @classmethod
    def from_preset(cls, name, **overrides):
        """Estimator with a named configuration of :data:`skreid.reid.TRIPLET_PRESETS`, then
        overrides."""
        if name not in TRIPLET_PRESETS:
            raise ValueError(f"preset must be one of {sorted(TRIPLET_PRESETS)}, got {name!r}.")
        return cls(**{**TRIPLET_PRESETS[name], **overrides})

    # ------------------------------------------------------------------ fitting
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
        self._check_params()
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
            size = X.shape[1:3] if self.image_size is None else self.image_size
            for hw, name in ((X.shape[1:3], "X's image size"), (size, "image_size")):
                check_batch_memory(max(self.batch_size, 256), hw, X.shape[3], name=name)
        elif self._n_id_classes() and not np.isin(ids, self.identities_).all():
            raise ValueError(
                "warm_start/partial_fit got identities unseen by the identity head: "
                f"{ids[~np.isin(ids, self.identities_)][:10].tolist()}; fit from scratch."
            )
        return X, y, {"cameras": cameras}

    def _check_params(self):
        """What ``_parameter_constraints`` cannot express: sizes, the file, the P x K split."""
        if self.image_size is not None:
            check_image_size(self.image_size)
        if isinstance(self.architecture, str) and self.architecture in BACKBONES:
            check_weights(self.weights, BACKBONES[self.architecture].architecture())
        check_rerank(self.rerank)
        LOSSES[self.loss].check_batch(self.batch_size, self.images_per_identity)

    def _n_id_classes(self):
        return len(self.identities_) if self.id_loss_weight > 0 else None

    def _build_model(self, X, y, cameras=None):
        from skreid._keras._reid_networks import build_reid_network

        self._embedder = None
        return build_reid_network(
            self.architecture, self.input_shape_, n_classes=self._n_id_classes(),
            embedding_dim=self.embedding_dim, weights=self.weights,
            image_size=None if self.image_size is None else check_image_size(self.image_size),
            grayscale=self.grayscale, input_scale=self.input_scale_, augment=self.augment,
            pooling=self.pooling,
            frozen_stride=self.frozen_stride, last_stride=self.last_stride,
            n_parts=self.n_parts,
        )

    def _train(self, X, y, epochs, cameras=None):
        from skreid._keras._reid_training import train_triplet

        return train_triplet(self, X, y, epochs, cameras=cameras)

    # --------------------------------------------------------------- inference
    def _embed_once(self, X):
        if getattr(self, "_embedder", None) is None:
            from skreid._keras._reid_networks import embedding_model

            self._embedder = embedding_model(self.model_)
        if self.run_eagerly:  # no predict-function tracing for tiny problems
            out = [np.asarray(self._embedder(X[i : i + 256], training=False))
                   for i in range(0, len(X), 256)]
            return np.concatenate(out).astype(np.float32, copy=False)
        out = self._embedder.predict(X, batch_size=256, verbose=0)
        return np.asarray(out, dtype=np.float32)

    def _embed(self, X):
        emb = self._embed_once(X)
        if self.flip_test and X.shape[2] > 1:
            # mean of the image's and its mirror's unit embeddings, back on the unit sphere
            emb = emb + self._embed_once(np.ascontiguousarray(X[:, :, ::-1]))
            norm = np.linalg.norm(emb, axis=1, keepdims=True)
            emb = emb / np.maximum(norm, np.finfo(np.float32).tiny)
        return emb.astype(np.float32, copy=False)

    def transform(self, X):
        """L2-normalised embeddings of images ``X``, shape ``(n_samples, n_dims)``."""
        check_is_fitted(self, "model_")
        return self._embed(self._read_images(X, reset=False))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags
