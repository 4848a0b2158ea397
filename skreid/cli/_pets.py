"""The pets half of the CLI: fit the multi-task estimators (breed + segmentation), score both
tasks on held-out images and draw the figures."""

import time

import numpy as np

from skreid.cli._common import bad_data, look_for, set_known_params
from skreid.cli.report import RANDOM_INIT

IGNORE = 255


def resolve_backbone_weights(weights, image_size, progress, backbone="mobilenet_v3_small"):
    """The FineTunedPetNet weights a run uses: ``weights`` (a checked file) when given, else
    Keras's ImageNet weights ("imagenet", downloaded once and cached in ~/.keras/models),
    else random initialisation when they cannot be had (offline, blocked, bad cache).

    Returns ``(weights, init, error)``: the value to pass as ``weights``, the table's
    'backbone' text and, for random initialisation, why ImageNet failed (else None).
    """
    if weights == "imagenet":  # asked for (--weights imagenet) and checked already
        return weights, "ImageNet (Keras)", None
    if weights is not None:
        return weights, "weights file", None
    from skreid.cli._weights import fetch_imagenet

    progress("pets: loading Keras's ImageNet weights for FineTunedPetNet (cached after the "
             "first download)")
    why = fetch_imagenet(backbone, image_size)
    if why is None:
        return "imagenet", "ImageNet (Keras)", None
    reason = f"weights='imagenet' could not be downloaded ({why})"
    progress(f"pets: {reason}; FineTunedPetNet starts from random weights ({RANDOM_INIT})")
    return None, RANDOM_INIT, reason


def make_pet_method(name, *, seed, options, weights=None):
    """Build ``MultiTaskPetNet`` or ``FineTunedPetNet`` (Keras imported only here)."""
    if name == "multitask":
        from skreid import MultiTaskPetNet

        return set_known_params(MultiTaskPetNet(random_state=seed), **options.get("multitask", {}))
    if name == "finetuned":
        from skreid import FineTunedPetNet

        est = FineTunedPetNet(weights=weights, random_state=seed)
        if weights is None:
            # random initialisation: nothing to protect, so train the whole network at once
            # (a head-only stage on random features would waste epochs)
            set_known_params(est, head_epochs=0, fine_tune_blocks=None,
                             fine_tune_learning_rate=1e-3)
        return set_known_params(est, **options.get("finetuned", {}))
    raise ValueError(f"unknown pets method {name!r}")


METHOD_LABELS = {"multitask": "MultiTaskPetNet", "finetuned": "FineTunedPetNet"}


def _segmentation_scores(true_masks, pred_masks):
    from skreid.metrics import iou_score, pixel_accuracy_score

    true = np.asarray(true_masks).copy()
    pred = np.asarray(pred_masks)
    if pred.max(initial=0) <= 1:
        # a pet/background prediction has no border class: leave trimap borders out of the score
        true[true == 2] = IGNORE
    if not np.any(true != IGNORE):
        return None, None
    acc = pixel_accuracy_score(true.ravel(), pred.ravel(), ignore_label=IGNORE)
    iou = iou_score(true.ravel(), pred.ravel(), labels=[0], ignore_label=IGNORE, average=None)
    return float(acc), float(np.ravel(iou)[0])


def _balanced_accuracy(y_true, y_pred):
    import warnings

    from sklearn.metrics import balanced_accuracy_score

    with warnings.catch_warnings():
        # small test splits lack some breeds; predicting one of them is just a wrong answer
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def run_pets(data, methods, *, seed, options, progress, weights=None, folder=None, verbose=0,
             init=None, weights_error=None, fitted=None):
    """Fit and evaluate ``methods`` on ``data`` (Bunch with train/test Bunches: images, breeds,
    masks, optional breed_names). Returns the report section.

    ``init`` is the table's 'backbone' text of FineTunedPetNet and ``weights_error`` why
    ImageNet weights were not used (:func:`resolve_backbone_weights`); ``fitted``, a dict,
    receives each fitted estimator by its label.
    """
    from sklearn.neighbors import KNeighborsClassifier

    train, test = data.train, data.test
    n_classes = int(len(np.unique(np.concatenate([train.breeds, test.breeds]))))
    section = {
        "data": {"train_images": len(train.images), "test_images": len(test.images),
                 "classes": n_classes, "image_shape": list(train.images.shape[1:]),
                 "weights": weights},
        "methods": {}, "figures": [],
    }
    if weights_error is not None:
        section["data"]["weights_error"] = weights_error
    if init is None:
        init = RANDOM_INIT if weights is None else "weights file"
    fitted = {} if fitted is None else fitted
    drawn = {}
    for name in methods:
        label = METHOD_LABELS[name]
        try:
            est = make_pet_method(name, seed=seed, options=options, weights=weights)
        except ImportError as exc:  # an optional estimator missing from this installation
            progress(f"pets: skipping {label}: not available ({exc})")
            section.setdefault("skipped", {})[label] = str(exc)
            continue
        set_known_params(est, verbose=verbose)
        from skreid.metrics import top_n_accuracy_score

        progress(f"pets: fitting {label} on {len(train.images)} images ({n_classes} classes)")
        with bad_data(f"pets: {label} cannot use this data"):
            t0 = time.perf_counter()
            est.fit(train.images, train.breeds, masks=train.masks)
            fit_s = time.perf_counter() - t0
            progress(f"pets: {label} fitted in {fit_s:.1f} s; predicting {len(test.images)} images")
            proba = est.predict_proba(test.images)
            pred = est.classes_[np.argmax(proba, axis=1)]
            pred_masks = est.predict_mask(test.images)
            knn = KNeighborsClassifier(n_neighbors=1).fit(est.transform(train.images), train.breeds)
            knn_acc = knn.score(est.transform(test.images), test.breeds)
            pix, iou = _segmentation_scores(test.masks, pred_masks)
        top_n = min(5, len(est.classes_) - 1) if len(est.classes_) > 2 else 1
        row = {
            "accuracy": float(np.mean(pred == test.breeds)),
            "top5": float(top_n_accuracy_score(test.breeds, proba, n=top_n, labels=est.classes_)),
            "top5_n": top_n,
            "balanced_accuracy": _balanced_accuracy(test.breeds, pred),
            "knn_accuracy": float(knn_acc),
            "pixel_accuracy": pix,
            "pet_iou": iou,
            "init": init if name == "finetuned" else "from scratch",
            "fit_s": round(fit_s, 2),
            "estimator": repr(est),  # scikit-learn prints only the non-default parameters
        }
        if getattr(est, "history_", None):
            row["history"] = {k: list(map(float, v)) for k, v in est.history_.items()}
        section["methods"][label] = row
        fitted[label] = est
        drawn[label] = (est, pred, pred_masks)
        progress(f"pets: {label}: top-1 {row['accuracy']:.3f}  pixel accuracy "
                 f"{'-' if pix is None else f'{pix:.3f}'}")
    if folder is not None and section["methods"]:
        progress("pets: drawing figures")
        section["figures"] = _pets_figures(data, drawn, section, seed, folder)
    return section


def _pets_figures(data, fitted, section, seed, folder):
    import matplotlib.pyplot as plt

    from skreid import plotting

    train, test = data.train, data.test
    names = data.get("breed_names")
    figs = []
    fig = plotting.plot_image_samples(train.images, train.breeds, n_images=12, n_cols=6,
                                      label_names=names, random_state=seed,
                                      title="training images (breed)")
    figs.append((folder.save_figure(fig, "pets_samples.png"), look_for(
        "Training images and breeds.",
        "what tells the breeds apart.")))
    with_mask = np.flatnonzero(np.any(test.masks != IGNORE, axis=(1, 2)))[:4]
    for label, (est, pred, pred_masks) in fitted.items():
        slug = label.lower()
        if len(with_mask):
            fig = plotting.plot_segmentation_overlays(
                test.images[with_mask], test.masks[with_mask], pred_masks[with_mask],
                n_images=4, labels=pred[with_mask], label_names=names,
                title=f"{label}: segmentation (row title: predicted breed)")
            figs.append((folder.save_figure(fig, f"pets_{slug}_segmentation.png"),
                         look_for(
                             f"{label}: image, true mask, predicted mask.",
                             "predicted masks that follow the animal's outline rather than a blob"
                             " or the whole image.")))
        labels = np.unique(np.concatenate([test.breeds, pred, train.breeds]))
        ax = plotting.plot_confusion_matrix(
            test.breeds, pred, labels=labels, title=f"{label} breeds",
            display_labels=None if names is None else [str(names[int(i)]) for i in labels])
        figs.append((folder.save_figure(ax.figure, f"pets_{slug}_confusion.png"),
                     look_for(
                         f"{label}: breed confusion matrix on the test images.",
                         "a strong diagonal; one bright column means the model predicts one breed"
                         " for everything.")))
        if getattr(est, "history_", None):
            fig = plotting.plot_training_history(est, title=f"{label} training")
            figs.append((folder.save_figure(fig, f"pets_{slug}_history.png"),
                         look_for(
                             f"{label}: losses and metrics per epoch.",
                             "falling losses; flat ones mean the run was too short to learn.")))
    best = max(section["methods"], key=lambda m: section["methods"][m]["accuracy"])
    est = fitted[best][0]
    ax = plotting.plot_embedding_tsne(est.transform(test.images), test.breeds,
                                      label_names=names, random_state=seed,
                                      title=f"t-SNE of {best} embeddings (test images)")
    figs.append((folder.save_figure(ax.figure, "pets_tsne.png"),
                 look_for(
                     "t-SNE of the test embeddings, coloured by breed.",
                     "single-colour clusters; t-SNE distances between clusters mean little.")))
    plt.close("all")
    return figs
