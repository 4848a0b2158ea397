"""Small custom layers of the skreid networks (registered so saved models load back).

This module imports Keras: import it only when a Keras estimator is used.
"""

import keras
import numpy as np
from keras import ops

from skreid.utils import LUMA_WEIGHTS

_PACKAGE = "skreid"


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RandomErasing(keras.layers.Layer):
    """Random erasing (Zhong et al., 2020), active only in training.

    With probability ``probability`` each image gets one rectangle covering ``area`` of it
    (a fraction drawn uniformly) with aspect ratio in ``aspect`` (log-uniform), filled with
    uniform noise in ``[0, fill_max]``.

    Not ``keras.layers.RandomErasing``: that layer draws the patch's height and width
    fractions independently (no area and aspect-ratio law), draws each image's probability
    from ``(0, factor)`` for a scalar ``factor``, and by default fills with Gaussian noise of
    standard deviation 255 (values far outside the image range). This is the recipe of the
    paper and of the re-ID baselines (Luo et al., 2019).
    """

    def __init__(self, probability=0.5, area=(0.02, 0.4), aspect=(0.3, 3.3), fill_max=255.0,
                 seed=None, **kwargs):
        super().__init__(**kwargs)
        self.probability = float(probability)
        self.area = tuple(float(v) for v in area)
        self.aspect = tuple(float(v) for v in aspect)
        self.fill_max = float(fill_max)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        shape = ops.shape(inputs)
        n, h, w = shape[0], shape[1], shape[2]
        hf, wf = ops.cast(h, "float32"), ops.cast(w, "float32")
        rnd = keras.random.uniform((n, 5), seed=self.seed_generator)
        area = (self.area[0] + (self.area[1] - self.area[0]) * rnd[:, 0]) * hf * wf
        log_lo, log_hi = ops.log(self.aspect[0]), ops.log(self.aspect[1])
        ratio = ops.exp(log_lo + (log_hi - log_lo) * rnd[:, 1])
        eh = ops.minimum(ops.sqrt(area * ratio), hf)
        ew = ops.minimum(ops.sqrt(area / ratio), wf)
        y0 = rnd[:, 2] * (hf - eh)
        x0 = rnd[:, 3] * (wf - ew)
        apply = ops.cast(rnd[:, 4] < self.probability, "float32")
        rows = ops.cast(ops.arange(h), "float32")[None, :]
        cols = ops.cast(ops.arange(w), "float32")[None, :]
        in_rows = ops.logical_and(rows >= y0[:, None], rows < (y0 + eh)[:, None])
        in_cols = ops.logical_and(cols >= x0[:, None], cols < (x0 + ew)[:, None])
        mask = ops.cast(ops.logical_and(in_rows[:, :, None], in_cols[:, None, :]), "float32")
        mask = (mask * apply[:, None, None])[..., None]
        noise = keras.random.uniform(ops.shape(inputs), maxval=self.fill_max,
                                     seed=self.seed_generator)
        return inputs * (1.0 - mask) + ops.cast(noise, inputs.dtype) * mask

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "area": self.area,
                "aspect": self.aspect, "fill_max": self.fill_max, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class Grayscale(keras.layers.Layer):
    """RGB -> luma with ITU-R BT.601 weights (the report's grayscale), keeps a channel axis."""

    def call(self, inputs):
        weights = ops.convert_to_tensor(LUMA_WEIGHTS["bt601"], dtype=inputs.dtype)
        return ops.sum(inputs * weights, axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class RepeatChannels(keras.layers.Layer):
    """Grayscale -> 3 identical channels, so a gray image can feed an RGB backbone."""

    def call(self, inputs):
        return ops.concatenate([inputs, inputs, inputs], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 3)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ScaledDense(keras.layers.Layer):
    """Bias-free Dense layer whose effective learning rate is ``lr_multiplier`` times the
    optimizer's (kernel = ``lr_multiplier`` x a variable initialised ``lr_multiplier`` times
    smaller). Used for the identity head, which starts from scratch while the pretrained
    backbone needs a small learning rate; it works with every optimizer and saves normally.

    With ``branches=B`` the input is ``(batch, B, features)`` and each branch (the global
    feature and each body stripe) gets its own kernel: output ``(batch, B, units)``.
    """

    def __init__(self, units, lr_multiplier=1.0, branches=None, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.lr_multiplier = float(lr_multiplier)
        self.branches = None if branches is None else int(branches)

    def build(self, input_shape):
        scale = self.lr_multiplier
        init = keras.initializers.GlorotUniform(seed=keras.random.SeedGenerator())
        shape = (input_shape[-1], self.units)
        if self.branches is not None:
            shape = (self.branches, *shape)
        self.kernel = self.add_weight(
            name="kernel", shape=shape,
            initializer=lambda shape, dtype=None: init(shape, dtype) / scale,
        )

    def call(self, inputs):
        kernel = self.kernel * self.lr_multiplier
        if self.branches is not None:
            return ops.einsum("nbc,bcu->nbu", inputs, kernel)
        return ops.matmul(inputs, kernel)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {**super().get_config(), "units": self.units,
                "lr_multiplier": self.lr_multiplier, "branches": self.branches}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class GeneralizedMeanPooling(keras.layers.Layer):
    """Generalised-mean (GeM) global pooling (Radenović et al., 2018) with a learned power.

    ``(mean over positions of max(x, eps) ** p) ** (1 / p)`` per channel: ``p = 1`` is
    average pooling, large ``p`` approaches max pooling; ``p`` starts at ``p`` and is
    trained. Re-ID networks use it to weight the most activated body parts more.
    """

    def __init__(self, p=3.0, eps=1e-6, **kwargs):
        super().__init__(**kwargs)
        self.initial_p = float(p)
        self.eps = float(eps)

    def build(self, input_shape):
        self.p = self.add_weight(name="p", shape=(),
                                 initializer=keras.initializers.Constant(self.initial_p))

    def call(self, inputs):
        p = ops.maximum(self.p, 1.0)  # below 1 the mean is no longer a pooling
        x = ops.power(ops.maximum(inputs, self.eps), p)
        return ops.power(ops.mean(x, axis=(1, 2)), 1.0 / p)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "p": self.initial_p, "eps": self.eps}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class StripePooling(keras.layers.Layer):
    """Average-pool a feature map ``(batch, h, w, c)`` into ``parts`` horizontal stripes.

    Output ``(batch, parts, c)``: stripe ``i`` averages rows ``floor(i h / parts)`` to
    ``ceil((i + 1) h / parts)`` (adaptive pooling, so stripes overlap when ``parts`` does
    not divide ``h``). Part-based re-ID (Sun et al., "Beyond Part Models", 2018) describes
    a pedestrian by head / torso / legs stripes as well as by the global mean.

    Not ``keras.layers.AdaptiveAveragePooling2D((parts, 1))``: that layer fails on maps with
    fewer rows than stripes (Keras 3.15: a 64x32 input gives MobileNetV3 a 2x1 map), where
    this one repeats rows.
    """

    def __init__(self, parts, **kwargs):
        super().__init__(**kwargs)
        self.parts = int(parts)

    def call(self, inputs):
        h = inputs.shape[1]
        stripes = []
        for i in range(self.parts):
            top, bottom = (i * h) // self.parts, -((-(i + 1) * h) // self.parts)
            stripes.append(ops.mean(inputs[:, top:bottom], axis=(1, 2)))
        return ops.stack(stripes, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.parts, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "parts": self.parts}


def _luma(x):
    """ITU-R BT.601 luma of ``(..., 3)`` RGB, keeping the channel axis."""
    weights = ops.convert_to_tensor([0.299, 0.587, 0.114], dtype=x.dtype)
    return ops.sum(x * weights, axis=-1, keepdims=True)


@keras.saving.register_keras_serializable(package=_PACKAGE)
class ColorAugmentation(keras.layers.Layer):
    """Photometric augmentation of ``[0, 255]`` images, active only in training: what two
    cameras change about the same person (exposure, contrast, white balance, colour
    rendering, tone curve), so that the embedding stops relying on it.

    At ``strength`` s each image, with probability ``probability``, gets in turn: a
    brightness gain in ``1 +- 0.4 s``, a per-channel gain in ``1 +- 0.2 s`` (white balance),
    a contrast factor in ``1 +- 0.4 s`` about its mean luma, a saturation factor in
    ``1 +- 0.4 s`` about each pixel's luma, a hue rotation about the grey axis by up to
    ``+- 0.1 s`` of a turn, clipping to the pixel range and a gamma in ``[1.5 ** -s,
    1.5 ** s]`` (log-uniform); then, independently, per-channel auto-contrast (each channel
    stretched to ``[0, 255]``, PIL's ``autocontrast``) with probability ``0.2 s`` and
    grayscale with probability ``0.2 s``. Factors are uniform. One-channel images get the
    brightness, contrast, gamma and auto-contrast steps only. The ranges are those of
    colour-jitter domain-generalisation recipes (torchvision's ``ColorJitter(0.4, 0.4, 0.4,
    0.1)``, ``RandomGrayscale(0.2)``) at ``s = 1``.

    The layer is the identity in inference, and is left out of exported ONNX graphs
    (``training_only``).
    """

    training_only = True

    def __init__(self, strength=1.0, probability=0.8, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.strength = float(strength)
        self.probability = float(probability)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.strength == 0:
            return inputs
        s, dtype = self.strength, inputs.dtype
        rgb = inputs.shape[-1] == 3
        n = ops.shape(inputs)[0]
        rnd = keras.random.uniform((n, 9), seed=self.seed_generator, dtype=dtype)

        def factor(i, half_width):  # uniform in 1 +- half_width, shaped to broadcast
            return ops.reshape(1.0 + half_width * (2.0 * rnd[:, i] - 1.0), (-1, 1, 1, 1))

        def chosen(i, p):
            return ops.reshape(rnd[:, i] < p, (-1, 1, 1, 1))

        x = inputs / 255.0
        x = x * factor(0, 0.4 * s)
        if rgb:
            gains = keras.random.uniform((n, 1, 1, 3), minval=1.0 - 0.2 * s,
                                         maxval=1.0 + 0.2 * s, seed=self.seed_generator,
                                         dtype=dtype)
            x = x * gains
        gray = _luma(x) if rgb else x
        mean = ops.mean(gray, axis=(1, 2, 3), keepdims=True)
        x = (x - mean) * factor(1, 0.4 * s) + mean
        if rgb:
            gray = _luma(x)
            x = (x - gray) * factor(2, 0.4 * s) + gray
            x = ops.einsum("nhwc,ndc->nhwd", x, self._hue_rotation(rnd[:, 3], 0.1 * s))
        x = ops.clip(x, 0.0, 1.0)
        log_gamma = float(np.log(1.5)) * s * (2.0 * rnd[:, 4] - 1.0)
        x = ops.power(ops.maximum(x, 1e-6), ops.reshape(ops.exp(log_gamma), (-1, 1, 1, 1)))
        x = ops.where(chosen(5, self.probability), x * 255.0, inputs)
        low = ops.min(x, axis=(1, 2), keepdims=True)
        high = ops.max(x, axis=(1, 2), keepdims=True)
        stretched = (x - low) * (255.0 / ops.maximum(high - low, 1.0))
        x = ops.where(chosen(6, 0.2 * s), stretched, x)
        if rgb:
            x = ops.where(chosen(7, 0.2 * s), ops.repeat(_luma(x), 3, axis=-1), x)
        return x

    @staticmethod
    def _hue_rotation(u, max_turn):
        """``(n, 3, 3)`` rotations about the grey axis by ``(2 u - 1) max_turn`` turns
        (Rodrigues' formula for the unit axis ``(1, 1, 1) / sqrt(3)``)."""
        angle = (2.0 * u - 1.0) * max_turn * 2.0 * np.pi
        cos, sin = ops.cos(angle)[:, None, None], ops.sin(angle)[:, None, None]
        eye = np.eye(3, dtype="float32")
        ones = np.full((3, 3), 1.0 / 3.0, dtype="float32")
        cross = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], "float32") / np.sqrt(3.0)
        return cos * eye + (1.0 - cos) * ones + sin * cross

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "strength": self.strength,
                "probability": self.probability, "seed": self.seed}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class PartialInstanceNormalization(keras.layers.Layer):
    """Instance normalisation of the first ``channels`` channels, the others unchanged: the
    IN half of an IBN-a block (Pan et al., "Two at Once: Enhancing Learning and
    Generalization Capacities via IBN-Net", ECCV 2018).

    Each image's channel is normalised over its positions and then given the learned scale
    ``gamma`` and offset ``beta``, so its mean and spread no longer depend on the image's
    exposure, contrast or colour cast (an image's "style"). :func:`calibrate_instance_norm`
    sets ``gamma``/``beta`` to the average per-image spread and mean of the pretrained
    network's activations there, so an inserted layer starts close to the identity.
    """

    def __init__(self, channels, epsilon=1e-3, **kwargs):
        super().__init__(**kwargs)
        self.channels = int(channels)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        if not 0 < self.channels <= input_shape[-1]:
            raise ValueError(f"channels={self.channels} must be in [1, {input_shape[-1]}].")
        self.gamma = self.add_weight(name="gamma", shape=(self.channels,), initializer="ones")
        self.beta = self.add_weight(name="beta", shape=(self.channels,), initializer="zeros")

    def call(self, inputs):
        k = self.channels
        part = inputs[..., :k]
        mean, var = ops.moments(part, axes=(1, 2), keepdims=True)
        part = (part - mean) * ops.rsqrt(var + self.epsilon) * self.gamma + self.beta
        if k == inputs.shape[-1]:
            return part
        return ops.concatenate([part, inputs[..., k:]], axis=-1)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package=_PACKAGE)
class MixStyle(keras.layers.Layer):
    """MixStyle (Zhou et al., "Domain Generalization with MixStyle", ICLR 2021), training only.

    With probability ``probability`` per batch, each image's feature statistics (per-channel
    mean and standard deviation over positions) are replaced by a mix, with a weight drawn
    from Beta(``alpha``, ``alpha``), of its own and those of another image of the batch
    (a random permutation): new "styles" from the training cameras' ones. The statistics are
    not back-propagated through, as in the paper. The identity in inference; left out of
    exported ONNX graphs (``training_only``).
    """

    training_only = True

    def __init__(self, probability=0.5, alpha=0.1, epsilon=1e-6, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.probability = float(probability)
        self.alpha = float(alpha)
        self.epsilon = float(epsilon)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training or self.probability == 0:
            return inputs
        n = ops.shape(inputs)[0]
        mean, var = ops.moments(inputs, axes=(1, 2), keepdims=True)
        std = ops.sqrt(var + self.epsilon)
        mean, std = ops.stop_gradient(mean), ops.stop_gradient(std)
        normed = (inputs - mean) / std
        lam = keras.random.beta((n, 1, 1, 1), self.alpha, self.alpha,
                                seed=self.seed_generator, dtype=inputs.dtype)
        perm = ops.argsort(keras.random.uniform((n,), seed=self.seed_generator))
        mix_mean = lam * mean + (1.0 - lam) * ops.take(mean, perm, axis=0)
        mix_std = lam * std + (1.0 - lam) * ops.take(std, perm, axis=0)
        mixed = normed * mix_std + mix_mean
        apply = keras.random.uniform((), seed=self.seed_generator) < self.probability
        return ops.where(apply, mixed, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "probability": self.probability, "alpha": self.alpha,
                "epsilon": self.epsilon, "seed": self.seed}
