"""Small custom layers of the skreid networks (registered so saved models load back).

This module imports Keras: import it only when a Keras estimator is used.
"""

import keras
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
