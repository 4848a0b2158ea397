"""Search a gallery: :class:`GalleryIndex`, exact blocked search or faiss.

Pure NumPy at its core (faiss is imported only by ``backend="faiss"``); it imports no
estimator, so the re-ID estimators build on it. Its distances come from the engine of
:mod:`skreid.metrics.pairwise`; the engine's names that skreid.search offered before
(:class:`~skreid.metrics.pairwise.BlockedDistances`,
:func:`~skreid.metrics.pairwise.rerank_k_reciprocal`,
:func:`~skreid.metrics.pairwise.average_query_expansion`, ...) are still importable from here.
"""

from skreid.metrics.pairwise import (
    BlockedDistances,
    average_query_expansion,
    check_query_expansion,
    check_rerank,
    l2_normalize,
    rerank_k_reciprocal,
)
from skreid.search._exact import exact_search
from skreid.search._faiss import FAISS_DEFAULTS
from skreid.search._index import GalleryIndex, IncompatibleIndexError, SearchResult
from skreid.search._metrics import SEARCH_METRICS, check_search_metric
from skreid.search._sources import IndexChanges, file_signature

__all__ = [
    "GalleryIndex",
    "SearchResult",
    "IncompatibleIndexError",
    "IndexChanges",
    "file_signature",
    "exact_search",
    "check_search_metric",
    "SEARCH_METRICS",
    "FAISS_DEFAULTS",
    # the engine, re-exported from skreid.metrics.pairwise (its home)
    "BlockedDistances",
    "l2_normalize",
    "average_query_expansion",
    "check_query_expansion",
    "rerank_k_reciprocal",
    "check_rerank",
]
