"""The only skreid package that imports Keras (lazily): estimator base, backbones, re-ID
networks, losses and batch samplers.

Importing ``skreid._keras`` itself does not import Keras; the submodules do when a Keras
estimator is built or fitted.
"""

from skreid._keras._base import KerasEstimatorMixin, import_keras, keras_seeded

__all__ = ["KerasEstimatorMixin", "import_keras", "keras_seeded"]
