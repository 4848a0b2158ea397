"""
Deploying a re-ID model: a safe file, loaded in another process
===============================================================

A trained model is useful only where it runs: a camera-side service, a batch job, a
colleague's notebook. :func:`skreid.save` writes a fitted estimator (here a
:class:`~skreid.reid.TripletEmbedder` with its gallery) to **one file** that holds only JSON,
NumPy arrays and the Keras network, and a model card next to it; :func:`skreid.load` rebuilds
the estimator from it **without running any code from the file**, which ``pickle`` cannot
promise. This example trains on synthetic people, saves, loads the file in a fresh Python
process and checks that the embeddings and rankings are identical; then it exports the
model to ONNX and ranks the same queries with :mod:`skreid.runtime`, without TensorFlow.
"""

# %%
import os
import subprocess
import sys
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

import skreid
from skreid.datasets import make_people
from skreid.model_selection import query_gallery_split
from skreid.reid import TripletEmbedder

people = make_people(n_identities=40, n_images_per_identity=6, n_cameras=3,
                     image_shape=(64, 32, 3), random_state=0)
train = people.person_ids <= 20  # identities 21-40 are never trained on
test = ~train
q, g = query_gallery_split(people.person_ids[test], people.camera_ids[test], random_state=0)
X_test, ids_test, cams_test = (people.images[test], people.person_ids[test],
                               people.camera_ids[test])

# %%
# Train, then index a gallery of unseen identities
# ------------------------------------------------
# The report's seed branch on 64x32 grayscale images: small enough to train in seconds.
model = TripletEmbedder.from_preset("report", epochs=3, batch_size=64, random_state=0)
start = time.perf_counter()
model.fit(people.images[train], people.person_ids[train])
training_time = time.perf_counter() - start
model.set_gallery(X_test[g], ids_test[g], cameras=cams_test[g])
rank1 = model.score(X_test[q], ids_test[q])
print(f"trained in {training_time:.1f} s; rank-1 on unseen identities: {rank1:.3f}")

# %%
# Save: one file, plus its model card
# -----------------------------------
# ``metadata`` is free JSON stored in the file; the keys below are the ones the model card
# renders (the ``skreid reid --save`` command fills them from its run). Hardware and
# versions are recorded automatically.
workdir = tempfile.TemporaryDirectory(prefix="skreid_example_")  # removed at exit
folder = workdir.name
path = os.path.join(folder, "reid.skreid")
card = skreid.save(model, path, metadata={
    "training_data": {"folder": "make_people(random_state=0), identities 1-20",
                      "n_images": int(train.sum()), "n_identities": 20,
                      "image_size": [64, 32]},
    "evaluation": {"rank1": rank1,
                   "protocol": "synthetic identities 21-40, query/gallery split, no camera "
                               "filtering"},
    "training_time_s": training_time,
})
print(f"{os.path.basename(path)}: {os.path.getsize(path) / 1e6:.1f} MB")
print("".join(open(card, encoding="utf-8").readlines()[:12]))

# %%
# The metadata can be read without loading the model (and without importing TensorFlow):
meta = skreid.saving.read_metadata(path)
print(meta["model"]["facts"])

# %%
# Load in a fresh process and compare
# -----------------------------------
# A new Python interpreter, as a deployment would be: it knows nothing of this session.
np.save(os.path.join(folder, "query.npy"), X_test[q])
code = f"""
import numpy as np, skreid
model = skreid.load({path!r})
X = np.load({os.path.join(folder, "query.npy")!r})
np.save({os.path.join(folder, "embeddings.npy")!r}, model.transform(X))
np.save({os.path.join(folder, "ranking.npy")!r}, model.kneighbors(X, 10, return_distance=False))
"""
subprocess.run([sys.executable, "-c", code], check=True)
loaded_emb = np.load(os.path.join(folder, "embeddings.npy"))
loaded_rank = np.load(os.path.join(folder, "ranking.npy"))
emb = model.transform(X_test[q])
rank = model.kneighbors(X_test[q], 10, return_distance=False)
print(f"max |embedding difference|: {np.abs(loaded_emb - emb).max():.1e}; "
      f"identical top-10 rankings: {np.array_equal(loaded_rank, rank)}")

# %%
# Export to ONNX and embed without TensorFlow
# -------------------------------------------
# :func:`skreid.export_onnx` writes the inference graph (scaling, resize, flip averaging and
# normalisation inside, augmentation left out) and checks it against ``transform`` with
# onnxruntime before writing. :class:`skreid.runtime.OnnxEmbedder` runs it with the same
# gallery matching, in a process that never imports TensorFlow (``pip install
# 'skreid[runtime]'`` is all a deployment needs).
onnx_path = os.path.join(folder, "reid.onnx")
report = skreid.export_onnx(model, onnx_path)
print(f"reid.onnx: {os.path.getsize(onnx_path) / 1e6:.1f} MB, checked against Keras: max abs "
      f"difference {report['verification']['embeddings']:.1e}")
np.save(os.path.join(folder, "gallery.npy"), X_test[g])
np.save(os.path.join(folder, "gallery_ids.npy"), ids_test[g])
code = f"""
import sys, numpy as np
from skreid.runtime import OnnxEmbedder
reid = OnnxEmbedder({onnx_path!r}).fit(np.load({os.path.join(folder, "gallery.npy")!r}),
                                       np.load({os.path.join(folder, "gallery_ids.npy")!r}))
X = np.load({os.path.join(folder, "query.npy")!r})
np.save({os.path.join(folder, "onnx_ranking.npy")!r}, reid.kneighbors(X, 10, return_distance=False))
print("TensorFlow imported by the runtime:", "tensorflow" in sys.modules)
"""
print(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                     text=True).stdout.strip())
onnx_rank = np.load(os.path.join(folder, "onnx_ranking.npy"))
print(f"identical top-10 rankings (runtime vs Keras): {np.array_equal(onnx_rank, rank)}")

# %%
# What a file from someone else may do
# ------------------------------------
# ``skreid.load`` refuses a pickle outright (and a file with a pickle payload inside, code in
# the network such as a Keras ``Lambda`` layer, an unknown class, a member escaping the
# archive, a newer format): pickles run whatever code they hold, so load them only if you
# wrote them yourself.
import pickle

pickled = os.path.join(folder, "reid.pkl")
with open(pickled, "wb") as fh:
    pickle.dump(model, fh)
try:
    skreid.load(pickled)
except skreid.saving.UnsafeArchiveError as exc:
    print(exc)

# %%
# Both processes see the same embedding
# -------------------------------------
fig, ax = plt.subplots(figsize=(5, 4))
ax.scatter(emb[:, 0], emb[:, 1], s=60, label="this process", facecolors="none",
           edgecolors="C0")
ax.scatter(loaded_emb[:, 0], loaded_emb[:, 1], s=12, label="loaded in a new process",
           color="C1")
ax.set(xlabel="embedding dimension 1", ylabel="embedding dimension 2",
       title="Query embeddings before and after save/load")
ax.legend()
plt.show()
