"""FineTunedPetNet: a pretrained backbone (MobileNetV3-Small by default) with a breed head and
a segmentation decoder."""

import os
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions

from skreid._keras._base import KerasEstimatorMixin
from skreid._keras._registry import BACKBONES
from skreid.pets._base import PET_CONSTRAINTS, PetNetMixin
from skreid.utils import check_image_size, check_weights


class FineTunedPetNet(
    PetNetMixin, ClassifierMixin, TransformerMixin, KerasEstimatorMixin, BaseEstimator
):
    """Pretrained backbone fine-tuned to classify the breed and segment the animal.

    Training is staged: for the first ``head_epochs`` epochs the backbone is frozen and only
    the breed head and the segmentation decoder learn (at ``learning_rate``); afterwards the
    top ``fine_tune_blocks`` inverted-residual blocks of the backbone are unfrozen and
    everything trains at ``fine_tune_learning_rate``. With pretrained weights the backbone's
    BatchNormalization layers always stay frozen (the shared weights are BatchNorm-folded).
    With ``weights=None`` there are no features to protect: the whole backbone, BatchNorm
    included, trains from the first epoch at ``learning_rate`` (``head_epochs``,
    ``fine_tune_blocks``, ``fine_tune_learning_rate`` and ``probe_C`` are then unused).

    Parameters
    ----------
    weights : str, path-like, "imagenet" or None, default="imagenet"
        Backbone weights: a local ``.weights.h5`` file of the same backbone (e.g. the shared
        ``mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5``), ``"imagenet"``
        (Keras's download, cached; offline it raises an error telling you to pass a local
        file) or ``None`` (random initialisation, trained from scratch with learning
        BatchNorm, momentum 0.9).
    backbone : {"mobilenet_v3_small", "mobilenet_v2"}, default="mobilenet_v3_small"
        A backbone of the registry (``skreid._keras._registry.BACKBONES``).
    alpha : float or None, default=None
        Backbone width multiplier; must match the weights. ``None``: the registry's (0.75
        for MobileNetV3-Small, the shared weights; 1.0 for MobileNetV2).
    head : {"light", "report"}, default="light"
        ``"report"``: global average pooling, Dense 1024-1024-512 ReLU, Dense softmax (the
        report's head). ``"light"``: global average pooling, dropout, Dense softmax.
    probe_C : float or None, default=0.5
        With ``head="light"``, the breed layer starts from a logistic regression (inverse
        regularisation ``probe_C``, ``class_weight`` applied) fitted on the frozen backbone's
        features before any epoch: linear probing then fine-tuning. ``None``: random start.
        0.5 is the C of the logistic-regression baseline of ``docs/benchmarks.rst`` (the
        probe is what the default's frozen backbone relies on).
    image_size : int or (int, int), default=(320, 320)
        Working resolution (at least 32); other input sizes are resized inside the network.
        Larger than the backbone's 224 px ImageNet training size on purpose: ImageNet
        training used random-resized crops, which enlarge objects, so pretrained networks
        see objects at their training scale at a higher test resolution (Touvron et al.,
        "Fixing the train-test resolution discrepancy", 2019; measured in
        ``docs/benchmarks.rst``).
        Load the images at this size (e.g. ``load_oxford_pets(root, image_size=320)``):
        upsampling smaller images inside the network adds no detail.
    n_classes : int or None, default=None
        See :class:`MultiTaskPetNet`.
    segmentation : {"binary", "trimap"}, default="binary"
    ignore_border : bool, default=False
    task_weights : (float, float) or dict, default=(1.0, 1.0)
    class_weight : None, "balanced" or dict, default="balanced"
    dropout : float, default=0.2
        Dropout before the breed classifier.
    decoder_width : int, default=64
        Channels of the feature-pyramid segmentation decoder.
    augment : bool, default=True
    test_time_flip : bool, default=True
        ``predict``, ``predict_proba`` and ``predict_mask`` average the network's outputs
        over each image and its horizontal mirror (the mirrored mask flipped back); the
        training augmentation flips too, so both views are in-distribution. Twice the
        inference cost; ``transform`` is unaffected.
    epochs : int, default=4
        Total epochs, head-only ones included.
    head_epochs : int, default=4
        Epochs with the backbone frozen; the epochs after them (``epochs > head_epochs``)
        fine-tune. The default (``head_epochs == epochs``) keeps the backbone frozen: on
        the Oxford pets test split it beat fine-tuning 2 blocks after 2 head epochs on
        every measure (``docs/benchmarks.rst``), since fine-tuning on ~700 images distorts
        the pretrained features the linear-probe head relies on.
    fine_tune_blocks : int or None, default=2
        Top blocks of the backbone unfrozen after ``head_epochs`` (0: never; None: all).
    batch_size : int, default=32
    learning_rate : float, default=1e-3
        Adam learning rate of the head-only stage.
    fine_tune_learning_rate : float, default=5e-5
        Adam learning rate once backbone blocks are unfrozen.
    validation_fraction : float or None, default=None
    run_eagerly : "auto" or bool, default="auto"
        Train without compiling the step into a TensorFlow graph. ``"auto"``: eagerly
        when a ``fit`` call has at most 64 steps (tracing costs more than it saves).
    warm_start : bool, default=False
    random_state : int, RandomState or None, default=None
    verbose : int, default=0

    Attributes
    ----------
    model_ : keras.Model
        Outputs ``{"breed", "mask"}`` at ``image_size``.
    classes_ : ndarray
    history_ : dict of lists
        Per-epoch losses and metrics (head-only and fine-tuning epochs alike).
    n_epochs_ : int
        Epochs trained so far (``warm_start`` and ``partial_fit`` add to them).
    n_channels_in_ : int
        1 (grayscale, repeated to RGB) or 3.
    pixel_range_ : float or None
        Pixel scale of the training images (see :class:`MultiTaskPetNet`).
    n_features_in_ : int
        Only after a fit on flat 2-D rows (see :class:`MultiTaskPetNet`).

    Examples
    --------
    >>> from skreid.datasets import make_pets
    >>> from skreid.pets import FineTunedPetNet
    >>> data = make_pets(n_samples=20, n_classes=2, image_size=32, random_state=0)
    >>> net = FineTunedPetNet(weights=None, image_size=32, epochs=1, random_state=0)
    >>> net = net.fit(data.images, data.labels, masks=data.masks)
    >>> net.transform(data.images[:3]).shape
    (3, 432)
    """

    #: the training stage (frozen backbone or fine-tuning), restored by skreid.load
    _saved_state_attrs = ("_stage",)
    _parameter_constraints = {
        **PET_CONSTRAINTS,
        "weights": [str, os.PathLike, None],
        "backbone": [StrOptions(set(BACKBONES))],
        "alpha": [Interval(Real, 0, None, closed="neither"), None],
        "head": [StrOptions({"light", "report"})],
        "probe_C": [Interval(Real, 0, 1e6, closed="right"), None],
        "decoder_width": [Interval(Integral, 2, None, closed="left")],
        "test_time_flip": ["boolean"],
        "head_epochs": [Interval(Integral, 0, None, closed="left")],
        "fine_tune_blocks": [Interval(Integral, 0, None, closed="left"), None],
        "fine_tune_learning_rate": [Interval(Real, 0, 10, closed="right")],
    }

    def __init__(
        self,
        weights="imagenet",
        *,
        backbone="mobilenet_v3_small",
        alpha=None,
        head="light",
        probe_C=0.5,
        image_size=(320, 320),
        n_classes=None,
        segmentation="binary",
        ignore_border=False,
        task_weights=(1.0, 1.0),
        class_weight="balanced",
        dropout=0.2,
        decoder_width=64,
        augment=True,
        test_time_flip=True,
        epochs=4,
        head_epochs=4,
        fine_tune_blocks=2,
        batch_size=32,
        learning_rate=1e-3,
        fine_tune_learning_rate=5e-5,
        validation_fraction=None,
        run_eagerly="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
    ):
        self.weights = weights
        self.backbone = backbone
        self.alpha = alpha
        self.head = head
        self.probe_C = probe_C
        self.image_size = image_size
        self.n_classes = n_classes
        self.segmentation = segmentation
        self.ignore_border = ignore_border
        self.task_weights = task_weights
        self.class_weight = class_weight
        self.dropout = dropout
        self.decoder_width = decoder_width
        self.augment = augment
        self.test_time_flip = test_time_flip
        self.epochs = epochs
        self.head_epochs = head_epochs
        self.fine_tune_blocks = fine_tune_blocks
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.fine_tune_learning_rate = fine_tune_learning_rate
        self.validation_fraction = validation_fraction
        self.run_eagerly = run_eagerly
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose

    def _image_size(self):
        return check_image_size(self.image_size, name="image_size")

    def _check_params(self):
        params = super()._check_params()
        spec = BACKBONES[self.backbone]
        size = params["image_size"]
        if min(size) < spec.min_size:
            raise ValueError(
                f"image_size must be at least ({spec.min_size}, {spec.min_size}) for "
                f"{spec.application}, got {size}."
            )
        check_weights(self.weights, spec.architecture(self.alpha))
        return params

    def _validate_fit_data(self, X, y, reset, masks=None, **fit_params):
        X, y, params = super()._validate_fit_data(X, y, reset, masks=masks, **fit_params)
        if X.shape[-1] not in (1, 3):
            raise ValueError(
                f"X must be RGB (3 channels) or grayscale (1) images for "
                f"{BACKBONES[self.backbone].application}, got {X.shape[-1]} channels."
            )
        return X, y, params

    def _test_time_flip(self):
        return bool(self.test_time_flip)

    def _network_channels(self):
        return 3

    def _to_network_input(self, X):
        # grayscale repeated to RGB: the backbone was trained on colour images
        return np.repeat(X, 3, axis=-1) if X.shape[-1] == 1 else X

    def _network_outputs(self, X):
        breed, mask = super()._network_outputs(X)
        if self.test_time_flip:
            # a measured gain on the Oxford pets test split (docs/benchmarks.rst)
            breed_flip, mask_flip = super()._network_outputs(X[:, :, ::-1])
            breed = 0.5 * (breed + breed_flip)
            mask = 0.5 * (mask + mask_flip[:, :, ::-1])
        return breed, mask

    def _build_model(self, X, y, masks=None, params=None):
        from skreid._keras import _pet_networks as nets
        from skreid._keras._backbones import build_backbone

        size = params["image_size"]
        # the registry's BatchNorm rule: frozen for pretrained weights, learning otherwise
        backbone = build_backbone(self.backbone, (*size, 3), weights=self.weights,
                                  alpha=self.alpha)
        model = nets.build_finetune_network(
            backbone, image_size=size, n_classes=len(self.classes_),
            n_mask_classes=self._n_mask_classes(), head=self.head, dropout=self.dropout,
            decoder_width=self.decoder_width, backbone_name=self.backbone,
        )
        self._stage = None
        return model

    def _pretrained(self):
        return self.weights is not None

    def _stage_at(self, epoch):
        if not self._pretrained():
            return "scratch"
        return "head" if epoch < self.head_epochs else "fine_tune"

    def _set_stage(self, stage, task_weights):
        """Freeze/unfreeze the backbone for ``stage`` and recompile with ``task_weights``.

        ``"head"``: backbone frozen; ``"fine_tune"``: its top ``fine_tune_blocks`` blocks
        unfrozen (BatchNorm frozen); ``"scratch"`` (``weights=None``): everything trains.
        """
        from skreid._keras import _pet_networks as nets
        from skreid._keras._pet_training import set_backbone_trainable

        if getattr(self, "_stage", None) == stage:
            return
        blocks = {"head": 0, "fine_tune": self.fine_tune_blocks, "scratch": None}[stage]
        lr = self.fine_tune_learning_rate if stage == "fine_tune" else self.learning_rate
        set_backbone_trainable(self.model_, blocks, freeze_bn=stage != "scratch",
                               name=self.backbone)
        # a linear-probe head is already converged: the head stage trains only the decoder
        # (at the head learning rate it drifted; docs/benchmarks.rst)
        self.model_.get_layer("breed").trainable = not (stage == "head" and self._probed())
        nets.compile_network(self.model_, lr, self._n_mask_classes(), task_weights)
        self._stage = stage

    def _init_head_from_linear_probe(self, X, y, size):
        """Set the breed layer to a logistic regression fitted on the frozen features.

        Linear probing then fine-tuning (LP-FT; Kumar et al., "Fine-Tuning can Distort
        Pretrained Features and Underperform Out-of-Distribution", ICLR 2022): starting the
        fine-tuning from a converged linear head keeps the large early gradients of a random
        head from distorting the pretrained features, and replaces many head-only epochs by
        one forward pass and a few seconds of L-BFGS.
        """
        from sklearn.linear_model import LogisticRegression

        from skreid._keras._pet_training import predict_embedding, resize_batch

        X = resize_batch(X, size)
        features = predict_embedding(self.model_, X, self.batch_size)
        if self.augment or self.test_time_flip:
            # the network sees mirrored pets in training (augmentation) and averages both
            # views at prediction: the probe learns from both views too (docs/benchmarks.rst)
            mirrored = predict_embedding(self.model_, np.ascontiguousarray(X[:, :, ::-1]),
                                         self.batch_size)
            features, y = np.vstack([features, mirrored]), np.concatenate([y, y])
        class_weight = self.class_weight
        if isinstance(class_weight, dict):  # keys are labels; the probe sees class indices
            class_weight = {int(np.searchsorted(self.classes_, k)): w
                            for k, w in class_weight.items() if k in self.classes_}
        probe = LogisticRegression(C=self.probe_C, max_iter=2000, class_weight=class_weight)
        probe.fit(features, y)
        n_classes = len(self.classes_)
        kernel = np.zeros((features.shape[1], n_classes), dtype=np.float32)
        # classes absent from y keep a zero kernel and a low bias (probability ~0)
        bias = np.full(n_classes, -10.0, dtype=np.float32)
        coef, intercept = probe.coef_, probe.intercept_
        if coef.shape[0] == 1:  # binary: sklearn keeps one row, logits (0, w.x + b)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.array([0.0, intercept[0]])
        kernel[:, probe.classes_] = coef.T
        bias[probe.classes_] = intercept
        self.model_.get_layer("breed").set_weights([kernel, bias])

    def _probed(self):
        # a probe on a random backbone's features would only anchor the head to noise
        return self._pretrained() and self.head == "light" and self.probe_C is not None

    def _train(self, X, y, epochs, masks=None, params=None):
        size, task_weights = params["image_size"], params["task_weights"]
        X = self._to_network_input(X)
        if self.n_epochs_ == 0 and self._probed():
            self._init_head_from_linear_probe(X, y, size)
        if getattr(self, "_stage", None) is None:
            self._set_stage(self._stage_at(self.n_epochs_), task_weights)
        if epochs == 0:
            return {}
        train, val = self._split_validation(*self._training_arrays(X, y, masks, size))
        history = {}
        done = 0
        while done < epochs:
            epoch = self.n_epochs_ + done
            stage = self._stage_at(epoch)
            n = epochs - done if stage != "head" else min(epochs - done,
                                                          self.head_epochs - epoch)
            self._set_stage(stage, task_weights)
            part = self._fit_stage(train, val, epochs=n, offset=done)
            for key, values in part.items():
                history.setdefault(key, [np.nan] * done).extend(values)
            done += n
        for values in history.values():
            values.extend([np.nan] * (epochs - len(values)))
        return history
