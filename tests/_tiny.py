"""Tiny configurations shared by the test modules (fast enough for the default suite)."""


def tiny_triplet(**params):
    """A TripletEmbedder that trains in seconds: seed network, eager Keras, no validation
    split, no augmentation, one epoch of small batches."""
    from skreid.reid import TripletEmbedder

    base = dict(backbone="seed", image_size=None, weights=None, epochs=1, batch_size=8,
                images_per_identity=2, validation_fraction=0.0, augment=False,
                run_eagerly=True, random_state=0)
    return TripletEmbedder(**{**base, **params})


def tiny_style_triplet(folder, **params):
    """A MobileNetV3-Small TripletEmbedder with every style-invariance layer of the recipe
    (colour augmentation, IBN-a, MixStyle) for 64x32 images, one epoch of small batches.

    Its backbone weights are random ones saved to ``folder`` as a file, so its BatchNorm is
    frozen as with the shared ImageNet file (a ``weights=None`` backbone trains its
    BatchNorm and one epoch collapses every embedding)."""
    import os

    from skreid._keras._backbones import mobilenet_v3_small
    from skreid.reid import TripletEmbedder

    path = os.path.join(folder, "random_mobilenet.weights.h5")
    if not os.path.exists(path):
        mobilenet_v3_small((64, 32, 3)).save_weights(path)
    base = dict(backbone="mobilenet_v3_small", weights=path, image_size=None, epochs=1,
                batch_size=8, images_per_identity=2, validation_fraction=0.0,
                color_augment=1.0, ibn=True, mixstyle=0.5, random_state=0)
    return TripletEmbedder(**{**base, **params})
