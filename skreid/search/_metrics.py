"""The metrics a gallery is searched by: the true distances of the engine's list."""

from skreid.metrics.pairwise import check_metric, metric_names

__all__ = ["SEARCH_METRICS", "check_search_metric"]

#: Metrics of :class:`~skreid.search.GalleryIndex` and the re-ID estimators' galleries:
#: :data:`skreid.metrics.pairwise.DISTANCE_METRICS` without the squared euclidean (a gallery
#: reports true distances, and faiss searches by them).
SEARCH_METRICS = metric_names(squared=False)


def check_search_metric(metric):
    """Return ``metric`` if it is one of :data:`SEARCH_METRICS`, else raise ValueError."""
    return check_metric(metric, squared=False)
