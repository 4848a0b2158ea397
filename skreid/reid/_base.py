"""Gallery matching shared by every skreid re-ID estimator (``PCAReID``, ``TripletEmbedder``).

A re-ID estimator learns an embedding (``transform``) and ranks a *gallery* of embedded images
by distance to each query. :class:`ReIDMixin` implements everything after the embedding once:
the gallery index, ``kneighbors``, ``decision_function``, ``predict`` and ``score``.
"""

import numbers

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skreid.metrics.pairwise import check_rerank
from skreid.search import SEARCH_METRICS, GalleryIndex
from skreid.search import check_search_metric as check_reid_metric
from skreid.utils import skip_nested_validation

__all__ = ["ReIDMixin", "REID_METRICS", "check_reid_metric"]

#: Distances a re-ID estimator's ``metric`` parameter accepts.
REID_METRICS = SEARCH_METRICS


class ReIDMixin:
    """Gallery matching for re-ID estimators: ``set_gallery``, ``kneighbors``,
    ``decision_function``, ``predict`` and ``score``.

    Put it first among the bases:
    ``class MyReID(ReIDMixin, ClassifierMixin, TransformerMixin, BaseEstimator)``.

    **What a subclass must provide**

    - ``transform(X)`` returning a 2-D float array of embeddings ``(n_samples, n_dims)``.
      It must validate ``X`` and raise :class:`~sklearn.exceptions.NotFittedError` when unfitted.
    - A ``metric`` constructor parameter, ``"euclidean"`` or ``"cosine"``
      (see :func:`check_reid_metric`); it is read each time distances are computed.
    - Optionally a ``rerank`` parameter (None, True or a dict, see
      :func:`skreid.metrics.pairwise.rerank_k_reciprocal`): when set, every query x gallery distance
      is the k-reciprocal re-ranked one.
    - In ``fit(X, y, ...)``, after learning the embedding, a call to
      ``self._set_gallery_embeddings(embeddings_of_X, y, cameras)``: the training set becomes the
      default gallery, so the fitted estimator is a closed-set classifier. That call validates
      ``y`` and sets ``classes_``; call it *before* returning from ``fit``.
    - Validate ``y`` with :meth:`_check_reid_targets` at the start of ``fit`` if you want the
      errors (continuous targets, a single identity) before any training work.

    **What the mixin sets** (fitted attributes): ``gallery_index_`` (a
    :class:`skreid.search.GalleryIndex` with the exact backend: every distance and ranking goes
    through it, so estimators and saved indexes share one search code path),
    ``gallery_embeddings_`` (its embeddings, L2-normalised when ``metric="cosine"``),
    ``gallery_ids_``, ``gallery_cameras_`` (None when not given) and ``classes_`` (the sorted
    unique gallery identities). ``set_gallery`` replaces them all.

    **Scores.** ``decision_function`` gives, for each identity in ``classes_``, minus the
    distance from the query to that identity's nearest gallery image (higher = closer), so that
    ``sklearn.metrics.top_k_accuracy_score(y, est.decision_function(X), k=n,
    labels=est.classes_)`` equals the CMC at rank ``n`` (no camera filtering) for a
    single-shot gallery (one image per identity, the CAB420/VIPeR protocol) of more than two
    identities; with several images per identity it still equals rank-1, and at higher ranks
    it counts distinct identities rather than gallery images. With exactly two identities it
    follows sklearn's binary convention: one column, positive when ``classes_[1]`` is closer.
    Ties in distance are broken by gallery order
    (``kneighbors``) or by identity order (``predict``), deterministically.

    The sklearn "more than 50 % unique classes" warning is never raised: a gallery with one
    image per identity is the normal re-ID case, so targets are checked with
    :func:`~sklearn.utils.multiclass.type_of_target` instead of ``check_classification_targets``.
    """

    #: private state the gallery keeps beside its fitted attributes (restored by skreid.load)
    _saved_state_attrs = ("_gallery_codes", "_gallery_metric", "_gallery_order", "_class_starts")

    # ------------------------------------------------------------------ gallery
    def _check_reid_targets(self, y, name="y", min_classes=2):
        """Validate identity labels and return them as a 1-D array (no 50 % warning)."""
        y = column_or_1d(np.asarray(y), warn=True)
        y_type = type_of_target(y, input_name=name)
        if y_type not in ("binary", "multiclass"):
            # "Unknown label type" is the wording sklearn's common checks look for
            raise ValueError(
                f"Unknown label type: {y_type}. {name} must hold discrete identity labels "
                f"(ints or strings), got values like {y[:3]!r}."
            )
        n_classes = np.unique(y).size
        if n_classes < min_classes:
            raise ValueError(
                f"{name} has {n_classes} class(es) (distinct identities); at least "
                f"{min_classes} are needed to learn a re-ID embedding."
            )
        return y

    def _set_gallery_embeddings(self, embeddings, y, cameras=None):
        """Index already-embedded gallery images. Called by ``fit`` and ``set_gallery``."""
        embeddings = np.asarray(embeddings, dtype=np.float32)
        if embeddings.ndim != 2:
            raise ValueError(f"transform must return 2-D embeddings, got shape {embeddings.shape}.")
        y = self._check_reid_targets(y, min_classes=1)
        if len(y) != len(embeddings):
            raise ValueError(
                f"y has {len(y)} labels but X has {len(embeddings)} images; they must match."
            )
        if cameras is not None:
            cameras = column_or_1d(np.asarray(cameras))
            if len(cameras) != len(y):
                raise ValueError(
                    f"cameras has {len(cameras)} entries but y has {len(y)}; they must match."
                )
        metric = check_reid_metric(self.metric)
        self._gallery_metric = metric
        # GalleryIndex validates the embeddings and L2-normalises them for cosine
        self.gallery_embeddings_ = GalleryIndex(metric).add(embeddings).embeddings
        self.gallery_ids_ = y
        self.gallery_cameras_ = cameras
        self.classes_, self._gallery_codes = np.unique(y, return_inverse=True)
        # gallery columns grouped by identity, for the per-identity minimum in decision_function
        self._gallery_order = np.argsort(self._gallery_codes, kind="stable")
        self._class_starts = np.searchsorted(
            self._gallery_codes[self._gallery_order], np.arange(len(self.classes_))
        )
        return self

    def set_gallery(self, X, y, cameras=None):
        """Embed and index a new gallery, keeping the learned embedding.

        Use it for open-set re-ID: the gallery identities need not have been seen in ``fit``.

        Parameters
        ----------
        X : array-like of images
            Gallery images, in any form ``transform`` accepts.
        y : array-like of shape (n_gallery,)
            Gallery identities.
        cameras : array-like of shape (n_gallery,), optional
            Camera ids, kept in ``gallery_cameras_`` for evaluation.

        Returns
        -------
        self : object
            ``classes_`` now lists the gallery identities.
        """
        self._check_reid_fitted("set_gallery")
        return self._set_gallery_embeddings(self.transform(X), y, cameras)

    @property
    def gallery_index_(self):
        """The gallery as a :class:`skreid.search.GalleryIndex` (exact backend).

        A view of ``gallery_embeddings_`` (no copy), made on each access rather than stored,
        so the fitted state stays plain arrays (``skreid.save``, pickling).
        """
        if "gallery_embeddings_" not in vars(self):
            raise AttributeError("gallery_index_ exists once the estimator is fitted.")
        return GalleryIndex._from_embeddings(self.gallery_embeddings_, self._gallery_metric)

    def _check_reid_fitted(self, method):
        check_is_fitted(
            self,
            "gallery_embeddings_",
            msg=(f"This %(name)s instance is not fitted yet: call fit(X, y) before {method}()."),
        )

    # ---------------------------------------------------------------- distances
    def _gallery_queries(self, X):
        """Embed the queries ``X`` after checking the gallery still fits the estimator."""
        self._check_reid_fitted("kneighbors")
        queries = np.asarray(self.transform(X), dtype=np.float32)
        n_dims = self.gallery_embeddings_.shape[1]
        if queries.ndim != 2 or queries.shape[1] != n_dims:
            raise ValueError(
                f"transform returned embeddings of shape {queries.shape}, but the gallery has "
                f"{n_dims}-d embeddings."
            )
        metric = check_reid_metric(self.metric)
        if metric != self._gallery_metric:
            raise ValueError(
                f"metric was changed from {self._gallery_metric!r} to {metric!r} after the "
                f"gallery was indexed; call set_gallery (or fit) again."
            )
        return queries

    def _distance_blocks(self, X):
        """Yield ``(rows, distances)`` blocks of the query x gallery distance matrix."""
        queries = self._gallery_queries(X)  # checks fitted first
        blocks = self.gallery_index_.distance_blocks(queries, rerank=self._rerank_params())
        while True:
            # the queries and rerank were checked here: the index and the engine trust them
            # (entered around each step only, so the caller's code between blocks is unaffected)
            with skip_nested_validation():
                block = next(blocks, None)
            if block is None:
                return
            yield block

    def _rerank_params(self):
        # getattr: estimators without (or pickled before) the rerank parameter
        return check_rerank(getattr(self, "rerank", None))

    def gallery_distances(self, X):
        """Distances from each image of ``X`` to every gallery image.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_gallery), float32
        """
        return np.concatenate([d for _, d in self._distance_blocks(X)], axis=0)

    def kneighbors(self, X, n_neighbors=None, return_distance=True):
        """Nearest gallery images of each query, best first.

        Parameters
        ----------
        X : array-like of images
            Query images.
        n_neighbors : int, optional
            How many gallery images to return per query; default the whole gallery
            (a full ranking).
        return_distance : bool, default=True
            Also return the distances.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_neighbors)
            Only when ``return_distance`` is true.
        indices : ndarray of shape (n_queries, n_neighbors)
            Row indices into the gallery; ``gallery_ids_[indices]`` are the ranked identities.
        """
        self._check_reid_fitted("kneighbors")
        n_gallery = len(self.gallery_embeddings_)
        if n_neighbors is None:
            n_neighbors = n_gallery
        if (
            not isinstance(n_neighbors, numbers.Integral)
            or isinstance(n_neighbors, bool)
            or not 1 <= n_neighbors <= n_gallery
        ):
            raise ValueError(
                f"n_neighbors must be an int in [1, {n_gallery}] (the gallery size), "
                f"got {n_neighbors!r}."
            )
        # ties in distance go to the earlier gallery image (GalleryIndex's exact search)
        queries = self._gallery_queries(X)
        rerank = self._rerank_params()
        with skip_nested_validation():
            result = self.gallery_index_.search(queries, n_neighbors, rerank=rerank)
        return (result.distances, result.positions) if return_distance else result.positions

    # ----------------------------------------------------------- classification
    def _identity_distances(self, X):
        """(n_queries, n_classes): distance to each identity's nearest gallery image."""
        out = []
        for _, d in self._distance_blocks(X):
            out.append(np.minimum.reduceat(d[:, self._gallery_order], self._class_starts, axis=1))
        return np.concatenate(out)

    def decision_function(self, X):
        """Closeness of each query to each gallery identity (higher = closer).

        Returns
        -------
        scores : ndarray of shape (n_queries, n_classes) or (n_queries,)
            Minus the distance to the nearest gallery image of each identity in ``classes_``.
            With two identities: one column, ``d(classes_[0]) - d(classes_[1])`` (positive
            means ``classes_[1]``), as sklearn's binary classifiers do.
        """
        scores = -self._identity_distances(X)
        if scores.shape[1] == 2:
            return scores[:, 1] - scores[:, 0]
        return scores

    def predict(self, X):
        """Identity of the nearest gallery image (rank-1 match) for each query."""
        dist = self._identity_distances(X)
        return self.classes_[np.argmin(dist, axis=1)]

    def score(self, X, y, sample_weight=None):
        """Rank-1 accuracy (CMC at 1) of the queries ``X`` against the gallery.

        No camera filtering: use :func:`skreid.reid.evaluate_transformer` for the Market-1501
        protocol. On the default (training) gallery, a query that is itself in the gallery
        matches itself.
        """
        return float(accuracy_score(y, self.predict(X), sample_weight=sample_weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
