"""``fit`` with unlabeled images (``y == -1``, the ``sklearn.semi_supervised`` convention):
adaptation of a trained :class:`~skreid.reid.TripletEmbedder` to a new camera network.

The estimator side only: validation, the order of the steps and the fitted attributes. The
clustering and training loop is :func:`skreid._keras._adaptation.adapt_network`.
"""

import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import column_or_1d

__all__ = ["UNLABELED", "ADAPT_CONSTRAINTS", "AdaptationMixin", "NoPseudoIdentitiesWarning",
           "unlabeled_mask"]

#: the label of an unlabeled image (scikit-learn's semi-supervised convention)
UNLABELED = -1

#: ``_parameter_constraints`` of the ``adapt_*`` parameters
ADAPT_CONSTRAINTS = {
    "adapt_rounds": [Interval(Integral, 1, None, closed="left")],
    "adapt_epochs": [Interval(Integral, 1, None, closed="left")],
    "adapt_eps": [StrOptions({"auto"}), Interval(Real, 0, 1, closed="right")],
    "adapt_min_samples": [Interval(Integral, 2, None, closed="left")],
    "adapt_k1": [Interval(Integral, 1, None, closed="left")],
}


class NoPseudoIdentitiesWarning(UserWarning):
    """Adaptation found fewer than 2 pseudo-identities: the model was left unchanged."""


def unlabeled_mask(y):
    """Boolean mask of the ``-1`` labels of numeric ``y`` (None when there are none)."""
    y = np.asarray(y)
    if y.dtype.kind not in "iuf" or y.ndim != 1:
        return None
    mask = y == UNLABELED
    return mask if mask.any() else None


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


class AdaptationMixin:
    """What :class:`~skreid.reid.TripletEmbedder` needs to fit with unlabeled images.

    Reads the estimator's ``adapt_*`` parameters, ``warm_start`` and its training
    parameters; sets ``adaptation_`` (one record per adapting call), the gallery (the images
    of the call: labeled ones under their identity, unlabeled ones under their final
    pseudo-identity, ``-1`` for DBSCAN's noise) and appends the ``adapt_*`` epochs to
    ``history_``.
    """

    def _refuse_unlabeled(self, y, method):
        if unlabeled_mask(y) is not None:
            raise ValueError(f"{method} got unlabeled images (y == -1); adapt with fit and "
                             "warm_start=True instead.")

    def _fit_with_unlabeled(self, X, y, unlabeled, cameras):
        X = X if hasattr(X, "ndim") else np.asarray(X)
        y = column_or_1d(np.asarray(y), warn=True)
        if len(X) != len(y):
            raise ValueError(f"X has {len(X)} images but y has {len(y)} labels; they must match.")
        if cameras is not None:
            cameras = column_or_1d(np.asarray(cameras))
            if len(cameras) != len(y):
                raise ValueError(
                    f"cameras has {len(cameras)} entries but y has {len(y)}; give one camera "
                    "per image (or cameras=None).")
        warm = self.warm_start and getattr(self, "model_", None) is not None
        known = np.unique(y[~unlabeled])
        if not warm and len(known) < 2:
            raise ValueError(
                f"fit got {int(unlabeled.sum())} unlabeled images (y == -1) and "
                f"{len(known)} labeled identit{'y' if len(known) == 1 else 'ies'}: adaptation "
                "from unlabeled images needs a trained model (fit it first, then set "
                "warm_start=True) or labeled images of at least 2 identities in the same call.")
        n_min = 2 * self.adapt_min_samples
        if unlabeled.sum() < n_min:
            raise ValueError(
                f"fit got {int(unlabeled.sum())} unlabeled images (y == -1); clustering them "
                f"into at least 2 pseudo-identities needs at least {n_min} "
                f"(2 x adapt_min_samples={self.adapt_min_samples}), and in practice several "
                "hundred crops of a few dozen people.")
        if not warm:  # labeled images only first: the network the adaptation starts from
            self._fit(X[~unlabeled], y[~unlabeled], epochs=self.epochs, reset=True,
                      cameras=None if cameras is None else cameras[~unlabeled])
        X = self._read_images(X, reset=False)
        return self._adapt(X, y, unlabeled, cameras)

    def _adapt(self, X, y, unlabeled, cameras):
        from skreid._keras._adaptation import adapt_network
        from skreid._keras._base import keras_seeded

        known = np.unique(y[~unlabeled])
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[~unlabeled] = np.searchsorted(known, y[~unlabeled])
        seed = (self._seed_ + 7919 * self.n_epochs_) % (2**31 - 1)
        with keras_seeded(seed):
            # the global NumPy RNG is seeded for this call: the batches follow random_state
            rng = np.random.RandomState(np.random.randint(2**31 - 1))  # noqa: NPY002
            result = adapt_network(
                self.model_, self._embed, X, codes, rounds=self.adapt_rounds,
                epochs=self.adapt_epochs, eps=self.adapt_eps, min_samples=self.adapt_min_samples,
                k1=self.adapt_k1, cameras=cameras, loss=self.loss, margin=self.margin,
                optimizer=self.optimizer,
                learning_rate=self.learning_rate, batch_size=self.batch_size,
                images_per_identity=self.images_per_identity, run_eagerly=self.run_eagerly,
                verbose=self.verbose, rng=rng)
        if "unchanged" in result:  # fewer than 2 pseudo-identities: nothing changed
            warnings.warn(result["unchanged"], NoPseudoIdentitiesWarning, stacklevel=5)
            return self
        pseudo = result["pseudo_labels"]
        gallery_ids = y.copy()
        if known.size and np.issubdtype(y.dtype, np.number):
            offset = max(int(known.max()), 0) + 1
        else:
            offset = 0
        gallery_ids[unlabeled] = np.where(pseudo >= 0, pseudo + offset, -1)
        self._set_gallery_embeddings(result["embeddings"], gallery_ids, cameras)
        cams = None if cameras is None else np.unique(cameras[unlabeled])
        self.adaptation_ = [*getattr(self, "adaptation_", []), {
            "n_unlabeled_images": int(unlabeled.sum()),
            "n_labeled_images": int((~unlabeled).sum()),
            "cameras": None if cams is None else [_plain(c) for c in cams],
            "rounds": len(result["rounds"]),
            "epochs_per_round": int(self.adapt_epochs),
            "clusters_per_round": [r["n_clusters"] for r in result["rounds"]],
            "noise_per_round": [r["n_noise"] for r in result["rounds"]],
            "eps_per_round": [round(r["eps"], 4) for r in result["rounds"]],
            "final_clusters": result["final"]["n_clusters"],
            "seconds": round(sum(r["seconds"] for r in result["rounds"]), 1),
        }]
        self._append_history(result["history"])
        return self
