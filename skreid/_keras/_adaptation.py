"""Adaptation of a trained re-ID network to a new camera network from unlabeled images.

Cluster-contrast style (Ge et al., "Self-paced Contrastive Learning", NeurIPS 2020; Dai et
al., "Cluster Contrast for Unsupervised Person Re-Identification", ACCV 2022): each round
embeds the images with the current network, computes their k-reciprocal Jaccard distances
(:func:`skreid.metrics.pairwise.jaccard_k_reciprocal`), clusters them with scikit-learn's DBSCAN
(``metric="precomputed"``), drops the noise and trains for a few epochs on the clusters as
pseudo-identities: batch-hard triplet loss on P x K batches of them, plus a cross-entropy on
the cosine similarities to the clusters' centroids (a classifier re-initialised each round
at the centroids, the "memory" of cluster contrast, trained with the network). Labeled
images of the same call keep their identities, numbered before the clusters.

:func:`cluster_pseudo_labels` is pure NumPy/scikit-learn; :func:`adapt_network` trains. Both
take values and return values: the estimator sets its own fitted attributes. This module
imports Keras: import it only when a Keras estimator is used.
"""

import time

import keras
import numpy as np
from keras import ops
from sklearn.cluster import DBSCAN

from skreid._keras._base import resolve_run_eagerly
from skreid._keras._losses import IdentityLoss
from skreid._keras._registry import LOSSES, OPTIMIZERS, SCHEDULES
from skreid._keras._reid_networks import embedding_model
from skreid._keras._samplers import PKSampler, as_keras_dataset
from skreid.metrics.pairwise import camera_normalize, jaccard_k_reciprocal, l2_normalize

#: share of the images that are DBSCAN core points with ``eps="auto"`` (see :func:`auto_eps`)
AUTO_EPS_QUANTILE = 0.75

#: temperature of the centroid classifier (cluster contrast's 0.05)
TEMPERATURE = 0.05


def auto_eps(distances, min_samples, quantile=AUTO_EPS_QUANTILE):
    """DBSCAN's eps from the distances: the ``quantile`` of each image's distance to its
    ``min_samples - 1``-th nearest other image (the k-distance of Ester et al. 1996), so
    that this share of the images are core points whatever the number of images."""
    kth = np.sort(distances, axis=1)[:, min(min_samples - 1, len(distances) - 1)]
    return float(max(np.quantile(kth, quantile), 1e-6))


def cluster_pseudo_labels(embeddings, *, eps="auto", min_samples=4, k1=30, k2=6,
                          cameras=None):
    """Pseudo-identities of unlabeled embeddings: DBSCAN on k-reciprocal Jaccard distances.

    Returns ``(labels, eps)``: one label per row (``-1`` for DBSCAN's noise, clusters
    numbered from 0) and the eps used.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if cameras is not None:  # each camera's mean removed: clusters join people across cameras
        emb = l2_normalize(camera_normalize(emb, cameras, mode="center", min_samples=1))
    d = jaccard_k_reciprocal(emb, k1=k1, k2=k2)
    eps = auto_eps(d, min_samples) if eps == "auto" else float(eps)
    labels = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit_predict(d)
    return labels, eps


class _CentroidHead(keras.layers.Layer):
    """Cosine classifier: logits ``<x, c_k / |c_k|> / temperature`` over the clusters'
    centroids (trainable), for unit-norm ``x``. Built per round, never saved."""

    def __init__(self, centroids, temperature=TEMPERATURE, **kwargs):
        super().__init__(**kwargs)
        self.centroids = np.asarray(centroids, dtype="float32")
        self.temperature = float(temperature)

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel", shape=self.centroids.T.shape,
            initializer=keras.initializers.Constant(self.centroids.T))

    def call(self, inputs):
        kernel = self.kernel / ops.maximum(ops.norm(self.kernel, axis=0, keepdims=True), 1e-12)
        return ops.matmul(inputs, kernel) / self.temperature


def _round_model(model, centroids, head, triplet=True):
    """The training network of one round: ``model``'s triplet output (shared layers, so
    training it trains ``model``) and, with ``head``, the centroid classifier on the
    inference embedding."""
    out = {}
    if triplet:
        out["triplet"] = model.output["triplet"]  # the networks' outputs are named (a dict)
    if head:
        out["logits"] = _CentroidHead(centroids, name="centroids")(embedding_model(model).output)
    return keras.Model(model.input, out, name="adaptation")


def reseed_random_layers(model, rng):
    """Give every ``SeedGenerator`` of ``model`` (dropout, augmentation) a state drawn from
    ``rng``: Keras does not save these states, so a loaded network's would otherwise be
    random and its training not reproducible."""
    stack = [model]
    while stack:
        layer = stack.pop()
        stack.extend(getattr(layer, "layers", []))  # nested models: the backbone
        for value in vars(layer).values():
            if isinstance(value, keras.random.SeedGenerator):
                state = np.array([rng.randint(2**31 - 1), 0])
                value.state.assign(state.astype(keras.backend.standardize_dtype(
                    value.state.dtype)))


def _centroids(embeddings, codes, n_classes):
    sums = np.zeros((n_classes, embeddings.shape[1]))
    np.add.at(sums, codes, embeddings)
    return sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)


def average_weights(mean, weights, n):
    """Running mean: ``mean`` (the average of ``n`` weight lists, None when ``n == 0``) with
    ``weights`` added. A network's ``get_weights()`` are all floating point."""
    if mean is None:
        return [np.array(w, copy=True) for w in weights]
    return [m + (w - m) / (n + 1) for m, w in zip(mean, weights, strict=True)]


def adapt_network(model, embed, X, labels, *, rounds, epochs, eps="auto", min_samples=4,
                  k1=30, k2=6, cameras=None, camera_centring=True, head=True, triplet=True,
                  loss="batch_hard", schedule="cosine",
                  margin=0.3, optimizer="adam", learning_rate=3.5e-4, batch_size=64,
                  images_per_identity=4, run_eagerly="auto", verbose=0, rng=None):
    """Adapt ``model`` in place on images ``X`` whose ``labels`` are ``-1`` when unknown.

    ``labels`` are integer codes (``0..L-1`` for labeled images, ``-1`` for unlabeled ones);
    ``embed(X)`` returns the current network's inference embeddings. Each round clusters the
    unlabeled embeddings (:func:`cluster_pseudo_labels`), numbers the clusters from ``L`` on
    and trains ``epochs`` epochs on the labeled and clustered images, with a fresh optimizer
    (``schedule`` over the round, warm-up included). ``eps="auto"`` is calibrated on the
    first round and kept. ``head`` / ``triplet`` switch the centroid classifier / the triplet
    loss off (development comparisons: on the fold-A split of ``benchmarks/_domain.py`` the
    two together and the classifier alone measured alike). The adapted weights are the mean
    of the weights at the end of each round (stochastic weight averaging over rounds,
    Izmailov et al. 2018): each round's training chases that round's pseudo-labels, their
    errors differ from round to round, and the average is steadier than any one of them
    (fold A of ``benchmarks/_domain.py``, cross-camera R1/mAP: the last round, as before
    commit ee2cbe7, 70.3/64.8, the average 74.0/67.6; camera-centred 74.0/68.3 and
    79.7/72.3; fold B with ``k1=10``: 76.0/68.5 and 77.2/72.0, with ``k1=15``: 74.4/70.4 and
    77.6/73.5). If a round finds fewer than 2
    pseudo-identities, the network's weights are restored to what they were before the call
    and the result is ``{"unchanged": message}``.

    Returns
    -------
    result : dict
        ``pseudo_labels`` (final clustering of the unlabeled images with the adapted network,
        ``-1`` for noise), ``embeddings`` (of ``X``, by the adapted network), ``rounds``
        (per round: ``n_clusters``, ``n_noise``, ``eps``, ``seconds``), ``final`` (the same
        for the final clustering) and ``history`` (per epoch: ``adapt_*`` losses,
        ``adapt_round``, ``epoch_time``).
    """
    rng = rng if rng is not None else np.random.RandomState(0)
    labels = np.asarray(labels)
    unlabeled = labels == -1
    n_known = int(labels.max()) + 1 if (~unlabeled).any() else 0
    cams = None if cameras is None or not camera_centring else np.asarray(cameras)[unlabeled]
    initial = model.get_weights()
    reseed_random_layers(model, rng)
    history, record, mean = {}, [], None

    def cluster(emb):
        nonlocal eps
        start = time.perf_counter()
        pseudo, used = cluster_pseudo_labels(emb[unlabeled], eps=eps, min_samples=min_samples,
                                             k1=k1, k2=k2, cameras=cams)
        # "auto" is calibrated once, on the starting model: a radius re-read from each
        # round's (tighter) distances shrinks round after round and splits people again
        eps = used
        n_clusters = int(pseudo.max()) + 1
        info = {"n_clusters": n_clusters, "n_noise": int((pseudo < 0).sum()), "eps": used}
        return pseudo, info, time.perf_counter() - start

    for r in range(rounds):
        start = time.perf_counter()
        emb = embed(X)
        pseudo, info, _ = cluster(emb)
        if verbose:
            print(f"adapt round {r + 1}/{rounds}: {info['n_clusters']} pseudo-identities, "
                  f"{info['n_noise']} of {len(pseudo)} images left out as noise "
                  f"(eps={info['eps']:.3f})", flush=True)
        if info["n_clusters"] < 2:
            model.set_weights(initial)
            return {"unchanged": (
                f"adaptation round {r + 1}: DBSCAN found {info['n_clusters']} "
                f"pseudo-identit{'y' if info['n_clusters'] == 1 else 'ies'} among "
                f"{len(pseudo)} unlabeled images (eps={info['eps']:.3g}, min_samples="
                f"{min_samples}); at least 2 are needed. The network was left unchanged: use "
                "more images per person, or set adapt_eps / adapt_min_samples.")}
        codes = labels.copy()
        codes[unlabeled] = np.where(pseudo >= 0, pseudo + n_known, -1)
        keep = np.flatnonzero(codes >= 0)
        codes = codes[keep]
        n_classes = int(codes.max()) + 1
        net = _round_model(model, _centroids(emb[keep], codes, n_classes), head, triplet)
        losses = {"triplet": LOSSES[loss].build(margin)} if triplet else {}
        if head:
            losses["logits"] = IdentityLoss(label_smoothing=0.0)
        sampler = PKSampler(codes, max(2, batch_size // images_per_identity),
                            images_per_identity, rng)
        # a fresh optimizer each round: warm up over its first epoch (Adam's first steps move
        # every weight by about the full rate), then decay
        rate = SCHEDULES[schedule](keras, learning_rate, epochs * len(sampler), len(sampler))
        eager = resolve_run_eagerly(run_eagerly, epochs * len(sampler))
        net.compile(optimizer=OPTIMIZERS[optimizer](keras, rate), loss=losses,
                    run_eagerly=eager, jit_compile=False)
        dataset = as_keras_dataset(X[keep], {name: codes for name in losses}, sampler)
        fit = net.fit(dataset, epochs=epochs, steps_per_epoch=len(sampler), shuffle=False,
                      verbose=min(max(int(verbose) - 1, 0), 2))
        seconds = time.perf_counter() - start
        record.append({**info, "seconds": round(seconds, 2)})
        for key, values in fit.history.items():
            history.setdefault(f"adapt_{key}", []).extend(float(v) for v in values)
        history.setdefault("adapt_round", []).extend([r + 1] * epochs)
        history.setdefault("epoch_time", []).extend([seconds / epochs] * epochs)
        mean = average_weights(mean, model.get_weights(), r)
    model.set_weights(mean)
    emb = embed(X)
    pseudo, info, seconds = cluster(emb)
    if verbose:
        print(f"adapted: {info['n_clusters']} pseudo-identities in the final clustering",
              flush=True)
    return {"pseudo_labels": pseudo, "embeddings": emb, "rounds": record,
            "final": {**info, "seconds": round(seconds, 2)}, "history": history}
