"""Tiny configurations shared by the test modules (fast enough for the default suite)."""


def tiny_triplet(**params):
    """A TripletEmbedder that trains in seconds: seed network, eager Keras, no validation
    split, no augmentation, one epoch of small batches."""
    from skreid.reid import TripletEmbedder

    base = dict(backbone="seed", image_size=None, weights=None, epochs=1, batch_size=8,
                images_per_identity=2, validation_fraction=0.0, augment=False,
                run_eagerly=True, random_state=0)
    return TripletEmbedder(**{**base, **params})
