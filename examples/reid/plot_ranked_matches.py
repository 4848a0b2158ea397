"""
What does a re-ID model retrieve? The ranked-matches picture
============================================================

For each query, the gallery images sorted from nearest to farthest are the model's answer.
:func:`skreid.plotting.plot_ranked_matches` draws each query followed by its top matches,
framed green when they show the same person and red otherwise. Gallery images of the query's
identity taken by the query's own camera are left out, as the Market-1501 protocol requires.
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skreid.datasets import load_market1501, make_people
from skreid.model_selection import query_gallery_split
from skreid.plotting import plot_ranked_matches
from skreid.reid import make_classical_reid

DATA = os.environ.get("SKREID_TEST_DATA")
if DATA:
    market = load_market1501(os.path.join(DATA, "market1501", "cab420_subset"))
    train, gallery, query = market.train, market.gallery, market.query
else:
    people = make_people(n_identities=80, n_images_per_identity=6, n_cameras=3,
                         random_state=1)
    is_train = people.person_ids <= 40
    train = {k: people[k][is_train] for k in ("images", "person_ids", "camera_ids")}
    test = {k: people[k][~is_train] for k in ("images", "person_ids", "camera_ids")}
    q, g = query_gallery_split(test["person_ids"], test["camera_ids"], random_state=0)
    query = {k: v[q] for k, v in test.items()}
    gallery = {k: v[g] for k, v in test.items()}

# %%
# Fit on the training identities, embed the unseen query and gallery identities
# ------------------------------------------------------------------------------
# :func:`~skreid.reid.make_classical_reid` is a Pipeline (LOMO features, PCA, XQDA) whose
# last step ranks by cosine distance.
from sklearn.metrics import pairwise_distances

from skreid.metrics import evaluate_reid

# PCA keeps at most as many components as there are training images (240 synthetic ones)
reid = make_classical_reid(n_components=300 if DATA else 100)
reid.fit(train["images"], train["person_ids"])
metric = reid[-1].metric
query_emb, gallery_emb = reid.transform(query["images"]), reid.transform(gallery["images"])
res = evaluate_reid(query_emb, query["person_ids"], gallery_emb, gallery["person_ids"],
                    query["camera_ids"], gallery["camera_ids"], metric=metric)
print(f"rank-1 {res['rank1']:.3f}, mAP {res['mAP']:.3f} over {res['n_queries']} queries")

# %%
# Eight queries and their ten nearest gallery images
# --------------------------------------------------
rows = np.random.default_rng(0).choice(len(query["images"]), 8, replace=False)
distances = pairwise_distances(query_emb[rows], gallery_emb, metric=metric)
plot_ranked_matches(
    query["images"][rows], query["person_ids"][rows], gallery["images"], gallery["person_ids"],
    distances=distances, query_cameras=query["camera_ids"][rows],
    gallery_cameras=gallery["camera_ids"], n_matches=10,
)
plt.show()
