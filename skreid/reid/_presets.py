"""Named configurations: the best classical re-ID pipeline as one call (no deep learning, no
GPU) and the :class:`~skreid.reid.TripletEmbedder` presets (plain data, no Keras)."""

from sklearn.pipeline import Pipeline

from skreid.reid._features import LOMOFeatures
from skreid.reid._pca import PCAReID

__all__ = ["make_classical_reid", "TRIPLET_PRESETS"]

#: named configurations of ``TripletEmbedder.from_preset(name, **overrides)``
TRIPLET_PRESETS = {
    # the report's setting: seed branch, 64x32 grayscale, random triplets, RMSProp, 5 epochs
    "report": dict(backbone="seed", image_size=(64, 32), grayscale=True,
                   loss="random_triplet", margin=1.0, id_loss_weight=0.0, augment=False,
                   optimizer="rmsprop", learning_rate=1e-3, lr_schedule="constant",
                   epochs=5, batch_size=256, validation_fraction=0.0),
    # the same seed branch trained well: PK batches, batch-hard, cosine LR, early stopping
    # (no augmentation: it hurts this small branch, see docs/benchmarks.rst)
    "seed_pk": dict(backbone="seed", image_size=(64, 32), grayscale=True,
                    loss="batch_hard", margin=0.3, id_loss_weight=0.0, augment=False,
                    optimizer="adam", learning_rate=1e-3, lr_schedule="cosine",
                    epochs=20, batch_size=64, images_per_identity=4,
                    validation_fraction=0.1),
    # the default: fine-tuned MobileNetV3-Small, body stripes, batch-hard + identity loss
    "best": dict(),
}


def make_classical_reid(
    n_components=300,
    *,
    projection="xqda",
    metric="cosine",
    cell_size=5,
    n_scales=3,
    hsv_bins=8,
    random_state=0,
):
    """LOMO features -> PCA -> XQDA: the strongest classical re-ID pipeline in skreid.

    The recipe of Liao et al., "Person Re-identification by Local Maximal Occurrence
    Representation and Metric Learning" (CVPR 2015): :class:`LOMOFeatures` (max-pooled HSV
    and SILTP histograms over three scales, ~27k features for 128x64 images), PCA to
    ``n_components`` and the XQDA metric learned from the training identities, matched by
    cosine distance. On the CAB420 Market-1501 subset (300 training identities, 301 probes
    against a one-shot gallery) it reaches five times the report's pixel-PCA baseline's
    rank-1; see ``docs/benchmarks.rst`` (``benchmarks/reid_cab420.py``).

    Parameters
    ----------
    n_components : int or float, default=300
        PCA components kept before XQDA (an int is much faster than a variance fraction on
        ~27k features). Must not exceed the number of training images.
    projection : {"xqda", "kissme", "lda", None}, default="xqda"
        Metric learning after PCA (see :class:`PCAReID`).
    metric : {"cosine", "euclidean"}, default="cosine"
        Gallery matching distance.
    cell_size, n_scales, hsv_bins
        Passed to :class:`LOMOFeatures`; images need sides of at least
        ``cell_size * 2 ** (n_scales - 1)`` pixels (20 with the defaults).
    random_state : int or None, default=0
        Seed of the randomized PCA.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``"lomo"`` and ``"reid"``; a classifier and transformer over RGB images
        ``(n, h, w, 3)``. After ``fit(X, y)``, ``pipeline[-1]`` is the fitted
        :class:`PCAReID`; to match against a new gallery use
        ``pipeline[-1].set_gallery(pipeline[:-1].transform(X_gallery), y_gallery)`` or
        :func:`skreid.reid.evaluate_transformer`.

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.reid import make_classical_reid
    >>> people = make_people(n_identities=10, n_images_per_identity=4, image_shape=(32, 16, 3),
    ...                      random_state=0)
    >>> model = make_classical_reid(n_components=20, cell_size=4, n_scales=2)
    >>> model.fit(people.images, people.person_ids).transform(people.images).shape[0]
    40
    """
    return Pipeline(
        [
            (
                "lomo",
                LOMOFeatures(cell_size=cell_size, n_scales=n_scales, hsv_bins=hsv_bins),
            ),
            (
                "reid",
                PCAReID(
                    n_components,
                    projection=projection,
                    metric=metric,
                    random_state=random_state,
                ),
            ),
        ]
    )
