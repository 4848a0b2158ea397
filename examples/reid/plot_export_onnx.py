"""
Deploy a re-ID model without TensorFlow: ONNX export and the runtime
====================================================================

Train a :class:`~skreid.reid.TripletEmbedder`, export it with :func:`skreid.export_onnx`
(the export is checked against the estimator before the file is written), then embed and
match images with :class:`skreid.runtime.OnnxEmbedder` in a fresh Python process that
never imports TensorFlow -- what a camera-side service or a batch job would run after
``pip install 'skreid[runtime]'``.
"""

# %%
import json
import os
import subprocess
import sys
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import skreid
from skreid.datasets import make_people
from skreid.reid import TripletEmbedder

people = make_people(n_identities=40, n_images_per_identity=6, n_cameras=3,
                     image_shape=(64, 32, 3), random_state=0)
train = people.person_ids <= 20
test = ~train

# %%
# Train a small embedder
# ----------------------
# The report's seed branch, resized inside the network to 96x48 and trained with
# augmentation and test-time flip averaging: all three are what a naive export gets wrong.
reid = TripletEmbedder(backbone="seed", image_size=(96, 48), augment=True,
                       test_time_flip=True, epochs=5, batch_size=32, images_per_identity=4,
                       random_state=0)
reid.fit(people.images[train], people.person_ids[train])

# %%
# Export to ONNX
# --------------
# The graph holds the scaling, the resize, flip averaging and the L2 normalisation; the
# augmentation layers are left out. onnxruntime runs it on a few images and the outputs are
# compared with ``transform`` before anything is written.
folder = tempfile.mkdtemp(prefix="skreid_example_")
path = os.path.join(folder, "reid.onnx")
report = skreid.export_onnx(reid, path)
print(f"{path}: {os.path.getsize(path) / 1e6:.1f} MB, opset {report['opset']}, "
      f"checked: max abs difference {report['verification']['embeddings']:.1g}")
print("recorded:", {k: report[k] for k in ("estimator", "input", "test_time_flip", "metric")})

# %%
# Embed with the runtime, in a process without TensorFlow
# --------------------------------------------------------
# The test identities were never trained on: half their images form the gallery.
X, ids = people.images[test], people.person_ids[test]
gallery = np.arange(len(ids)) % 2 == 0
np.save(os.path.join(folder, "X.npy"), X)
np.save(os.path.join(folder, "ids.npy"), ids)
script = f"""
import json, sys
import numpy as np
from skreid.runtime import OnnxEmbedder
X, ids = np.load({folder!r} + "/X.npy"), np.load({folder!r} + "/ids.npy")
gallery = np.arange(len(ids)) % 2 == 0
reid = OnnxEmbedder({path!r}).fit(X[gallery], ids[gallery])
np.save({folder!r} + "/onnx_embeddings.npy", reid.transform(X))
print(json.dumps({{"rank1": reid.score(X[~gallery], ids[~gallery]),
                  "tensorflow_loaded": "tensorflow" in sys.modules}}))
"""
result = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                   text=True, check=True).stdout)
print("runtime:", result)

reid.set_gallery(X[gallery], ids[gallery])
print("Keras rank-1:", reid.score(X[~gallery], ids[~gallery]))

# %%
# The same embeddings
# -------------------
keras_emb = reid.transform(X)
onnx_emb = np.load(os.path.join(folder, "onnx_embeddings.npy"))
fig, ax = plt.subplots(figsize=(4, 4))
ax.scatter(keras_emb.ravel(), onnx_emb.ravel(), s=2)
ax.set_xlabel("TripletEmbedder.transform (Keras)")
ax.set_ylabel("OnnxEmbedder.transform (onnxruntime)")
ax.set_title(f"max abs difference {np.abs(keras_emb - onnx_emb).max():.1g}")
fig.tight_layout()
plt.show()
