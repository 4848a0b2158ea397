"""Gallery matching shared by every skreid re-ID estimator (``PCAReID``, ``TripletEmbedder``).

A re-ID estimator learns an embedding (``transform``) and ranks a *gallery* of embedded images
by distance to each query. :class:`ReIDMixin` implements everything after the embedding once:
the gallery index, ``kneighbors``, ``decision_function``, ``predict`` and ``score``.
"""

import numbers

import numpy as np
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import StrOptions
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from skreid.metrics.pairwise import CAMERA_NORMALIZATIONS, check_rerank
from skreid.reid._matching import camera_rule, gallery_entries, query_entries
from skreid.search import SEARCH_METRICS, GalleryIndex
from skreid.search import check_search_metric as check_reid_metric
from skreid.utils import skip_nested_validation

__all__ = ["ReIDMixin", "REID_METRICS", "check_reid_metric"]

#: Distances a re-ID estimator's ``metric`` parameter accepts.
REID_METRICS = SEARCH_METRICS


class ReIDMixin:
    """Gallery matching for re-ID estimators: ``set_gallery``, ``kneighbors``,
    ``gallery_distances``, ``decision_function``, ``predict`` and ``score``.

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
    - Optionally a ``camera_normalization`` parameter (None, ``"center"`` or ``"whiten"``,
      :class:`skreid.metrics.pairwise.CameraStatistics`): ``set_gallery`` then fits each gallery
      camera's statistics and normalises the gallery; the query methods normalise the queries
      with their ``cameras=``' statistics (the global ones without ``cameras``, and for unseen
      cameras with an :class:`~skreid.metrics.pairwise.UnseenCameraWarning`).
    - In ``fit(X, y, ...)``, after learning the embedding, a call to
      ``self._set_gallery_embeddings(embeddings_of_X, y, cameras)``: the training set becomes the
      default gallery, so the fitted estimator is a closed-set classifier. That call validates
      ``y`` and sets ``classes_``; call it *before* returning from ``fit``.
    - Validate ``y`` with :meth:`_check_reid_targets` at the start of ``fit`` if you want the
      errors (continuous targets, a single identity) before any training work.

    **What the mixin sets** (fitted attributes): ``gallery_index_`` (a
    :class:`skreid.search.GalleryIndex` with the exact backend: every distance and ranking goes
    through it, so estimators and saved indexes share one search code path),
    ``gallery_embeddings_`` (the entries searched: one per image, or per tracklet after
    ``set_gallery(..., tracklets=)``; camera-normalised with ``camera_normalization``;
    L2-normalised when ``metric="cosine"``), ``gallery_ids_``, ``gallery_cameras_`` (None when
    not given), ``gallery_tracklets_`` (the tracklet id of each entry, or None),
    ``camera_statistics_`` (the gallery cameras' statistics as ``CameraStatistics.to_dict()``
    gives them, or None) and ``classes_`` (the sorted unique gallery identities).
    ``set_gallery`` replaces them all.

    **Cameras and tracklets at query time.** Every query method takes ``cameras=`` (the
    queries' cameras: their camera statistics, and the camera of each query for the rules
    below) and ``tracklets=`` (the queries' tracklet ids: the crops of a tracklet are pooled,
    as the gallery's, into one query; the method then returns one row per tracklet, in sorted
    tracklet order). ``exclude_same_camera=True`` (``kneighbors``, ``gallery_distances``,
    ``decision_function``, ``predict``) searches the other cameras only, as a deployment
    looking for a person elsewhere does; ``score`` with ``cameras`` applies the Market-1501
    rule (a query's gallery entries of the same identity *and* camera are left out, and
    queries left without a true match are not counted).

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
    #: the constraints of the matching parameters, for the estimators' _parameter_constraints
    _reid_parameter_constraints = {
        "metric": [StrOptions(set(REID_METRICS))],
        "rerank": [None, "boolean", dict],
        "camera_normalization": [StrOptions(set(CAMERA_NORMALIZATIONS)), None],
    }

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

    def _set_gallery_embeddings(self, embeddings, y, cameras=None, tracklets=None):
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
        embeddings, y, cameras, tracklet_ids, statistics = gallery_entries(
            embeddings, y, cameras, tracklets, getattr(self, "camera_normalization", None))
        self._gallery_metric = metric
        # GalleryIndex validates the embeddings and L2-normalises them for cosine
        self.gallery_embeddings_ = GalleryIndex(metric).add(embeddings).embeddings
        self.gallery_ids_ = y
        self.gallery_cameras_ = cameras
        self.gallery_tracklets_ = tracklet_ids
        self.camera_statistics_ = statistics
        self.classes_, self._gallery_codes = np.unique(y, return_inverse=True)
        # gallery columns grouped by identity, for the per-identity minimum in decision_function
        self._gallery_order = np.argsort(self._gallery_codes, kind="stable")
        self._class_starts = np.searchsorted(
            self._gallery_codes[self._gallery_order], np.arange(len(self.classes_))
        )
        return self

    def set_gallery(self, X, y, cameras=None, tracklets=None):
        """Embed and index a new gallery, keeping the learned embedding.

        Use it for open-set re-ID: the gallery identities need not have been seen in ``fit``.

        Parameters
        ----------
        X : array-like of images
            Gallery images, in any form ``transform`` accepts.
        y : array-like of shape (n_gallery,)
            Gallery identities.
        cameras : array-like of shape (n_gallery,), optional
            Camera ids (ints or strings), kept in ``gallery_cameras_``: the query methods'
            camera rules compare them with the queries' ``cameras``, and
            ``camera_normalization`` fits each camera's statistics on them.
        tracklets : array-like of shape (n_gallery,), optional
            Tracklet id of each image: each tracklet becomes one gallery entry, the mean of
            its L2-normalised embeddings (:func:`skreid.metrics.pairwise.pool_tracklets`).
            Every image of a tracklet must have the same identity and camera (else a
            ValueError names the tracklet).

        Returns
        -------
        self : object
            ``classes_`` now lists the gallery identities.
        """
        self._check_reid_fitted("set_gallery")
        return self._set_gallery_embeddings(self.transform(X), y, cameras, tracklets)

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
    def _gallery_queries(self, X, cameras=None, tracklets=None, y=None):
        """``(queries, cameras, y)``: ``X`` embedded, pooled per tracklet and camera-normalised
        as the gallery was, after checking the gallery still fits the estimator."""
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
        # getattr: estimators fitted (or without the parameter) before camera normalisation
        return query_entries(queries, cameras, tracklets, y,
                             getattr(self, "camera_statistics_", None),
                             getattr(self, "camera_normalization", None))

    def _distance_blocks(self, queries, exclude=None):
        """Yield ``(rows, distances)`` blocks of the query x gallery distance matrix
        (``inf`` where ``exclude`` says so)."""
        blocks = self.gallery_index_.distance_blocks(queries, rerank=self._rerank_params())
        while True:
            # the queries and rerank were checked here: the index and the engine trust them
            # (entered around each step only, so the caller's code between blocks is unaffected)
            with skip_nested_validation():
                block = next(blocks, None)
            if block is None:
                return
            if exclude is not None:
                block[1][exclude(block[0], slice(None))] = np.inf
            yield block

    def _rerank_params(self):
        # getattr: estimators without (or pickled before) the rerank parameter
        return check_rerank(getattr(self, "rerank", None))

    def _excluding(self, cameras, exclude_same_camera):
        return camera_rule(self.gallery_cameras_, self.gallery_ids_, cameras,
                           exclude_same_camera=exclude_same_camera)

    def gallery_distances(self, X, *, cameras=None, exclude_same_camera=False, tracklets=None):
        """Distances from each query to every gallery entry.

        Parameters
        ----------
        X : array-like of images
        cameras : array-like of shape (n_queries,), optional
            The queries' cameras (for ``camera_normalization`` and ``exclude_same_camera``).
        exclude_same_camera : bool, default=False
            Distances to gallery entries of the query's own camera become ``inf``.
        tracklets : array-like of shape (n_queries,), optional
            Query tracklet ids: one row per tracklet, in sorted tracklet order.

        Returns
        -------
        distances : ndarray of shape (n_queries, n_gallery), float32
        """
        queries, cameras, _ = self._gallery_queries(X, cameras, tracklets)
        exclude = self._excluding(cameras, exclude_same_camera)
        return np.concatenate([d for _, d in self._distance_blocks(queries, exclude)], axis=0)

    def kneighbors(self, X, n_neighbors=None, return_distance=True, *, cameras=None,
                   exclude_same_camera=False, tracklets=None):
        """Nearest gallery entries of each query, best first.

        Parameters
        ----------
        X : array-like of images
            Query images.
        n_neighbors : int, optional
            How many gallery entries to return per query; default the whole gallery
            (a full ranking).
        return_distance : bool, default=True
            Also return the distances.
        cameras : array-like of shape (n_queries,), optional
            The queries' cameras (for ``camera_normalization`` and ``exclude_same_camera``).
        exclude_same_camera : bool, default=False
            Search the gallery entries of other cameras only (needs ``cameras`` and a gallery
            with cameras). Where fewer than ``n_neighbors`` entries are left, a row ends with
            distance ``inf`` and index -1.
        tracklets : array-like of shape (n_queries,), optional
            Query tracklet ids: the crops of each tracklet are pooled into one query; one
            row per tracklet, in sorted tracklet order.

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
        queries, cameras, _ = self._gallery_queries(X, cameras, tracklets)
        exclude = self._excluding(cameras, exclude_same_camera)
        index = self.gallery_index_
        if exclude is not None:
            index.cameras, cameras = exclude.codes
        rerank = self._rerank_params()
        with skip_nested_validation():
            result = index.search(queries, n_neighbors, rerank=rerank,
                                  exclude_same_camera=exclude is not None, query_cameras=cameras)
        return (result.distances, result.positions) if return_distance else result.positions

    # ----------------------------------------------------------- classification
    def _identity_distances(self, queries, exclude=None):
        """(n_queries, n_classes): distance to each identity's nearest gallery entry."""
        out = []
        for _, d in self._distance_blocks(queries, exclude):
            out.append(np.minimum.reduceat(d[:, self._gallery_order], self._class_starts, axis=1))
        return np.concatenate(out)

    def decision_function(self, X, *, cameras=None, exclude_same_camera=False, tracklets=None):
        """Closeness of each query to each gallery identity (higher = closer).

        ``cameras``, ``exclude_same_camera`` and ``tracklets`` as in :meth:`kneighbors`; an
        identity seen only by the query's camera scores ``-inf`` when excluded.

        Returns
        -------
        scores : ndarray of shape (n_queries, n_classes) or (n_queries,)
            Minus the distance to the nearest gallery image of each identity in ``classes_``.
            With two identities: one column, ``d(classes_[0]) - d(classes_[1])`` (positive
            means ``classes_[1]``), as sklearn's binary classifiers do.
        """
        queries, cameras, _ = self._gallery_queries(X, cameras, tracklets)
        scores = -self._identity_distances(queries, self._excluding(cameras, exclude_same_camera))
        if scores.shape[1] == 2:
            with np.errstate(invalid="ignore"):  # -inf - -inf: both excluded, no preference
                return np.nan_to_num(scores[:, 1] - scores[:, 0], nan=0.0)
        return scores

    def predict(self, X, *, cameras=None, exclude_same_camera=False, tracklets=None):
        """Identity of the nearest gallery entry (rank-1 match) of each query.

        ``cameras``, ``exclude_same_camera`` and ``tracklets`` as in :meth:`kneighbors` (with
        ``tracklets``, one identity per tracklet, in sorted tracklet order). A query whose
        camera saw every gallery entry has no other-camera match: ValueError.
        """
        queries, cameras, _ = self._gallery_queries(X, cameras, tracklets)
        dist = self._identity_distances(queries, self._excluding(cameras, exclude_same_camera))
        none_left = np.isinf(dist).all(axis=1)
        if none_left.any():
            q = int(np.flatnonzero(none_left)[0])
            raise ValueError(f"exclude_same_camera=True left query {q} (camera "
                             f"{cameras[q].tolist()!r}) without any gallery entry: every "
                             "gallery entry is from its camera.")
        return self.classes_[np.argmin(dist, axis=1)]

    def score(self, X, y, sample_weight=None, *, cameras=None, tracklets=None):
        """Rank-1 accuracy (CMC at 1) of the queries ``X`` against the gallery.

        Parameters
        ----------
        X : array-like of images
        y : array-like of shape (n_queries,)
            The queries' identities.
        sample_weight : array-like of shape (n_queries,), optional
            With ``tracklets``, a tracklet weighs the sum of its images' weights.
        cameras : array-like of shape (n_queries,), optional
            The queries' cameras: the Market-1501 rule applies (gallery entries of the
            query's identity *and* camera are left out; a query left without any true match
            is not counted), as in :func:`skreid.metrics.evaluate_reid`. Needs a gallery
            with cameras. Without ``cameras``: no filtering, and on the default (training)
            gallery a query that is itself in the gallery matches itself.
        tracklets : array-like of shape (n_queries,), optional
            Query tracklet ids: each tracklet is one query (its images must share ``y``).

        Returns
        -------
        score : float
        """
        queries, cameras, y = self._gallery_queries(X, cameras, tracklets, y=y)
        if tracklets is not None and sample_weight is not None:
            inverse = np.unique(np.asarray(tracklets), return_inverse=True)[1]
            sample_weight = np.bincount(inverse, weights=np.asarray(sample_weight, dtype=float))
        exclude = camera_rule(self.gallery_cameras_, self.gallery_ids_, cameras, y)
        dist = self._identity_distances(queries, exclude)
        predicted = self.classes_[np.argmin(dist, axis=1)]
        if exclude is None:
            return float(accuracy_score(y, predicted, sample_weight=sample_weight))
        pos = np.minimum(np.searchsorted(self.classes_, y), len(self.classes_) - 1)
        has_match = (self.classes_[pos] == y) & np.isfinite(dist[np.arange(len(y)), pos])
        if not has_match.any():
            raise ValueError("no query has a true match in the gallery after the camera rule "
                             "(same identity and camera left out): the score is undefined.")
        weight = None if sample_weight is None else np.asarray(sample_weight)[has_match]
        return float(accuracy_score(y[has_match], predicted[has_match], sample_weight=weight))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags
