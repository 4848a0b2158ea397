"""
Fine-tuning from a local weights file with FineTunedPetNet
==========================================================

:class:`~skreid.pets.FineTunedPetNet` puts a breed head and a segmentation decoder on a
MobileNetV3-Small backbone. ``weights=`` takes a local ``.weights.h5`` file, so it works
offline: here the shared ImageNet file when ``SKREID_TEST_DATA`` is set
(``weights/mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5``).

.. note::
   Without ``SKREID_TEST_DATA`` this example uses ``weights=None`` (random initialisation) on
   synthetic pets, so it only shows the mechanics; the gain from ImageNet features appears on
   real photographs. ``weights="imagenet"`` downloads Keras's file (needs internet once).

Training is staged: ``head_epochs`` epochs with the backbone frozen, then the top
``fine_tune_blocks`` blocks are unfrozen at a lower learning rate. The backbone's
BatchNormalization layers stay frozen with pretrained weights: the shared weights are
BatchNorm-folded (with ``weights=None`` everything trains).
"""

# %%
import os

import matplotlib.pyplot as plt
import numpy as np

from skreid.datasets import load_oxford_pets, make_pets
from skreid.pets import FineTunedPetNet

DATA = os.environ.get("SKREID_TEST_DATA")
if DATA:
    weights = os.path.join(DATA, "weights",
                           "mobilenet_v3_small_075_224_imagenet_no_top_bnfolded.weights.h5")
    pets = load_oxford_pets(os.path.join(DATA, "oxford_pets"), image_size=(96, 96))
    train, test = pets.split == "trainval", pets.split == "test"
    X, y, masks, names = pets.images, pets.breeds, pets.masks, list(pets.breed_names)
else:
    weights = None  # no weights file here: random initialisation, mechanics only
    pets = make_pets(n_samples=300, n_classes=4, image_size=(64, 64), random_state=0)
    X, y, masks, names = pets.images, pets.labels, pets.masks, None
    train = np.arange(len(X)) < 225
    test = ~train

# %%
# Fit: head first, then the top blocks
# ------------------------------------
net = FineTunedPetNet(weights=weights, image_size=X.shape[1:3], epochs=5, head_epochs=2,
                      fine_tune_blocks=3, random_state=0)
net.fit(X[train], y[train], masks=masks[train])
print(f"breed accuracy on the test images: {net.score(X[test], y[test]):.3f}")

# %%
# Segmentation and the training curves
# ------------------------------------
from skreid.plotting import plot_segmentation_overlays, plot_training_history

plot_training_history(net, title=f"FineTunedPetNet (weights={'file' if weights else None})")
with_mask = np.flatnonzero(np.any(masks[test] != 255, axis=(1, 2)))[:4]
plot_segmentation_overlays(X[test][with_mask], masks[test][with_mask],
                           net.predict_mask(X[test][with_mask]), labels=y[test][with_mask],
                           label_names=names)
plt.show()
