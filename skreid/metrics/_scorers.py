"""Scorers for ``cross_validate`` / ``GridSearchCV`` shared by every skreid estimator.

One scorer serves two kinds of model:

- re-ID embedders (anything with ``transform``: sklearn's ``PCA``, a ``Pipeline`` ending in
  ``NeighborhoodComponentsAnalysis``, skreid's ``PCAReID`` and ``TripletEmbedder``): the
  validation fold is embedded and every image is ranked against the rest of the fold
  (leave-one-out). With identity-disjoint folds (``GroupKFold(groups=ids)``) this is the
  open-set protocol: validation identities were never seen in training.
- classifiers with ``predict_proba`` (the pets breed classifiers): top-n accuracy.
"""

import numpy as np
import sklearn
from sklearn.utils.metadata_routing import MetadataRequest

from skreid.metrics._checks import check_ap_mode, check_positive_int
from skreid.metrics._classification import top_n_accuracy_score
from skreid.metrics._evaluate import evaluate_reid
from skreid.metrics.pairwise import check_metric, check_query_expansion, check_rerank, metric_names

KINDS = ("auto", "reid", "classifier")
_METADATA = ("cameras", "sample_weight")


def _final_step(estimator):
    while hasattr(estimator, "steps"):  # Pipeline, possibly nested
        estimator = estimator.steps[-1][1]
    return estimator


def _resolve_kind(estimator, kind):
    """The documented "auto" rule: classifier path for segmentation nets (``predict_mask``:
    skreid's pets nets, which also embed with ``transform``) and for anything without
    ``transform``; re-ID path otherwise, even for classifiers such as ``PCAReID``."""
    if kind != "auto":
        return kind
    final = _final_step(estimator)
    if hasattr(estimator, "predict_mask") or hasattr(final, "predict_mask"):
        return "classifier"
    return "reid" if hasattr(estimator, "transform") else "classifier"


def _resolve_metric(estimator, metric):
    if metric is not None:
        return metric
    # follow the estimator's own matching metric (PCAReID(metric="cosine")), when usable
    own = getattr(_final_step(estimator), "metric", None)
    if isinstance(own, str) and own in metric_names(precomputed=True, sklearn=True):
        return "euclidean" if own == "precomputed" else own
    return "euclidean"


class ReIDScorer:
    """Scorer ``scorer(estimator, X, y, cameras=None)`` for ``scoring=``.

    Build it with :func:`make_top_n_scorer` or :func:`make_map_scorer`, which validate the
    parameters.

    Supports scikit-learn metadata routing: after
    ``sklearn.set_config(enable_metadata_routing=True)`` and
    ``scorer.set_score_request(cameras=True)``,
    ``GridSearchCV(...).fit(X, y, groups=ids, cameras=cams)`` hands each validation fold's
    camera ids to the scorer, which then applies the Market-1501 rule (same identity *and*
    same camera removed from each ranking).

    Parameters
    ----------
    statistic : {"cmc", "map"}, default="cmc"
        CMC at ``n`` (top-n accuracy on the classifier path) or mAP (re-ID only).
    n : int, default=1
        Rank cut-off for "cmc".
    kind : {"auto", "reid", "classifier"}, default="auto"
        See :func:`make_top_n_scorer`.
    metric : str or None, default=None
        Distance of the re-ID path; None follows the estimator's ``metric`` if usable.
    ap_mode : {"non_interpolated", "trapezoid"}, default="non_interpolated"
        AP formula for "map".
    rerank, query_expansion : None, bool or dict, default=None
        Re-ID path only: k-reciprocal re-ranking and alpha-QE of the fold's leave-one-out
        ranking, as in :func:`evaluate_reid`.

    Notes
    -----
    On the re-ID path, images without another image of their identity in the fold (from
    another camera, when cameras are routed) cannot be queries and are skipped; a fold where
    no image can be a query raises ``ValueError`` (``GridSearchCV`` then applies its
    ``error_score``). Use folds with several images per identity.
    """

    def __init__(
        self,
        statistic="cmc",
        n=1,
        kind="auto",
        metric=None,
        ap_mode="non_interpolated",
        rerank=None,
        query_expansion=None,
    ):
        self.statistic = statistic
        self.n = n
        self.kind = kind
        self.metric = metric
        self.ap_mode = ap_mode
        self.rerank = rerank
        self.query_expansion = query_expansion

    def __repr__(self):
        extra = "".join(
            f", {name}={getattr(self, name)!r}"
            for name in ("rerank", "query_expansion")
            if getattr(self, name, None) is not None
        )
        if self.statistic == "cmc":
            return (
                f"make_top_n_scorer(n={self.n!r}, kind={self.kind!r}, "
                f"metric={self.metric!r}{extra})"
            )
        return f"make_map_scorer(metric={self.metric!r}, ap_mode={self.ap_mode!r}{extra})"

    def __call__(self, estimator, X, y, **kwargs):
        unknown = set(kwargs) - set(_METADATA)
        if unknown:
            raise TypeError(
                f"{self!r} got unexpected metadata {sorted(unknown)}; accepted: {_METADATA}."
            )
        if y is None:
            raise ValueError("y (identity or class labels) is required to score, got None.")
        kind = _resolve_kind(estimator, self.kind)
        # getattr: scorers pickled before these options existed
        rerank = check_rerank(getattr(self, "rerank", None))
        query_expansion = check_query_expansion(getattr(self, "query_expansion", None))
        if kind == "classifier":
            if rerank is not None or query_expansion is not None:
                raise ValueError(
                    "rerank and query_expansion only apply to re-ID estimators (with "
                    f"transform); {type(estimator).__name__} was resolved as a classifier."
                )
            if self.statistic != "cmc":
                raise ValueError(
                    "make_map_scorer needs a re-ID estimator (with transform); "
                    f"{type(estimator).__name__} was resolved as a classifier."
                )
            if not hasattr(estimator, "predict_proba"):
                raise ValueError(
                    f"{type(estimator).__name__} has neither transform (re-ID) nor "
                    "predict_proba (classifier): the Top-N scorer cannot score it."
                )
            proba = estimator.predict_proba(X)
            return top_n_accuracy_score(
                y,
                proba,
                n=self.n,
                labels=getattr(estimator, "classes_", None),
                sample_weight=kwargs.get("sample_weight"),
            )
        if not hasattr(estimator, "transform"):
            hint = (
                "make_map_scorer needs a re-ID estimator"
                if self.statistic != "cmc"
                else "kind='reid' needs an estimator"
            )
            raise ValueError(
                f"{hint} with transform (the validation fold is embedded with it); "
                f"{type(estimator).__name__} has none."
            )
        features = np.asarray(estimator.transform(X))
        features = features.reshape(features.shape[0], -1)
        cameras = kwargs.get("cameras")
        result = evaluate_reid(
            features,
            y,
            query_cameras=cameras,
            metric=_resolve_metric(estimator, self.metric),
            max_rank=self.n,
            ap_mode=self.ap_mode,
            query_is_gallery=True,
            rerank=rerank,
            query_expansion=query_expansion,
        )
        return float(result["cmc"][self.n - 1] if self.statistic == "cmc" else result["mAP"])

    # -- scikit-learn metadata routing (the public MetadataRequest API, as sklearn's scorers)
    def set_score_request(self, **kwargs):
        """Request metadata for scoring, e.g. ``set_score_request(cameras=True)``.

        Only available when ``sklearn.set_config(enable_metadata_routing=True)``.

        Parameters
        ----------
        **kwargs : dict
            ``cameras`` and/or ``sample_weight`` (classifier path) mapped to True, False,
            None or an alias string.

        Returns
        -------
        self : ReIDScorer
        """
        if not sklearn.get_config().get("enable_metadata_routing", False):
            raise RuntimeError(
                "set_score_request is only available when metadata routing is enabled: call "
                "sklearn.set_config(enable_metadata_routing=True) first."
            )
        unknown = set(kwargs) - set(_METADATA)
        if unknown:
            raise TypeError(f"Unexpected metadata {sorted(unknown)}; accepted: {_METADATA}.")
        request = self.get_metadata_routing()
        for param, alias in kwargs.items():
            request.score.add_request(param=param, alias=alias)
        self._metadata_request = request
        return self

    def get_metadata_routing(self):
        """Return the :class:`~sklearn.utils.metadata_routing.MetadataRequest` of this scorer."""
        if hasattr(self, "_metadata_request"):
            return self._metadata_request
        request = MetadataRequest(owner=type(self).__name__)
        for param in _METADATA:  # declared but not requested: passing it errors clearly
            request.score.add_request(param=param, alias=None)
        return request


def _check_post_processing(rerank, query_expansion):
    check_rerank(rerank)
    check_query_expansion(query_expansion)


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")


def make_top_n_scorer(n=1, *, kind="auto", metric=None, rerank=None, query_expansion=None):
    """Top-N scorer: CMC at ``n`` for re-ID embedders, top-n accuracy for classifiers.

    Parameters
    ----------
    n : int, default=1
        Rank cut-off (>= 1).
    kind : {"auto", "reid", "classifier"}, default="auto"
        How to score. "reid": ``transform`` the validation fold and rank each image against
        the others (leave-one-out), applying the camera rule when cameras are routed; score =
        CMC at ``n`` (queries without any true match in the fold are skipped). "classifier":
        top-n accuracy of ``predict_proba`` (columns labelled by ``classes_``). "auto":
        "classifier" when the estimator (or a Pipeline's last step) has ``predict_mask`` (the
        pets nets) or has no ``transform``; "reid" otherwise — so ``PCA``, a Pipeline ending
        in ``NeighborhoodComponentsAnalysis`` and skreid's re-ID estimators (classifiers *and*
        transformers) are scored as re-ID embedders.
    metric : str or None, default=None
        Distance for the re-ID path (see :func:`evaluate_reid`); None: the final step's
        ``metric`` parameter when it has a usable one, else "euclidean".
    rerank : None, bool or dict, default=None
        Re-ID path: k-reciprocal re-ranking of each fold's ranking (True: k1=20, k2=6,
        lambda_value=0.3; or a dict of them), see :func:`evaluate_reid`.
    query_expansion : None, bool or dict, default=None
        Re-ID path: alpha-QE (True, or a dict of ``k``, ``alpha``, ``expand_gallery``).

    Returns
    -------
    scorer : ReIDScorer
        Callable ``scorer(estimator, X, y, cameras=None)`` for ``scoring=``.

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from sklearn.model_selection import GroupKFold, cross_val_score
    >>> from skreid.metrics import make_top_n_scorer
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> ids = np.repeat(np.arange(12), 4)
    >>> X = rng.standard_normal((12, 20))[ids] + 0.3 * rng.standard_normal((48, 20))
    >>> scores = cross_val_score(PCA(5), X, ids, groups=ids, cv=GroupKFold(3),
    ...                          scoring=make_top_n_scorer(n=1))
    >>> bool(scores.min() > 0.9)
    True
    """
    n = check_positive_int(n, "n")
    _check_kind(kind)
    if metric is not None:
        check_metric(metric, precomputed=True, sklearn=True)
    _check_post_processing(rerank, query_expansion)
    return ReIDScorer(
        statistic="cmc",
        n=n,
        kind=kind,
        metric=metric,
        rerank=rerank,
        query_expansion=query_expansion,
    )


def make_map_scorer(*, metric=None, ap_mode="non_interpolated", rerank=None, query_expansion=None):
    """mAP scorer for re-ID embedders (anything with ``transform``).

    The validation fold is embedded and each image ranked against the others (leave-one-out;
    the Market-1501 camera rule applies when cameras are routed, see :class:`ReIDScorer`).

    Parameters
    ----------
    metric : str or None, default=None
        Distance (see :func:`evaluate_reid`); None: the final step's ``metric`` when usable,
        else "euclidean".
    ap_mode : {"non_interpolated", "trapezoid"}, default="non_interpolated"
        AP formula, see :func:`mean_average_precision`.
    rerank : None, bool or dict, default=None
        k-reciprocal re-ranking of each fold's ranking, see :func:`evaluate_reid`.
    query_expansion : None, bool or dict, default=None
        alpha-QE of each fold's queries, see :func:`evaluate_reid`.

    Returns
    -------
    scorer : ReIDScorer

    Examples
    --------
    >>> from sklearn.decomposition import PCA
    >>> from skreid.metrics import make_map_scorer
    >>> import numpy as np
    >>> ids = np.repeat(np.arange(5), 3)
    >>> X = np.eye(5)[ids] + 0.01 * np.arange(15)[:, None]
    >>> make_map_scorer()(PCA(3).fit(X), X, ids)
    1.0
    """
    if metric is not None:
        check_metric(metric, precomputed=True, sklearn=True)
    check_ap_mode(ap_mode)
    _check_post_processing(rerank, query_expansion)
    return ReIDScorer(
        statistic="map",
        kind="reid",
        metric=metric,
        ap_mode=ap_mode,
        rerank=rerank,
        query_expansion=query_expansion,
    )
