"""Identity-aware model selection for re-ID.

Re-ID is evaluated open-set: identities in a validation fold or test split must be unseen in
training. For cross-validation use ``sklearn.model_selection.GroupKFold`` with
``groups=person_ids`` (or :class:`IdentityKFold`, which takes the identities from ``y``), and
score with :func:`skreid.metrics.make_top_n_scorer` / :func:`skreid.metrics.make_map_scorer`.
:func:`query_gallery_split` builds a Market-1501-style query/gallery pair from one labelled set.
"""

from skreid.model_selection._split import IdentityKFold, query_gallery_split

__all__ = ["IdentityKFold", "query_gallery_split"]
