"""
What does a re-ID model look at? Activation maps
================================================

A re-ID model can score well while matching backgrounds instead of people: a camera that
always films one person in front of the same wall teaches the model the wall.
:meth:`TripletEmbedder.activation_maps <skreid.reid.TripletEmbedder.activation_maps>` shows
which pixels the embedding relies on: the energy (sum of squares over the channels) of the
trunk's last feature map, upsampled to the image, and
:func:`skreid.plotting.plot_activation_maps` draws it over the images.

Here two small ResNets are trained on synthetic people: one on clean crops, one on crops
where each identity has its own coloured strips at the left and right edges (a background
shortcut). The second scores higher, and its maps show why.
"""

# %%
import matplotlib.pyplot as plt
import numpy as np

from skreid.datasets import make_people
from skreid.plotting import plot_activation_maps
from skreid.reid import TripletEmbedder

people = make_people(n_identities=40, n_images_per_identity=6, n_cameras=3,
                     image_shape=(64, 32, 3), random_state=0)
train = people.person_ids <= 30  # 30 identities to train on, 10 unseen ones to test

# the shortcut: two strips of 5 columns whose colours depend on the identity only
palette = np.random.default_rng(0).integers(0, 256, (41, 2, 3)).astype(np.uint8)
with_strips = people.images.copy()
with_strips[:, :, :5] = palette[people.person_ids, 0][:, None, None]
with_strips[:, :, -5:] = palette[people.person_ids, 1][:, None, None]


def central_share(maps):
    """Share of each map's energy in the central half of the columns (0.5 if uniform)."""
    w = maps.shape[2]
    return maps[:, :, w // 4:w - w // 4].sum(axis=(1, 2)) / maps.sum(axis=(1, 2))


def rank1(model, images):
    """Rank-1 of the unseen identities: even images as the gallery, odd ones as queries."""
    X, ids = images[~train], people.person_ids[~train]
    return model.set_gallery(X[::2], ids[::2]).score(X[1::2], ids[1::2])


# %%
# Train on clean crops and on crops with the shortcut
# ---------------------------------------------------
# A ResNet from scratch with global average pooling, at 128x64 (its last feature map is
# 8 x 4), six epochs each.
models = {}
for name, images in [("clean", people.images), ("with strips", with_strips)]:
    models[name] = TripletEmbedder(
        backbone="resnet", weights=None, image_size=(128, 64), n_parts=0, epochs=6,
        batch_size=32, images_per_identity=4, learning_rate=1e-3, warmup_epochs=1,
        test_time_flip=False, random_state=0).fit(images[train], people.person_ids[train])

for name, images in [("clean", people.images), ("with strips", with_strips)]:
    maps = models[name].activation_maps(images[~train])
    print(f"trained {name:>11}: rank-1 {rank1(models[name], images):.2f} on its own kind of "
          f"test images, central share of the maps {central_share(maps).mean():.2f}")
print(f"the strips model on clean test images: rank-1 "
      f"{rank1(models['with strips'], people.images):.2f}")

# %%
# Where each model looks
# ----------------------
# Above each map, the image; the map's title is its central share. The clean model's heat
# sits on the body; the shortcut model's on the strips at the edges: its rank-1 came from
# the colours of the strips, and on clean images of the same people it drops.
shown = np.flatnonzero(~train)[::6][:8]
fig = plot_activation_maps(models["clean"], people.images[shown],
                           labels=people.person_ids[shown])
fig.suptitle("trained on clean crops", fontsize=9)

fig = plot_activation_maps(models["with strips"], with_strips[shown],
                           labels=people.person_ids[shown])
fig.suptitle("trained with an identity-coloured background (shortcut)", fontsize=9)
plt.show()

# %%
# The same maps without TensorFlow
# --------------------------------
# :func:`skreid.export_onnx` puts the low-resolution map into the exported graph as a
# second output, and :meth:`skreid.runtime.OnnxEmbedder.activation_maps` returns it
# upsampled the same way, so ``plot_activation_maps`` works on the runtime estimator too.
# On the real CAB420 Market-1501 subset, see the numbers in the re-ID user guide
# ("What the model looks at").
