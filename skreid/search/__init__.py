"""Gallery search: re-ranking and query expansion (pure NumPy/SciPy).

:func:`rerank_k_reciprocal` (k-reciprocal re-ranking, Zhong et al. CVPR 2017, in bounded
memory) and :func:`average_query_expansion` (alpha-QE).
"""

from skreid.search._query_expansion import average_query_expansion
from skreid.search._rerank import rerank_k_reciprocal

__all__ = [
    "average_query_expansion",
    "rerank_k_reciprocal",
]
