"""MultiTaskPetNet: a from-scratch two-headed CNN (breed classification + segmentation)."""

from numbers import Integral

from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils._param_validation import Hidden, Interval, StrOptions

from skreid._keras._base import KerasEstimatorMixin
from skreid.pets._base import PET_CONSTRAINTS, PetNetMixin
from skreid.utils import DEPRECATED, check_image_size, renamed_param


class MultiTaskPetNet(
    PetNetMixin, ClassifierMixin, TransformerMixin, KerasEstimatorMixin, BaseEstimator
):
    """From-scratch CNN that classifies the breed and segments the animal in one pass.

    Parameters
    ----------
    network : {"unet", "seed"}, default="unet"
        The whole network (this estimator has no pretrained backbone). ``"seed"``: the
        report's network exactly (Conv2D 64-32-16 + max-pooling encoder, Dense softmax on the
        flattened bottleneck, Conv2D 16-16-32 + upsampling decoder, 1x1 sigmoid; 640,438
        parameters at 256x256x3 with 37 classes). ``"unet"``: a small U-Net with batch norm,
        skip connections and a global-average-pooling breed head, which learns both tasks
        from a few hundred images.
    image_size : int or (int, int), default=(128, 128)
        Keyword-only, as every parameter after ``network``. Working resolution; other input
        sizes are resized inside the network. Must be divisible by 8 (``"seed"``) or
        ``2**depth`` (``"unet"``).
    n_classes : int or None, default=None
        Number of breeds; labels must then be ints in ``0..n_classes-1`` (``classes_`` =
        ``range(n_classes)``, so breeds absent from the training data still get an output).
        ``None`` takes the classes from ``y``.
    segmentation : {"binary", "trimap"}, default="binary"
        ``"binary"``: pet (trimap pet + border) vs background with a sigmoid output;
        ``"trimap"``: 3-class softmax over pet, background and border.
    ignore_border : bool, default=False
        Leave trimap border pixels (label 2) out of the segmentation loss.
    task_weights : (float, float) or dict, default=(1.0, 1.0)
        Weights of the breed and mask losses (``{"breed": w1, "mask": w2}`` also accepted).
    class_weight : None, "balanced" or dict, default="balanced"
        Per-class weights of the breed loss; ``"balanced"`` = ``n / (k * count)``.
    width : int, default=16
        Filters of the first U-Net stage (doubled at each stage).
    depth : int, default=4
        Number of U-Net pooling stages.
    dropout : float, default=0.3
        Dropout before the U-Net breed classifier.
    augment : bool, default=True
        Random flips, translations and brightness/contrast changes during training (masks
        flipped and shifted with the images).
    epochs : int, default=30
    batch_size : int, default=32
    learning_rate : float, default=1e-3
        Adam learning rate.
    validation_fraction : float or None, default=None
        Hold out this fraction of the training images to report ``val_*`` metrics in
        ``history_`` (never used to choose weights).
    run_eagerly : "auto" or bool, default="auto"
        Train without compiling the step into a TensorFlow graph. ``"auto"``: eagerly
        when a ``fit`` call has at most 64 steps (tracing costs more than it saves).
    warm_start : bool, default=False
        ``fit`` continues training the fitted network.
    random_state : int, RandomState or None, default=None
        Seeds weights, shuffling and augmentation; the same int gives identical predictions.
    verbose : int, default=0
    architecture : deprecated
        The former name of ``network``: still accepted, with a FutureWarning, until skreid
        0.3 (files saved under it load as ``network``).

    Attributes
    ----------
    model_ : keras.Model
        Outputs ``{"breed", "mask"}`` at ``image_size``.
    classes_ : ndarray
    history_ : dict of lists
        Per-epoch losses and metrics (``breed_breed_accuracy``, ``mask_masked_pixel_accuracy``,
        ``epoch_time``...).
    n_epochs_ : int
        Epochs trained so far (``warm_start`` and ``partial_fit`` add to them).
    n_channels_in_ : int
        Channels of the training images.
    pixel_range_ : float or None
        Pixel scale of the training images (255.0 or 1.0; None for flat feature rows),
        applied to every later batch under :func:`skreid.utils.pixel_range`'s rule.
    n_features_in_ : int
        Only after a fit on flat 2-D rows (read as one-pixel-high strips): their width.

    Examples
    --------
    >>> from skreid.datasets import make_pets
    >>> from skreid.pets import MultiTaskPetNet
    >>> data = make_pets(n_samples=40, n_classes=2, image_size=32, random_state=0)
    >>> net = MultiTaskPetNet(image_size=32, width=4, depth=2, epochs=1, random_state=0)
    >>> net = net.fit(data.images, data.labels, masks=data.masks)
    >>> net.predict_mask(data.images[:2]).shape
    (2, 32, 32)
    """

    _parameter_constraints = {
        **PET_CONSTRAINTS,
        "network": [StrOptions({"unet", "seed"})],
        "width": [Interval(Integral, 1, None, closed="left")],
        "depth": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"unet", "seed"}), Hidden(StrOptions({DEPRECATED}))],
    }
    #: old parameter name -> new one (skreid.utils.renamed_param)
    _renamed_params = {"architecture": "network"}

    def __init__(
        self,
        network="unet",
        *,
        image_size=(128, 128),
        n_classes=None,
        segmentation="binary",
        ignore_border=False,
        task_weights=(1.0, 1.0),
        class_weight="balanced",
        width=16,
        depth=4,
        dropout=0.3,
        augment=True,
        epochs=30,
        batch_size=32,
        learning_rate=1e-3,
        validation_fraction=None,
        run_eagerly="auto",
        warm_start=False,
        random_state=None,
        verbose=0,
        architecture=DEPRECATED,
    ):
        self.network = network
        self.image_size = image_size
        self.n_classes = n_classes
        self.segmentation = segmentation
        self.ignore_border = ignore_border
        self.task_weights = task_weights
        self.class_weight = class_weight
        self.width = width
        self.depth = depth
        self.dropout = dropout
        self.augment = augment
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.run_eagerly = run_eagerly
        self.warm_start = warm_start
        self.random_state = random_state
        self.verbose = verbose
        self.architecture = architecture

    def _image_size(self):
        return check_image_size(self.image_size, name="image_size")

    def _check_params(self):
        params = super()._check_params()
        params["network"] = network = renamed_param(self, "network", warn=True)
        factor = 8 if network == "seed" else 2**self.depth
        size = params["image_size"]
        if size[0] % factor or size[1] % factor:
            raise ValueError(
                f"image_size={size} must be divisible by {factor} for network={network!r} "
                f"(depth={self.depth})."
            )
        return params

    def _build_model(self, X, y, masks=None, params=None):
        from skreid._keras import _pet_networks as nets

        kwargs = dict(
            image_size=params["image_size"], n_classes=len(self.classes_),
            n_channels=self.n_channels_in_, n_mask_classes=self._n_mask_classes(),
        )
        if params["network"] == "seed":
            model = nets.build_seed_network(**kwargs)
        else:
            model = nets.build_unet_network(
                width=self.width, depth=self.depth, dropout=self.dropout, **kwargs
            )
        return nets.compile_network(
            model, self.learning_rate, self._n_mask_classes(), params["task_weights"]
        )

    def _train(self, X, y, epochs, masks=None, params=None):
        if epochs == 0:
            return {}
        arrays = self._training_arrays(X, y, masks, params["image_size"])
        train, val = self._split_validation(*arrays)
        return self._fit_stage(train, val, epochs=epochs)
