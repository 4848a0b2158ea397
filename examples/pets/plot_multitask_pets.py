"""
One estimator, two tasks: breed classification and segmentation with MultiTaskPetNet
=====================================================================================

:class:`~skreid.pets.MultiTaskPetNet` is a scikit-learn classifier (``predict``,
``predict_proba``, ``score``) that also segments (``predict_mask``) and embeds
(``transform``). Its network shares one encoder between a breed head and a U-Net style
segmentation decoder; ``fit(X, y, masks=...)`` trains both, and pixels marked with the ignore
value (images without a trimap) are left out of the segmentation loss.

Synthetic pets by default; the Oxford-IIIT Pet subset when ``SKREID_TEST_DATA`` is set.
"""

# %%
# Data
# ----
import os

import matplotlib.pyplot as plt
import numpy as np

from skreid.datasets import load_oxford_pets, make_pets
from skreid.plotting import plot_image_samples

DATA = os.environ.get("SKREID_TEST_DATA")
if DATA:
    pets = load_oxford_pets(os.path.join(DATA, "oxford_pets"), image_size=(64, 64))
    train, test = pets.split == "trainval", pets.split == "test"
    X, y, masks, names = pets.images, pets.breeds, pets.masks, list(pets.breed_names)
else:
    pets = make_pets(n_samples=400, n_classes=4, image_size=(64, 64), random_state=0)
    X, y, masks, names = pets.images, pets.labels, pets.masks, None
    train = np.arange(len(X)) < 300
    test = ~train

plot_image_samples(X[train], y[train], n_images=12, n_cols=6, label_names=names,
                   random_state=0, title="training images (breed)")

# %%
# Fit both heads at once
# ----------------------
from skreid.pets import MultiTaskPetNet

net = MultiTaskPetNet(image_size=(64, 64), epochs=8, random_state=0)
net.fit(X[train], y[train], masks=masks[train])

# %%
# Scores for both tasks
# ---------------------
from sklearn.metrics import balanced_accuracy_score

from skreid.metrics import iou_score, pixel_accuracy_score, top_n_accuracy_score

proba = net.predict_proba(X[test])
pred = net.classes_[proba.argmax(axis=1)]
pred_masks = net.predict_mask(X[test])
true_masks = masks[test].copy()
true_masks[true_masks == 2] = 255  # trimap border pixels are not scored
print(f"breed top-1 {np.mean(pred == y[test]):.3f}, "
      f"top-3 {top_n_accuracy_score(y[test], proba, n=3, labels=net.classes_):.3f}, "
      f"balanced {balanced_accuracy_score(y[test], pred):.3f}")
print(f"pixel accuracy {pixel_accuracy_score(true_masks, pred_masks, ignore_label=255):.3f}, "
      f"IoU per class {iou_score(true_masks, pred_masks, ignore_label=255, average=None)}")

# %%
# Training curves, segmentation overlays, confusion matrix, embeddings
# --------------------------------------------------------------------
from skreid.plotting import (
    plot_confusion_matrix,
    plot_embedding_tsne,
    plot_segmentation_overlays,
    plot_training_history,
)

plot_training_history(net, title="MultiTaskPetNet")
with_mask = np.flatnonzero(np.any(masks[test] != 255, axis=(1, 2)))[:4]
plot_segmentation_overlays(X[test][with_mask], masks[test][with_mask], pred_masks[with_mask],
                           labels=pred[with_mask], label_names=names)
plot_confusion_matrix(y[test], pred, title="breeds (test images)")
plot_embedding_tsne(net.transform(X[test]), y[test], label_names=names, random_state=0)
plt.show()
