"""TripletEmbedder: a Keras triplet-loss re-ID embedder as a scikit-learn estimator.

Keras is imported only when a network is built (``fit``) or unpickled.
"""

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_array, check_is_fitted

from skreid._keras._base import KerasEstimatorMixin
from skreid.reid._base import ReIDMixin, check_reid_metric
from skreid.search._rerank import check_rerank
from skreid.utils import (
    check_batch_memory,
    check_image_size,
    check_images,
    match_pixel_range,
    pixel_range,
)

__all__ = ["TripletEmbedder", "TRIPLET_PRESETS"]

_LOSSES = ("batch_hard", "soft_margin", "random_triplet")

#: named configurations; ``TripletEmbedder.from_preset(name, **overrides)``
TRIPLET_PRESETS = {
    # the report's setting: seed branch, 64x32 grayscale, random triplets, RMSProp, 5 epochs
    "report": dict(architecture="seed", image_size=(64, 32), grayscale=True,
                   loss="random_triplet", margin=1.0, id_loss_weight=0.0, augment=False,
                   optimizer="rmsprop", learning_rate=1e-3, lr_schedule="constant",
                   epochs=5, batch_size=256, validation_fraction=0.0),
    # the same seed branch trained well: PK batches, batch-hard, cosine LR, early stopping
    # (augmentation measured harmful for this small branch: 8 % vs 20 % Top-1 at 10 epochs)
    "seed_pk": dict(architecture="seed", image_size=(64, 32), grayscale=True,
                    loss="batch_hard", margin=0.3, id_loss_weight=0.0, augment=False,
                    optimizer="adam", learning_rate=1e-3, lr_schedule="cosine",
                    epochs=20, batch_size=64, images_per_identity=4,
                    validation_fraction=0.1),
    # the default: fine-tuned MobileNetV3-Small, body stripes, batch-hard + identity loss
    "best": dict(),
}


class TripletEmbedder(ReIDMixin, ClassifierMixin, TransformerMixin, KerasEstimatorMixin,
                      BaseEstimator):
    """Re-ID embedding network trained with a triplet loss (Keras 3), sklearn-compatible.

    ``fit`` learns an embedding from images and identity labels; the training images become
    the gallery, so ``predict``/``score`` work straight away (closed set). ``set_gallery``
    indexes unseen identities (open set); ``transform`` gives L2-normalised embeddings.

    The defaults are the best configuration measured on the CAB420 Market-1501 subset
    (``benchmarks/reid_cab420.py``): MobileNetV3-Small (alpha 0.75) at 256x128, fine-tuned
    with frozen BatchNorm, the whole image and four horizontal stripes as five branches,
    P x K batches (16 x 4) with the batch-hard triplet loss on L2-normalised features plus a
    label-smoothed identity loss on a BN neck per branch (heads at 10x the learning rate),
    flip / translation / random-erasing augmentation, Adam 3.5e-4 with a
    five-epoch warm-up and cosine decay over 40 epochs on every training identity (the
    cosine schedule's last epoch is its best, so no identities are held out for early
    stopping), test-time flip averaging. Pass ``weights=`` a
    local ``.weights.h5`` file when offline. Named configurations: :meth:`from_preset`
    (``"report"``, ``"seed_pk"``, ``"best"``).

    ``warm_start=True`` / ``partial_fit`` continue with the optimizer state and learning-rate
    schedule where the previous call left them (so with ``lr_schedule="cosine"`` at its end).

    Parameters
    ----------
    architecture : {"mobilenet_v3_small", "resnet", "seed"} or callable, \
            default="mobilenet_v3_small"
        ``"seed"`` is the report's branch exactly (1,076,344 parameters at 64x32x1);
        ``"resnet"`` a small from-scratch ResNet with a BN neck. A callable receives the
        (augmented) input tensor with pixels in [0, 255] and returns a feature map or vector.
    weights : str, path-like, "imagenet" or None, default="imagenet"
        MobileNetV3 weights: a local ``.weights.h5`` file, Keras's ImageNet download, or
        random initialisation. Ignored by the other architectures.
    image_size : (int, int) or None, default=(256, 128)
        Working (height, width): images are resized inside the network. ``None`` keeps the
        training images' size. The pretrained backbone works better on Market-1501's 128x64
        crops upsampled (measured on the CAB420 probes after 40 epochs, without stripes:
        66.1 % Top-1 at 192x96 with 270 training identities, 68.8-71.1 % at 256x128 with
        all 300). ``fit`` refuses a size at which one batch (the larger of ``batch_size`` and
        the inference batch of 256) of float32 inputs exceeds
        :data:`skreid.utils.MAX_BATCH_BYTES` (1 GiB).
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
        MobileNetV3 only: the backbone's layers up to its feature map at this stride stay
        frozen (their generic low-level filters transfer as they are, and skipping their
        backward pass speeds up training).
    last_stride : {2, 1}, default=2
        MobileNetV3 only: stride of the backbone's last stage. ``1`` doubles the height and
        width of the final feature map (output stride 16), the "last stride" trick of re-ID
        (Luo et al., 2019), at the cost of a 4x more expensive last stage.
    n_parts : int, default=4
        Horizontal body stripes described beside the whole image (part-based re-ID, Sun et
        al. 2018): the trunk's feature map is also average-pooled in ``n_parts`` stripes,
        each with its own BN neck and identity classifier; the embedding concatenates the
        ``1 + n_parts`` L2-normalised branch features (``(1 + n_parts) x`` the width).
        Ignored by the seed branch (which flattens) and by callables returning a vector.
    camera_sampling : bool, default=False
        With ``cameras`` passed to ``fit``: the K images of each identity in a batch come
        from as many different cameras as it has, so each batch holds cross-camera
        positive pairs (the pairs re-ID is scored on).
    loss : {"batch_hard", "soft_margin", "random_triplet"}, default="batch_hard"
        Batch-hard triplet with hinge ``margin``, batch-hard with soft margin, or the
        report's random triplets (``batch_size`` triplets per batch).
    margin : float, default=0.3
        Triplet margin (not used by ``"soft_margin"``).
    id_loss_weight : float, default=1.0
        Weight of the identity cross-entropy head (training only); 0 disables it.
    label_smoothing : float, default=0.1
        Label smoothing of the identity loss.
    head_lr_multiplier : float, default=10.0
        Learning-rate multiplier of the identity head, which starts from scratch while the
        pretrained backbone needs a small ``learning_rate``.
    augment : bool, default=True
        Horizontal flip, random translation (10 %), random erasing; training only.
    optimizer : {"adam", "adamw", "lamb", "rmsprop", "sgd"}, default="adam"
    learning_rate : float, default=3.5e-4
        Backbone learning rate (the identity head gets ``head_lr_multiplier`` times it).
        Rates this high need the warm-up: on the development split 3.5e-4 gave 70.2 %
        rank-1 with five warm-up epochs and 68.8 % with one, against 67.3 % for 1e-4.
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
        Test-time flip averaging: every embedding (``transform``, the gallery, validation)
        is the mean of the embeddings of the image and its horizontal mirror, then
        L2-normalised. Doubles inference cost; the network is trained with random flips,
        so both views are in-distribution and their mean is a less noisy descriptor.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Gallery distance (embeddings are L2-normalised, so both rank alike).
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of the query x gallery distances used by ``kneighbors``,
        ``gallery_distances``, ``decision_function``, ``predict`` and ``score`` (True: the
        paper's k1=20, k2=6, lambda_value=0.3, or a dict of them); see
        :func:`skreid.search.rerank_k_reciprocal`. Helps multi-shot galleries only.
    run_eagerly : bool, default=False
        Run Keras eagerly (no graph tracing): slower per batch, faster for tiny problems.
    random_state : int, RandomState or None, default=None
    verbose : int, default=0
        0 silent, 1 Keras progress bar, 2 one line per epoch.
    warm_start : bool, default=False
        ``fit`` continues training the fitted network.

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
        Pixel scale of the training images (255.0 or 1.0, :func:`skreid.utils.pixel_range`;
        None for feature vectors). ``transform`` reads integer images as [0, 255] and float
        images on this scale; [0, 1] floats after a fit on [0, 255] pixels give a
        :class:`~skreid.utils.PixelScaleWarning`, floats above 1 after a fit on [0, 1] a
        ValueError.
    validation_identities_ : ndarray
        Training identities held out for validation rank-1 (empty without validation).
    best_epoch_ : int
        Epoch whose weights were restored by early stopping (only with validation).

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
        camera_sampling=False,
        loss="batch_hard",
        margin=0.3,
        id_loss_weight=1.0,
        label_smoothing=0.1,
        head_lr_multiplier=10.0,
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
        self.camera_sampling = camera_sampling
        self.loss = loss
        self.margin = margin
        self.id_loss_weight = id_loss_weight
        self.label_smoothing = label_smoothing
        self.head_lr_multiplier = head_lr_multiplier
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

    @classmethod
    def from_preset(cls, name, **overrides):
        """Estimator with a named configuration of :data:`TRIPLET_PRESETS`, then overrides."""
        if name not in TRIPLET_PRESETS:
            raise ValueError(f"preset must be one of {sorted(TRIPLET_PRESETS)}, got {name!r}.")
        return cls(**{**TRIPLET_PRESETS[name], **overrides})

    # ------------------------------------------------------------------ fitting
    def fit(self, X, y, cameras=None):
        """Train the embedding on images ``X`` with identities ``y``; index them as gallery.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c]) or (n, h * w * c)
            Training images: integers in [0, 255], or floats in [0, 1] or [0, 255] (the scale
            is read from the data, recorded as ``pixel_range_`` and applied to every later
            batch; see :func:`skreid.utils.pixel_range`).
        y : array-like of shape (n,)
            Identity of each image (at least 2 identities).
        cameras : array-like of shape (n,), optional
            Camera of each image: validation rank-1 then skips same-camera matches.

        Returns
        -------
        self : TripletEmbedder
        """
        return self._fit(X, y, epochs=self.epochs, reset=not self.warm_start, cameras=cameras)

    def partial_fit(self, X, y, classes=None, cameras=None):
        """Train for one epoch more (building the network on the first call).

        ``classes`` (all identities, needed by the identity head) is read on the first call;
        by default the identities of that first ``y``.
        """
        return self._fit(X, y, epochs=1, reset=False, cameras=cameras, classes=classes)

    def _read_images(self, X, reset):
        X_arr = X if hasattr(X, "ndim") or sp.issparse(X) else np.asarray(X)
        if self.image_shape is None and (sp.issparse(X_arr) or X_arr.ndim <= 2):
            # feature vectors, validated the sklearn way (sparse, object, 1-D, 0 features),
            # then read as 1x1 images with one channel per feature
            X = check_array(X_arr, dtype=np.float32, accept_sparse=False)
            X = check_images(X[:, None, None, :], name="X")
        else:
            keep_uint8 = getattr(X_arr, "dtype", None) == np.uint8
            X = check_images(X_arr, image_shape=self.image_shape, name="X", dtype=None)
            # skreid's pixel-scale rule (skreid.utils.pixel_range): fit records the scale,
            # later batches are read on it (integers always as [0, 255]) or warned about
            if reset:
                self._fit_pixel_range = pixel_range(X)
            else:
                factor = match_pixel_range(X, getattr(self, "pixel_range_", None),
                                           estimator=self)
                if factor != 1.0:
                    X, keep_uint8 = X.astype(np.float32) * np.float32(factor), False
            X = X if keep_uint8 else X.astype(np.float32, copy=False)
        if not reset and X.shape[1:] != self.input_shape_ and X.shape[1:3] == (1, 1):
            # flat feature vectors: sklearn's wording, which its common checks look for
            raise ValueError(
                f"X has {X.shape[3]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input."
            )
        if not reset and X.shape[1:] != self.input_shape_:
            raise ValueError(
                f"X has images of shape {X.shape[1:]}, but {type(self).__name__} was fitted on "
                f"images of shape {self.input_shape_} (n_features_in_={self.n_features_in_}); "
                f"resize them first."
            )
        return X

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
        if self.loss != "random_triplet" and (counts < 2).any():
            lonely = ids[counts < 2]
            raise ValueError(
                f"loss={self.loss!r} needs at least 2 images per identity (a positive for each "
                f"anchor), but {lonely.size} identit{'y has' if lonely.size == 1 else 'ies have'}"
                f" 1 image: {lonely[:10].tolist()}{' ...' if lonely.size > 10 else ''}. Remove "
                f"them or use loss='random_triplet'."
            )
        if self.loss == "random_triplet" and not (counts >= 2).any():
            raise ValueError("loss='random_triplet' needs an identity with at least 2 images.")
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
        def bad(name, accepted):
            return ValueError(f"{name} must be {accepted}, got {getattr(self, name)!r}.")

        arch = self.architecture
        if not callable(arch) and arch not in ("mobilenet_v3_small", "resnet", "seed"):
            raise bad("architecture", "'mobilenet_v3_small', 'resnet', 'seed' or a callable")
        if self.pooling not in ("avg", "gem"):
            raise bad("pooling", "'avg' or 'gem'")
        if self.last_stride not in (1, 2):
            raise bad("last_stride", "1 or 2")
        if self.frozen_stride not in (None, 4, 8, 16):
            raise bad("frozen_stride", "None, 4, 8 or 16")
        if self.loss not in _LOSSES:
            raise bad("loss", f"one of {list(_LOSSES)}")
        if self.optimizer not in ("adam", "adamw", "lamb", "rmsprop", "sgd"):
            raise bad("optimizer", "one of ['adam', 'adamw', 'lamb', 'rmsprop', 'sgd']")
        if self.lr_schedule not in ("cosine", "constant"):
            raise bad("lr_schedule", "'cosine' or 'constant'")
        for name in ("epochs", "batch_size", "images_per_identity", "patience",
                     "warmup_epochs", "n_parts"):
            value = getattr(self, name)
            low = 0 if name in ("warmup_epochs", "n_parts") else 1
            if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < low:
                raise bad(name, "a positive int" if low else "an int >= 0")
        for name in ("margin", "learning_rate", "id_loss_weight", "label_smoothing",
                     "head_lr_multiplier"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Real) or not np.isfinite(value) or value < 0:
                raise bad(name, "a finite float >= 0")
        for name in ("flip_test", "camera_sampling"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise bad(name, "a bool")
        if not 0 <= self.validation_fraction < 1:
            raise bad("validation_fraction", "a float in [0, 1)")
        if self.image_size is not None:
            check_image_size(self.image_size)
        weights = self.weights
        if arch == "mobilenet_v3_small" and weights is not None and not (
            isinstance(weights, str) and weights == "imagenet"
        ):
            import os

            if not isinstance(weights, (str, os.PathLike)) or not os.path.isfile(weights):
                raise ValueError(
                    f"weights file not found: {weights!r}. Pass the path of an existing "
                    f".weights.h5 file for MobileNetV3Small(alpha=0.75, include_top=False), "
                    f"'imagenet' or None."
                )
        check_reid_metric(self.metric)
        check_rerank(self.rerank)
        if self.loss != "random_triplet":
            k = self.images_per_identity
            if k < 2 or self.batch_size % k or self.batch_size // k < 2:
                raise ValueError(
                    f"batch_size={self.batch_size} must split into P identities x K="
                    f"images_per_identity={k} images, with P >= 2 and K >= 2 (e.g. "
                    f"batch_size={max(2, self.batch_size // max(k, 2)) * max(k, 2)})."
                )

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
            head_lr_multiplier=self.head_lr_multiplier, pooling=self.pooling,
            frozen_stride=self.frozen_stride, last_stride=self.last_stride,
            n_parts=self.n_parts,
        )

    def _compile(self, n_batches, epochs):
        from skreid._keras._reid_training import compile_reid_model, make_optimizer

        optimizer = make_optimizer(self.optimizer, self.learning_rate, self.lr_schedule,
                                   total_steps=n_batches * epochs,
                                   warmup_steps=n_batches * self.warmup_epochs)
        compile_reid_model(
            self.model_, loss=self.loss, margin=self.margin, id_loss_weight=self.id_loss_weight,
            label_smoothing=self.label_smoothing, optimizer=optimizer,
            run_eagerly=self.run_eagerly,
        )

    def _train(self, X, y, epochs, cameras=None):
        from skreid._keras._reid_training import ValidationRank1, split_identities
        from skreid._keras._samplers import PKSampler, RandomTripletSampler, as_keras_dataset

        # the global NumPy RNG is seeded by the base class for this fit
        rng = np.random.RandomState(np.random.randint(2**31 - 1))  # noqa: NPY002
        codes = np.searchsorted(self.identities_, y) if np.isin(y, self.identities_).all() \
            else np.unique(y, return_inverse=True)[1]
        if self.n_epochs_ == 0:
            train_mask, val_mask = split_identities(codes, self.validation_fraction, rng)
            self.validation_identities_ = (
                np.unique(y[val_mask]) if val_mask is not None else np.array([], y.dtype)
            )
        else:  # continued training keeps the identity split of the first fit
            val_mask = np.isin(y, self.validation_identities_)
            val_mask = val_mask if val_mask.any() else None
            train_mask = ~val_mask if val_mask is not None else np.ones(len(y), bool)
        tr = np.flatnonzero(train_mask)
        tr_codes = np.unique(codes[tr], return_inverse=True)[1]
        if self.loss == "random_triplet":
            sampler = RandomTripletSampler(tr_codes, self.batch_size, rng)
        else:
            P = self.batch_size // self.images_per_identity
            sampler = PKSampler(tr_codes, P, self.images_per_identity, rng,
                                cameras=None if cameras is None or not self.camera_sampling
                                else cameras[tr])
        if self.n_epochs_ == 0 or not getattr(self.model_, "compiled", False):
            self._compile(len(sampler), epochs)
        targets = {"triplet": codes[tr]}
        if "logits" in self.model_.output_names:
            targets["logits"] = codes[tr]
        dataset = as_keras_dataset(X[tr], targets, sampler)
        callbacks = []
        if val_mask is not None:
            vcam = None if cameras is None else cameras[val_mask]
            validation = ValidationRank1(
                self._embed, X[val_mask], y[val_mask], vcam, early_stopping=self.early_stopping,
                patience=self.patience, verbose=self.verbose,
            )
            callbacks.append(validation)
        history = self._keras_fit(dataset, epochs=epochs, callbacks=callbacks,
                                  steps_per_epoch=len(sampler), shuffle=False)
        if val_mask is not None and self.early_stopping:
            validation.restore_best()
            # n_epochs_ still counts the epochs before this call (the base adds them after)
            # the callback keeps the later epoch on ties: the last maximum
            val = np.asarray(history["val_rank1"], float)[::-1]
            self.best_epoch_ = self.n_epochs_ + len(val) - int(np.nanargmax(val))
        self._set_gallery_embeddings(self._embed(X), y, cameras)
        return history

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
