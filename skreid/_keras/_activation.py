"""Activation maps of the Keras re-ID networks: where the trunk's last feature map is strong.

The map of an image is the channel-wise energy (sum of squares over the channels) of the
feature map that the global pooling (or the seed branch's flatten) reads, the last one the
embedding is computed from; upsampled to the image, it shows which pixels the embedding
relies on (torchreid's ``visualize_actmap``). :func:`skreid.export_onnx` puts the same
low-resolution map in the exported graph, so :class:`skreid.runtime.OnnxEmbedder` gives it
too.

Keras is imported only when a map is computed (the networks exist only then).
"""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from skreid.utils import renamed_param, resize_bilinear

__all__ = ["ActivationMapsMixin", "feature_map_tensor"]


def feature_map_tensor(model):
    """The symbolic last feature map ``(batch, h, w, c)`` of a ``build_reid_network`` network.

    The input of the global pooling layer ``"pool"`` (registry backbones, ``"resnet"``, a
    callable returning a map) or of the seed branch's ``Flatten``; ``None`` when the trunk
    returns a vector (a callable backbone), which has no spatial map.
    """
    layers = {layer.name: layer for layer in model.layers}
    tensor = None
    if "pool" in layers:
        tensor = layers["pool"].input
    elif model.name == "seed_reid":
        flatten = [layer for layer in model.layers if type(layer).__name__ == "Flatten"]
        tensor = flatten[0].input if flatten else None
    if tensor is None or len(tensor.shape) != 4:
        return None
    return tensor


class ActivationMapsMixin:
    """``activation_maps(X)`` for a Keras re-ID estimator built by ``build_reid_network``.

    Uses the estimator's ``model_``, ``_read_images`` (its input rule), ``_test_time_flip()``
    and ``run_eagerly``. The inference sub-model is cached in ``_feature_model``, which the
    estimator must list in ``_keras_transient_attrs`` (rebuilt after unpickling).
    """

    def _feature_map_model(self):
        cached = getattr(self, "_feature_model", None)
        if cached is not None and cached[0] is self.model_:
            return cached[1]
        from skreid._keras._base import import_keras

        keras = import_keras()
        tensor = feature_map_tensor(self.model_)
        if tensor is None:
            raise ValueError(
                f"{type(self).__name__}(backbone={renamed_param(self, 'backbone')!r}) has no "
                f"spatial feature map (its trunk returns a vector), so it has no activation "
                f"maps. "
                f"They need a trunk that returns a (batch, height, width, channels) map: a "
                f"registry backbone, 'resnet', 'seed' or such a callable."
            )
        # the energy is computed in the graph: (n, h, w) floats come back, not the channels
        energy = keras.ops.sum(keras.ops.square(tensor), axis=-1)
        model = keras.Model(self.model_.input, energy, name="activation_energy")
        self._feature_model = (self.model_, model)
        return model

    def _energy(self, model, X):
        from skreid._keras._base import resolve_run_eagerly

        if resolve_run_eagerly(self.run_eagerly, -(-len(X) // 64)):  # no predict tracing
            out = [np.asarray(model(X[i:i + 64], training=False))
                   for i in range(0, len(X), 64)]
            return np.concatenate(out).astype(np.float32, copy=False)
        return np.asarray(model.predict(X, batch_size=64, verbose=0), dtype=np.float32)

    def activation_maps(self, X, *, upsample=True):
        """What the embedding looks at: the energy of the trunk's last feature map.

        For each image, the sum over channels of the squared activations of the feature map
        that the global pooling reads (the last one before the embedding). With
        ``test_time_flip``, as for the embeddings, the mean of the image's map and its mirror
        image's map mirrored back.

        Parameters
        ----------
        X : array-like of shape (n, h, w[, c]) or (n, h * w * c)
            Images, read as by ``transform``.
        upsample : bool, default=True
            Resize the maps to the images' ``(h, w)`` (bilinear,
            :func:`skreid.utils.resize_bilinear`); ``False`` returns the feature map's own
            grid (e.g. 8 x 4 for MobileNetV3 at 256 x 128).

        Returns
        -------
        maps : ndarray of shape (n, h, w), float32
            Non-negative; their scale depends on the network, so compare maps by their
            distribution (e.g. the share of the energy inside a box), not their values.

        Raises
        ------
        ValueError
            The trunk returns a vector (a callable backbone): it has no spatial map.
        """
        check_is_fitted(self, "model_")
        X = self._read_images(X, reset=False)
        model = self._feature_map_model()
        maps = self._energy(model, X)
        if self._test_time_flip() and X.shape[2] > 1:
            mirrored = self._energy(model, np.ascontiguousarray(X[:, :, ::-1]))
            maps = 0.5 * (maps + mirrored[:, :, ::-1])
        maps = maps.astype(np.float32, copy=False)
        return resize_bilinear(maps, X.shape[1:3]) if upsample else maps
