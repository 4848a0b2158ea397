"""Search a gallery: :class:`GalleryIndex` (exact blocked search or faiss) and the one
query x gallery distance computation every part of skreid uses; k-reciprocal re-ranking
(:func:`rerank_k_reciprocal`, in bounded memory) and alpha-QE (:func:`average_query_expansion`).

Pure NumPy at its core (faiss is imported only by ``backend="faiss"``); it imports no
estimator, so the re-ID estimators and the metrics can build on it.
"""

from skreid.search._distances import (
    SEARCH_METRICS,
    BlockedDistances,
    check_search_metric,
    l2_normalize,
)
from skreid.search._exact import exact_search
from skreid.search._faiss import FAISS_DEFAULTS
from skreid.search._index import GalleryIndex, IncompatibleIndexError, SearchResult
from skreid.search._query_expansion import average_query_expansion
from skreid.search._rerank import check_rerank, jaccard_k_reciprocal, rerank_k_reciprocal

__all__ = [
    "GalleryIndex",
    "SearchResult",
    "IncompatibleIndexError",
    "BlockedDistances",
    "exact_search",
    "l2_normalize",
    "check_search_metric",
    "SEARCH_METRICS",
    "FAISS_DEFAULTS",
    "average_query_expansion",
    "rerank_k_reciprocal",
    "jaccard_k_reciprocal",
    "check_rerank",
]
