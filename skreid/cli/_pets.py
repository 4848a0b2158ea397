"""The pets half of the CLI: fit the multi-task estimators (breed + segmentation), score both
tasks on held-out images and draw the figures."""

import time

import numpy as np

from skreid.cli._common import bad_data, set_known_params

PETS_COLUMNS = ["method", "accuracy", "top5", "balanced_accuracy", "knn_accuracy",
                "pixel_accuracy", "pet_iou", "fit_s"]
PETS_HEADERS = ["method", "top-1", "top-n", "balanced", "k-NN", "pixel acc", "pet IoU",
                "fit (s)"]
IGNORE = 255


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


def run_pets(data, methods, *, seed, options, progress, weights=None, folder=None, verbose=0):
    """Fit and evaluate ``methods`` on ``data`` (Bunch with train/test Bunches: images, breeds,
    masks, optional breed_names). Returns the report section."""
    from sklearn.neighbors import KNeighborsClassifier

    train, test = data.train, data.test
    n_classes = int(len(np.unique(np.concatenate([train.breeds, test.breeds]))))
    section = {
        "data": {"train_images": len(train.images), "test_images": len(test.images),
                 "classes": n_classes, "image_shape": list(train.images.shape[1:]),
                 "weights": weights},
        "methods": {}, "figures": [],
    }
    fitted = {}
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
            "fit_s": round(fit_s, 2),
        }
        if getattr(est, "history_", None):
            row["history"] = {k: list(map(float, v)) for k, v in est.history_.items()}
        section["methods"][label] = row
        fitted[label] = (est, pred, pred_masks)
        progress(f"pets: {label}: top-1 {row['accuracy']:.3f}  pixel accuracy "
                 f"{'-' if pix is None else f'{pix:.3f}'}")
    if folder is not None and section["methods"]:
        progress("pets: drawing figures")
        section["figures"] = _pets_figures(data, fitted, section, seed, folder)
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
    figs.append((folder.save_figure(fig, "pets_samples.png"), "Training images and breeds."))
    with_mask = np.flatnonzero(np.any(test.masks != IGNORE, axis=(1, 2)))[:4]
    for label, (est, pred, pred_masks) in fitted.items():
        slug = label.lower()
        if len(with_mask):
            fig = plotting.plot_segmentation_overlays(
                test.images[with_mask], test.masks[with_mask], pred_masks[with_mask],
                n_images=4, labels=pred[with_mask], label_names=names,
                title=f"{label}: segmentation (row title: predicted breed)")
            figs.append((folder.save_figure(fig, f"pets_{slug}_segmentation.png"),
                         f"{label}: image, true mask, predicted mask."))
        labels = np.unique(np.concatenate([test.breeds, pred, train.breeds]))
        ax = plotting.plot_confusion_matrix(
            test.breeds, pred, labels=labels, title=f"{label} breeds",
            display_labels=None if names is None else [str(names[int(i)]) for i in labels])
        figs.append((folder.save_figure(ax.figure, f"pets_{slug}_confusion.png"),
                     f"{label}: breed confusion matrix on the test images."))
        if getattr(est, "history_", None):
            fig = plotting.plot_training_history(est, title=f"{label} training")
            figs.append((folder.save_figure(fig, f"pets_{slug}_history.png"),
                         f"{label}: losses and metrics per epoch."))
    best = max(section["methods"], key=lambda m: section["methods"][m]["accuracy"])
    est = fitted[best][0]
    ax = plotting.plot_embedding_tsne(est.transform(test.images), test.breeds,
                                      label_names=names, random_state=seed,
                                      title=f"t-SNE of {best} embeddings (test images)")
    figs.append((folder.save_figure(ax.figure, "pets_tsne.png"),
                 "t-SNE of the test embeddings, coloured by breed."))
    plt.close("all")
    return figs
