"""Embeddings of the CAB420 ``Training/`` images by a model fitted on some of them, cached on
disk: what ``tracklets.py`` and ``camera_norm.py`` rank. Imported by the scripts, imports
none of them (no circles).

Two models, both fitted here from scratch:

- ``pca``: ``PCAReID(100, projection="xqda", metric="cosine")`` on RGB pixels at 64x32, the
  fast classical row of ``reid_cab420.py`` (about 20 s);
- ``triplet``: a *short* ``TripletEmbedder`` fit (the defaults with the shared MobileNetV3
  weights, at 128x64 for ``--epochs`` epochs, 20 by default) -- not the 40-epoch 256x128
  default, which takes 15+ minutes on a shared 2-core machine.
"""

import hashlib
import os
import time

import numpy as np

from skreid.datasets import load_market1501

MODELS = ("pca", "triplet")


def load_training(data_root):
    """The CAB420 ``Training/`` images (the test folders are never read)."""
    return load_market1501(data_root).train


def _fit(model, train, mask, data_root, epochs):
    if model == "pca":
        from skreid.reid import PCAReID

        est = PCAReID(100, projection="xqda", metric="cosine", image_size=(64, 32),
                      random_state=0)
        est.fit(train.images[mask], train.person_ids[mask])
        return est
    from _common import shared_weights

    from skreid.reid import TripletEmbedder

    # batch-hard triplets need two images of each identity: a source identity seen once in
    # the source cameras is left out of the fit
    ids, counts = np.unique(train.person_ids[mask], return_counts=True)
    mask = mask & np.isin(train.person_ids, ids[counts >= 2])
    est = TripletEmbedder(weights=shared_weights(data_root), image_size=(128, 64),
                          epochs=epochs, random_state=0)
    return est.fit(train.images[mask], train.person_ids[mask],
                   cameras=train.camera_ids[mask])


def describe(model, epochs):
    if model == "pca":
        return "PCAReID(100, projection='xqda', metric='cosine', image_size=(64, 32), RGB)"
    return (f"TripletEmbedder(image_size=(128, 64), epochs={epochs}, shared MobileNetV3 "
            "weights; otherwise the defaults) -- a short fit, not the 40-epoch default")


def embeddings(data_root, train, fit_mask, model, *, epochs=20, cache_dir="/tmp"):
    """``(embeddings of every training image, fit seconds)`` by ``model`` fitted on the
    images of ``fit_mask``; cached under ``cache_dir`` by model, epochs and mask."""
    key = hashlib.sha256(np.packbits(fit_mask).tobytes()).hexdigest()[:12]
    path = os.path.join(cache_dir, f"skreid_matching_{model}_{epochs}_{key}.npz")
    if os.path.exists(path):
        cached = np.load(path)
        return cached["embeddings"], float(cached["fit_s"])
    start = time.perf_counter()
    est = _fit(model, train, fit_mask, data_root, epochs)
    fit_s = time.perf_counter() - start
    emb = np.asarray(est.transform(train.images), dtype=np.float32)
    tmp = path + ".tmp.npz"
    np.savez(tmp, embeddings=emb, fit_s=fit_s)
    os.replace(tmp, path)
    return emb, fit_s
