"""Evaluate any fitted embedding (re-ID estimator, transformer or Pipeline) on query/gallery."""

import numpy as np

from skreid.reid._base import REID_METRICS

__all__ = ["evaluate_transformer", "estimator_metric"]


def evaluate_transformer(
    estimator,
    X_query,
    y_query,
    X_gallery,
    y_gallery,
    query_cameras=None,
    gallery_cameras=None,
    metric=None,
    **kwargs,
):
    """Embed queries and gallery with ``estimator.transform`` and rank them with
    :func:`skreid.metrics.evaluate_reid`.

    Parameters
    ----------
    estimator : fitted object with ``transform``
        A skreid re-ID estimator, any sklearn transformer (``PCA``, ...) or a ``Pipeline``
        ending in one.
    X_query, X_gallery : array-like
        Query and gallery inputs, in whatever form ``estimator.transform`` accepts.
    y_query, y_gallery : array-like of shape (n_query,), (n_gallery,)
        Identities.
    query_cameras, gallery_cameras : array-like, optional
        Camera ids; when given (both), the Market-1501 rule removes same-identity,
        same-camera gallery images from each query's ranking.
    metric : {"euclidean", "cosine"} or None, default=None
        Distance between embeddings. ``None`` uses the estimator's own ``metric`` (for a
        Pipeline, its last step's), so a model that ranks by cosine is scored by cosine;
        plain transformers without one fall back to ``"euclidean"``.
    **kwargs
        Passed on to :func:`skreid.metrics.evaluate_reid` (``max_rank``, ``ap_mode``,
        ``rerank``, ``query_tracklets``, ...). Without ``camera_normalization``, an estimator
        whose ``camera_normalization`` is set (a Pipeline's last step's) is evaluated with it
        when cameras are given, as its ``score(..., cameras=)`` would.

    Returns
    -------
    results : dict
        ``evaluate_reid``'s dict (rank1, rank5, rank10, cmc, mAP, mINP, n_queries, n_skipped).

    Examples
    --------
    >>> from skreid.datasets import make_people
    >>> from skreid.reid import PCAReID, evaluate_transformer
    >>> train = make_people(n_identities=10, image_shape=(32, 16, 3), random_state=0)
    >>> test = make_people(n_identities=5, n_images_per_identity=2, image_shape=(32, 16, 3),
    ...                    random_state=1)
    >>> est = PCAReID(n_components=0.9).fit(train.images, train.person_ids)
    >>> res = evaluate_transformer(est, test.images[::2], test.person_ids[::2],
    ...                            test.images[1::2], test.person_ids[1::2])
    >>> 0.0 <= res["rank1"] <= 1.0
    True
    """
    from skreid.metrics import evaluate_reid  # imported here: metrics never imports estimators

    if not hasattr(estimator, "transform"):
        raise ValueError(
            f"estimator must have a transform method (an embedding), got "
            f"{type(estimator).__name__}."
        )
    if (query_cameras is None) != (gallery_cameras is None):
        raise ValueError(
            "query_cameras and gallery_cameras must be given together (or neither); got "
            f"query_cameras={'None' if query_cameras is None else 'given'}, "
            f"gallery_cameras={'None' if gallery_cameras is None else 'given'}."
        )
    if metric is None:
        metric = estimator_metric(estimator)
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    if query_cameras is not None and getattr(last, "camera_normalization", None) is not None:
        kwargs.setdefault("camera_normalization", last.camera_normalization)
    query = np.asarray(estimator.transform(X_query))
    gallery = np.asarray(estimator.transform(X_gallery))
    return evaluate_reid(
        query,
        np.asarray(y_query),
        gallery,
        np.asarray(y_gallery),
        query_cameras=query_cameras,
        gallery_cameras=gallery_cameras,
        metric=metric,
        **kwargs,
    )


def estimator_metric(estimator):
    """The distance an estimator (or a Pipeline's last step) ranks its gallery with.

    Its ``metric`` when that is one of :data:`REID_METRICS`, else ``"euclidean"``.
    """
    last = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    metric = getattr(last, "metric", None)
    return metric if metric in REID_METRICS else "euclidean"
