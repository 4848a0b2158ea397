"""The re-ID half of the CLI: fit each method on the training split, embed query and gallery,
evaluate with the Market-1501 protocol (skreid.metrics.evaluate_reid) and draw the figures."""

import time

import numpy as np

from skreid.cli._common import bad_data, look_for, set_known_params
from skreid.reid import estimator_metric


def make_reid_method(name, *, seed, options, n_train=None):
    """Build the estimator behind a ``--method`` name (Keras ones imported only here)."""
    if name == "pca":
        from skreid.reid import PCAReID

        # the report's classical baseline: 64x32 grayscale pixels, PCA at 95 % variance
        return PCAReID(n_components=0.95, image_size=(64, 32), grayscale=True, random_state=seed)
    if name == "classical":
        from skreid.reid import make_classical_reid

        # PCA cannot keep more components than there are training images
        n_components = 300 if n_train is None else max(2, min(300, n_train - 1))
        return make_classical_reid(n_components=n_components, random_state=seed)
    if name == "triplet":
        from skreid import TripletEmbedder

        est = TripletEmbedder(random_state=seed)
        return set_known_params(est, **options.get("triplet", {}))
    raise ValueError(f"unknown re-ID method {name!r}")


METHOD_LABELS = {"pca": "PCAReID (report baseline)", "classical": "classical preset",
                 "triplet": "TripletEmbedder"}


def run_reid(data, methods, *, seed, options, progress, folder=None, verbose=0, fitted=None):
    """Fit and evaluate ``methods`` on ``data`` (Bunch with train/gallery/query splits).

    Returns the report section: ``{"data": ..., "methods": {label: metrics}, "figures": [...]}``.
    ``fitted``, a dict, receives each fitted estimator by its label.
    """
    from skreid.metrics import evaluate_reid
    from skreid.metrics.pairwise import pairwise_distances

    train, gallery, query = data.train, data.gallery, data.query
    section = {
        "data": {
            "train_images": len(train.images),
            "train_identities": int(len(np.unique(train.person_ids))),
            "gallery_images": len(gallery.images),
            "query_images": len(query.images),
            "image_shape": list(train.images.shape[1:]),
        },
        "methods": {},
        "figures": [],
    }
    embeddings, cmcs = {}, {}
    for name in methods:
        label = METHOD_LABELS[name]
        try:
            est = make_reid_method(name, seed=seed, options=options, n_train=len(train.images))
        except ImportError as exc:  # an optional estimator missing from this installation
            progress(f"re-ID: skipping {label}: not available ({exc})")
            section.setdefault("skipped", {})[label] = str(exc)
            continue
        if not hasattr(est, "steps"):  # a Pipeline's verbose is a bool about step timing
            set_known_params(est, verbose=verbose)
        progress(f"re-ID: fitting {label} on {len(train.images)} images "
                 f"({section['data']['train_identities']} identities)")
        with bad_data(f"re-ID: {label} cannot use this data"):
            t0 = time.perf_counter()
            est.fit(train.images, train.person_ids)
            fit_s = time.perf_counter() - t0
            progress(f"re-ID: {label} fitted in {fit_s:.1f} s; embedding "
                     f"{len(query.images)} queries and {len(gallery.images)} gallery images")
            t0 = time.perf_counter()
            q_emb = np.asarray(est.transform(query.images))
            g_emb = np.asarray(est.transform(gallery.images))
            metric = estimator_metric(est)
            progress(f"re-ID: evaluating {label} ({metric} distance, Market-1501 camera rule)")
            res = evaluate_reid(
                q_emb, query.person_ids, g_emb, gallery.person_ids,
                query_cameras=query.camera_ids, gallery_cameras=gallery.camera_ids,
                metric=metric, max_rank=min(50, len(gallery.images)),
            )
        eval_s = time.perf_counter() - t0
        row = {k: float(res[k]) for k in ("rank1", "rank5", "rank10", "mAP", "mINP")}
        if query.camera_ids is not None:
            # the report (and the course protocol) ranked every query against the whole
            # gallery, same-camera matches included: shown for comparison only
            row["rank1_no_camera_rule"] = float(evaluate_reid(
                q_emb, query.person_ids, g_emb, gallery.person_ids, metric=metric,
                max_rank=1)["rank1"])
        row.update(n_queries=int(res["n_queries"]), n_skipped=int(res["n_skipped"]),
                   fit_s=round(fit_s, 2), eval_s=round(eval_s, 2),
                   embedding_dim=int(q_emb.shape[1]), cmc=np.asarray(res["cmc"]).tolist())
        row["estimator"] = repr(est)  # scikit-learn prints only the non-default parameters
        if getattr(est, "history_", None):
            row["history"] = {k: list(map(float, v)) for k, v in est.history_.items()}
        section["methods"][label] = row
        embeddings[label] = (q_emb, g_emb, metric, est)
        if fitted is not None:
            fitted[label] = est
        cmcs[label] = res["cmc"]
        progress(f"re-ID: {label}: Top-1 {row['rank1']:.3f}  mAP {row['mAP']:.3f}")
    if folder is not None and section["methods"]:
        progress("re-ID: drawing figures")
        with bad_data("re-ID: drawing the figures"):
            section["figures"] = _reid_figures(data, embeddings, cmcs, section, seed, folder,
                                               pairwise_distances)
    return section


def _reid_figures(data, embeddings, cmcs, section, seed, folder, pairwise_distances):
    import matplotlib.pyplot as plt

    from skreid import plotting
    from skreid.preprocessing import Grayscale, ResizeImages

    train, gallery, query = data.train, data.gallery, data.query
    figs = []
    fig = plotting.plot_image_samples(train.images, train.person_ids, n_images=16, n_cols=8,
                                      random_state=seed, title="training images (identity)")
    figs.append((folder.save_figure(fig, "reid_samples.png"), look_for(
        "Training images and identities.",
        "the variety the model must handle (pose, colour, camera) within one identity.")))
    fig = plotting.plot_triplets(train.images, train.person_ids, n_triplets=3, random_state=seed)
    figs.append((folder.save_figure(fig, "reid_triplets.png"),
                 look_for(
                     "Anchor / positive / negative triplets, what triplet loss learns from.",
                     "positives that look unlike their anchor and negatives that look alike, the "
                     "hard cases.")))
    # the report's Figure 2: PCA on 64x32 grayscale pixels at three explained-variance levels
    small = Grayscale().fit_transform(ResizeImages((64, 32)).fit_transform(train.images[:600]))
    shown = small[np.linspace(0, len(small) - 1, 6).astype(int)]  # six different people
    fig = plotting.plot_pca_reconstructions(shown, (0.90, 0.95, 0.99), fit_images=small,
                                            n_images=6, random_state=seed)
    figs.append((folder.save_figure(fig, "reid_pca_reconstructions.png"),
                 look_for(
                     "PCA reconstructions at 90/95/99 % explained variance (64x32 grayscale).",
                     "how much identity detail (clothing edges, colours as grey levels) survives "
                     "at each level.")))
    ax = plotting.plot_cmc_curves(cmcs, max_rank=min(20, len(gallery.images)))
    figs.append((folder.save_figure(ax.figure, "reid_cmc.png"),
                 look_for(
                     "CMC curves of every method on the query/gallery split.",
                     "the curve that is highest at rank 1 (left edge), and how fast each rises "
                     "toward 1.")))
    best = max(section["methods"], key=lambda m: section["methods"][m]["rank1"])
    q_emb, g_emb, metric, _ = embeddings[best]
    distances = pairwise_distances(q_emb, g_emb, metric=metric)
    n_show = min(6, len(query.images))
    rows = np.random.default_rng(seed).choice(len(query.images), n_show, replace=False)
    fig = plotting.plot_ranked_matches(
        query.images[rows], query.person_ids[rows], gallery.images, gallery.person_ids,
        distances=distances[rows],
        query_cameras=None if query.camera_ids is None else query.camera_ids[rows],
        gallery_cameras=gallery.camera_ids, n_matches=8)
    figs.append((folder.save_figure(fig, "reid_ranked_matches.png"),
                 look_for(
                     f"Ranked matches of {best} (green: same identity, red: another).",
                     "green frames in the first columns; red ones show who the model confuses.")))
    ids = np.unique(gallery.person_ids)[:12]
    emb = np.vstack([q_emb, g_emb])
    lab = np.concatenate([query.person_ids, gallery.person_ids])
    keep = np.isin(lab, ids)
    if keep.sum() >= 5:
        ax = plotting.plot_embedding_tsne(emb[keep], lab[keep], random_state=seed,
                                          title=f"t-SNE of {best} embeddings (12 test identities)")
        figs.append((folder.save_figure(ax.figure, "reid_tsne.png"),
                     look_for(
                         "t-SNE of test embeddings, coloured by identity.",
                         "tight single-colour clusters; t-SNE distances between clusters mean "
                         "little.")))
    for label, (_, _, _, est) in embeddings.items():
        if getattr(est, "history_", None):
            fig = plotting.plot_training_history(est, title=f"{label} training")
            figs.append((folder.save_figure(fig, "reid_history.png"),
                         look_for(
                             f"{label}: loss and validation metrics per epoch.",
                             "a falling loss; a flat one means the run was too short to learn.")))
        if callable(getattr(est, "activation_maps", None)):  # a convolutional trunk
            fig = plotting.plot_activation_maps(est, query.images, labels=query.person_ids,
                                                n_images=8, random_state=seed)
            figs.append((folder.save_figure(fig, "reid_activation_maps.png"),
                         look_for(
                             f"{label}: where the embedding looks (energy of the backbone's "
                             "last feature map, over query images).",
                             "heat on the body (a centre share above 50 %); heat on the sides "
                             "or the floor means it matches scenes, not people.")))
    plt.close("all")
    return figs
