"""TripletEmbedder: a Keras triplet-loss re-ID embedder as a scikit-learn estimator.

Keras is imported only when a network is built (``fit``) or unpickled.
"""

import os
from numbers import Integral, Real

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import Hidden, Interval, Options, StrOptions
from sklearn.utils.validation import check_is_fitted

from skreid._keras import ActivationMapsMixin, KerasEstimatorMixin
from skreid._keras._registry import BACKBONES, LOSSES, OPTIMIZERS, SCHEDULES
from skreid.reid._adapt import ADAPT_CONSTRAINTS, AdaptationMixin
from skreid.reid._base import ReIDMixin
from skreid.reid._presets import TRIPLET_PRESETS
from skreid.reid._triplet_fit import TripletFitMixin
from skreid.utils import DEPRECATED, renamed_param

__all__ = ["TripletEmbedder"]


class TripletEmbedder(TripletFitMixin, AdaptationMixin, ActivationMapsMixin, ReIDMixin,
                      ClassifierMixin, TransformerMixin, KerasEstimatorMixin, BaseEstimator):
    """Re-ID embedding network trained with a triplet loss (Keras 3), sklearn-compatible.

    ``fit`` learns an embedding from images and identity labels; the training images become
    the gallery, so ``predict``/``score`` work straight away (closed set). ``set_gallery``
    indexes unseen identities (open set); ``transform`` gives L2-normalised embeddings.

    The defaults are the best configuration measured on the CAB420 Market-1501 subset
    (``docs/benchmarks.rst``): MobileNetV3-Small (alpha 0.75, frozen BatchNorm) at 256x128,
    the whole image and four horizontal stripes as five branches, P x K batches (16 x 4),
    batch-hard triplet loss on L2-normalised features plus a label-smoothed identity loss on a
    BN neck per branch (heads at 10x the learning rate, BoT's recipe), flip / translation /
    random-erasing augmentation, Adam 3.5e-4 with a five-epoch warm-up and cosine decay over
    40 epochs, test-time flip averaging. Pass ``weights=`` a local ``.weights.h5`` file when
    offline. Named configurations: :meth:`from_preset` (:data:`~skreid.reid.TRIPLET_PRESETS`).

    ``warm_start=True`` / ``partial_fit`` continue with the optimizer state and learning-rate
    schedule where the previous call left them (so with ``lr_schedule="cosine"`` at its end).

    Parameters
    ----------
    backbone : {"mobilenet_v3_small", "mobilenet_v2", "resnet", "seed"} or callable, \
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
        Keyword-only, as every parameter after ``image_size``.
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
    color_augment : float in [0, 1], default=0.0
        Colour / exposure augmentation strength (0: none), in training with ``augment``.
    ibn : bool, default=False
        Registry backbones: IBN-a instance norm on half the channels up to stride 16.
    mixstyle : float in [0, 1], default=0.0
        Registry backbones: per-batch MixStyle probability at strides 4 and 8 (training).
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
    test_time_flip : bool, default=True
        Every embedding (``transform``, gallery, validation) is the L2-normalised mean of
        those of the image and its mirror: twice the inference cost; training flips too, so
        both views are in-distribution and their mean is a less noisy descriptor.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Gallery distance (embeddings are L2-normalised, so both rank alike).
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of every gallery distance (True: k1=20, k2=6, lambda_value=0.3,
        or a dict; :func:`skreid.metrics.pairwise.rerank_k_reciprocal`): multi-shot galleries.
    camera_normalization : {None, "center", "whiten"}, default=None
        Per-camera normalisation of gallery and queries (see :class:`~skreid.reid.ReIDMixin`).
    run_eagerly : "auto" or bool, default="auto"
        Run Keras without compiling its steps into graphs. ``"auto"``: eagerly for a call of
        at most 64 steps (training batches of a ``fit`` call, inference batches of 256),
        where tracing the graph costs more than it saves.
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
        nearest other crop, read once from the model being adapted. The adapted weights are
        the average of the weights at the end of each round.
    architecture, flip_test : deprecated
        The former names of ``backbone`` and ``test_time_flip``: still accepted,
        with a FutureWarning, until skreid 0.3 (files saved under them load as the new names).

    Attributes
    ----------
    model_ : keras.Model
        Training network (outputs ``"triplet"`` and, with an identity head, ``"logits"``).
    history_ : dict of lists
        Per-epoch losses, ``val_rank1`` and ``epoch_time``.
    n_epochs_ : int
        Epochs trained so far (``warm_start`` and ``partial_fit`` add to them).
    identities_ : ndarray
        Training identities (order of the identity head).
    classes_, gallery_embeddings_, gallery_ids_, gallery_cameras_, gallery_tracklets_, \
camera_statistics_ :
        The gallery (see :class:`~skreid.reid.ReIDMixin`).
    input_shape_ : tuple
        Shape of one input image.
    n_features_in_ : int
        Its number of values.
    pixel_range_ : float or None
        Pixel scale of the training images (255.0 or 1.0; None for feature vectors), applied
        to every later batch under :func:`skreid.utils.pixel_range`'s rule.
    input_scale_ : float
        Factor the network applies to its input pixels: 255.0 for images on [0, 1] (the
        networks work on [0, 255]), else 1.0.
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
    >>> est = TripletEmbedder(backbone="seed", image_size=None, epochs=1, batch_size=8,
    ...                       images_per_identity=2, validation_fraction=0, random_state=0)
    >>> est.fit(people.images, people.person_ids).transform(people.images).shape
    (32, 32)
    """

    _keras_transient_attrs = ("_embedder", "_feature_model")
    #: old parameter name -> new one (skreid.utils.renamed_param)
    _renamed_params = {"architecture": "backbone", "flip_test": "test_time_flip"}

    _parameter_constraints = {
        "backbone": [StrOptions({"seed", "resnet", *BACKBONES}), callable],
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
        "color_augment": [Interval(Real, 0, 1, closed="both")],
        "ibn": ["boolean"],
        "mixstyle": [Interval(Real, 0, 1, closed="both")],
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
        "test_time_flip": ["boolean"],
        **ReIDMixin._reid_parameter_constraints,  # metric, rerank, camera_normalization
        "run_eagerly": [StrOptions({"auto"}), "boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        **ADAPT_CONSTRAINTS,
        "architecture": [StrOptions({"seed", "resnet", *BACKBONES}), callable,
                         Hidden(StrOptions({DEPRECATED}))],
        "flip_test": ["boolean", Hidden(StrOptions({DEPRECATED}))],
    }

    def __init__(
        self,
        backbone="mobilenet_v3_small",
        weights="imagenet",
        image_size=(256, 128),
        *,
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
        color_augment=0.0,
        ibn=False,
        mixstyle=0.0,
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
        test_time_flip=True,
        metric="euclidean",
        rerank=None,
        camera_normalization=None,
        run_eagerly="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        adapt_rounds=4,
        adapt_epochs=4,
        adapt_eps="auto",
        adapt_min_samples=4,
        adapt_k1=30,
        architecture=DEPRECATED,
        flip_test=DEPRECATED,
    ):
        self.backbone = backbone
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
        self.color_augment = color_augment
        self.ibn = ibn
        self.mixstyle = mixstyle
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
        self.test_time_flip = test_time_flip
        self.metric = metric
        self.rerank = rerank
        self.camera_normalization = camera_normalization
        self.run_eagerly = run_eagerly
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.adapt_rounds = adapt_rounds
        self.adapt_epochs = adapt_epochs
        self.adapt_eps = adapt_eps
        self.adapt_min_samples = adapt_min_samples
        self.adapt_k1 = adapt_k1
        self.architecture = architecture
        self.flip_test = flip_test

    @classmethod
    def from_preset(cls, name, **overrides):
        """Estimator with a named configuration of :data:`TRIPLET_PRESETS`, then overrides."""
        if name not in TRIPLET_PRESETS:
            raise ValueError(f"preset must be one of {sorted(TRIPLET_PRESETS)}, got {name!r}.")
        return cls(**{**TRIPLET_PRESETS[name], **overrides})

    # --------------------------------------------------------------- inference
    def _test_time_flip(self):
        return renamed_param(self, "test_time_flip")

    def _embed(self, X):
        from skreid._keras._base import resolve_run_eagerly
        from skreid._keras._reid_networks import embed_images, embedding_model

        if getattr(self, "_embedder", None) is None:
            self._embedder = embedding_model(self.model_)
        eager = resolve_run_eagerly(self.run_eagerly, -(-len(X) // 256))
        return embed_images(self._embedder, X, flip=self._test_time_flip(), eager=eager)

    def transform(self, X):
        """L2-normalised embeddings of images ``X``, shape ``(n_samples, n_dims)``."""
        check_is_fitted(self, "model_")
        return self._embed(self._read_images(X, reset=False))

    def _inference_graph(self):
        """Export hook: images -> embeddings (scaling, resize, flip averaging, L2
        normalisation in the graph) and the activation maps of a spatial trunk."""
        from skreid._keras._inference_graph import embedder_graph

        def reference(X, names):
            out = {"embeddings": self.transform(X)}
            if "activation_maps" in names:
                out["activation_maps"] = self.activation_maps(X, upsample=False)
            return out

        flip = bool(self._test_time_flip())
        return embedder_graph(
            self.model_, self.input_shape_, flip=flip, reference=reference,
            input_scale=self.input_scale_, metadata={
                "image_size": self.image_size, "test_time_flip": flip,
                "metric": self.metric, "n_identities": int(len(self.identities_)),
                "preprocessing": "in the graph: scaling, resize (as two matrices), flip "
                                 "averaging, L2 normalisation"})

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]
        tags.non_deterministic = False
        return tags
