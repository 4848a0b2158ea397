"""
Search a gallery: where else has this person been seen?
=======================================================

A fitted re-ID model embeds images; :class:`skreid.search.GalleryIndex` keeps the embedded
gallery (with identities when known, cameras and one key per image), grows it as new images
arrive, saves it without pickle, and returns each query's nearest gallery images. This is what
``skreid index`` and ``skreid search`` do with image folders; the figure below shows the same
ranked crops as the HTML page ``skreid search`` writes.
"""

# %%
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from skreid.datasets import load_market1501, make_people
from skreid.model_selection import query_gallery_split
from skreid.plotting import plot_ranked_matches
from skreid.reid import make_classical_reid
from skreid.search import GalleryIndex

DATA = os.environ.get("SKREID_TEST_DATA")
if DATA:  # the CAB420 subset of Market-1501: its gallery and probes
    market = load_market1501(os.path.join(DATA, "market1501", "cab420_subset"))
    train, gallery, query = market.train, market.gallery, market.query
else:  # synthetic people: 40 training identities, 40 unseen ones to search
    people = make_people(n_identities=80, n_images_per_identity=6, n_cameras=3,
                         random_state=1)
    is_train = people.person_ids <= 40
    train = {k: people[k][is_train] for k in ("images", "person_ids", "camera_ids")}
    test = {k: people[k][~is_train] for k in ("images", "person_ids", "camera_ids")}
    q, g = query_gallery_split(test["person_ids"], test["camera_ids"], random_state=0)
    query = {k: v[q] for k, v in test.items()}
    gallery = {k: v[g] for k, v in test.items()}

# LOMO features, PCA and XQDA (a Pipeline); its last step ranks by cosine distance
reid = make_classical_reid(n_components=300 if DATA else 100)
reid.fit(train["images"], train["person_ids"])
metric = reid[-1].metric

# %%
# Index the gallery, in two instalments
# -------------------------------------
# Keys are what a search returns: here Market-style file names. A second ``add`` appends
# (a key already in the index is refused). The index records the embedding width and a
# fingerprint of the model, so that queries embedded by another model are refused.
keys = [f"{pid:04d}_c{cam}s1_{i:06d}_00.jpg" for i, (pid, cam) in
        enumerate(zip(gallery["person_ids"], gallery["camera_ids"], strict=True))]
index = GalleryIndex(metric=metric, model_fingerprint="classical-example")
half = len(keys) // 2
for part in (slice(0, half), slice(half, None)):
    index.add(reid.transform(gallery["images"][part]), ids=gallery["person_ids"][part],
              cameras=gallery["camera_ids"][part], keys=keys[part])
print(index)

with tempfile.TemporaryDirectory() as tmp:
    index.save(os.path.join(tmp, "gallery.idx"))  # a zip of JSON + .npy: no pickle
    index = GalleryIndex.load(os.path.join(tmp, "gallery.idx"),
                              model_fingerprint="classical-example")

# %%
# Search with the probes
# ----------------------
# The same camera's pictures of a person are trivial matches; ``exclude_same_camera`` with
# ``query_ids`` leaves them out, as the Market-1501 evaluation does.
result = index.search(reid.transform(query["images"]), k=10, exclude_same_camera=True,
                      query_cameras=query["camera_ids"], query_ids=query["person_ids"])
rank1 = np.mean(index.ids[result.positions[:, 0]] == query["person_ids"])
print(f"rank-1 over {len(query['person_ids'])} probes: {rank1:.3f}")
print("first probe's matches:", result.keys[0, :3].tolist())

# %%
# The ranked crops
# ----------------
# Each probe followed by its ten nearest gallery images: green frames show the same person,
# red another one (what ``skreid search``'s page shows, with distances and cameras).
rows = np.random.default_rng(0).choice(len(query["person_ids"]), 6, replace=False)
plot_ranked_matches(query["images"][rows], query["person_ids"][rows], gallery["images"],
                    gallery["person_ids"], indices=result.positions[rows], n_matches=10)
plt.show()
