"""A straightforward dense transcription of k-reciprocal re-ranking (Zhong et al., CVPR 2017).

Follows the authors' published Python ``re_ranking`` (zhunzhong07/person-re-ranking) step by
step, with its dense ``(n_query + n_gallery)^2`` matrices: the reference that
:func:`skreid.search.rerank_k_reciprocal` is tested and benchmarked against. Not part of the
package. ``dtype`` is the reference's float32 by default; the tests pass float64 to compare
at 1e-6 without float32 rounding.
"""

import numpy as np


def dense_distances(queries, gallery=None, metric="euclidean"):
    """(q_g, q_q, g_g) ``metric`` distances (exact zeros on the diagonals), in the features'
    dtype. ``gallery=None``: the leave-one-out problem, returned as (q_q, q_q, q_q)."""
    def dist(A, B, same):
        if metric == "cosine":
            A = A / np.linalg.norm(A, axis=1, keepdims=True)
            B = B / np.linalg.norm(B, axis=1, keepdims=True)
            d = np.clip(1 - A @ B.T, 0, 2)
        else:
            d = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * A @ B.T
            np.maximum(d, 0, out=d)
            if metric == "euclidean":
                np.sqrt(d, out=d)
        if same:
            np.fill_diagonal(d, 0)
        return d

    if gallery is None:
        q_q = dist(queries, queries, True)
        return q_q, q_q, q_q
    return dist(queries, gallery, False), dist(queries, queries, True), dist(gallery, gallery, True)


def re_ranking_reference(q_g_dist, q_q_dist, g_g_dist, k1=20, k2=6, lambda_value=0.3,
                         dtype=np.float32, leave_one_out=False):
    """The reference ``re_ranking``; ``leave_one_out``: q_q is the whole (single) set."""
    if leave_one_out:
        original_dist = q_q_dist
        query_num = all_num = q_q_dist.shape[0]
    else:
        original_dist = np.concatenate(
            [np.concatenate([q_q_dist, q_g_dist], axis=1),
             np.concatenate([q_g_dist.T, g_g_dist], axis=1)], axis=0)
        query_num = q_g_dist.shape[0]
        all_num = query_num + q_g_dist.shape[1]
    original_dist = np.power(original_dist, 2).astype(dtype)
    original_dist = np.transpose(1.0 * original_dist / np.max(original_dist, axis=0))
    V = np.zeros_like(original_dist).astype(dtype)
    initial_rank = np.argsort(original_dist, kind="stable").astype(np.int32)

    for i in range(all_num):
        forward_k_neigh_index = initial_rank[i, :k1 + 1]
        backward_k_neigh_index = initial_rank[forward_k_neigh_index, :k1 + 1]
        fi = np.where(backward_k_neigh_index == i)[0]
        k_reciprocal_index = forward_k_neigh_index[fi]
        k_reciprocal_expansion_index = k_reciprocal_index
        for j in range(len(k_reciprocal_index)):
            candidate = k_reciprocal_index[j]
            half = int(np.around(k1 / 2.0)) + 1
            candidate_forward_k_neigh_index = initial_rank[candidate, :half]
            candidate_backward_k_neigh_index = initial_rank[candidate_forward_k_neigh_index,
                                                            :half]
            fi_candidate = np.where(candidate_backward_k_neigh_index == candidate)[0]
            candidate_k_reciprocal_index = candidate_forward_k_neigh_index[fi_candidate]
            if (len(np.intersect1d(candidate_k_reciprocal_index, k_reciprocal_index))
                    > 2.0 / 3 * len(candidate_k_reciprocal_index)):
                k_reciprocal_expansion_index = np.append(k_reciprocal_expansion_index,
                                                         candidate_k_reciprocal_index)
        k_reciprocal_expansion_index = np.unique(k_reciprocal_expansion_index)
        weight = np.exp(-original_dist[i, k_reciprocal_expansion_index])
        V[i, k_reciprocal_expansion_index] = 1.0 * weight / np.sum(weight)
    original_dist = original_dist[:query_num, ]
    if k2 != 1:
        V_qe = np.zeros_like(V, dtype=dtype)
        for i in range(all_num):
            V_qe[i, :] = np.mean(V[initial_rank[i, :k2], :], axis=0)
        V = V_qe
        del V_qe
    del initial_rank
    invIndex = []
    for i in range(all_num):
        invIndex.append(np.where(V[:, i] != 0)[0])

    jaccard_dist = np.zeros_like(original_dist, dtype=dtype)
    for i in range(query_num):
        temp_min = np.zeros(shape=[1, all_num], dtype=dtype)
        indNonZero = np.where(V[i, :] != 0)[0]
        indImages = [invIndex[ind] for ind in indNonZero]
        for j in range(len(indNonZero)):
            temp_min[0, indImages[j]] = temp_min[0, indImages[j]] + np.minimum(
                V[i, indNonZero[j]], V[indImages[j], indNonZero[j]])
        jaccard_dist[i] = 1 - temp_min / (2.0 - temp_min)

    final_dist = jaccard_dist * (1 - lambda_value) + original_dist * lambda_value
    del original_dist, V, jaccard_dist
    if leave_one_out:
        return final_dist
    return final_dist[:query_num, query_num:]
