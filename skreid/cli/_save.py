"""``--save MODEL`` of ``skreid reid`` / ``skreid pets``: keep the trained model with
:func:`skreid.save`, whose metadata (and so the model card ``MODEL.card.md``) carries what this
run measured: the training data, the evaluation figures and their protocol, the training
time and the hardware."""

import os
import platform

from skreid.cli._common import CLIError, jsonable

CARD_SUFFIX = ".card.md"

REID_PROTOCOL = (
    "Identity-disjoint: query and gallery identities were never seen in training. Each query "
    "is ranked against the gallery; Top-N is the CMC at rank N, mAP the non-interpolated mean "
    "average precision, mINP the mean inverse negative penalty "
    "(skreid.metrics.evaluate_reid). {camera_rule}"
)
PETS_PROTOCOL = (
    "Trained on the official Oxford-IIIT Pet trainval list, scored on the test list. top-1, "
    "top-n and balanced accuracy of predict_proba; k-NN: 1-nearest-neighbour breed accuracy "
    "on transform embeddings; pixel accuracy and pet IoU of predict_mask on the test images "
    "that have a trimap (border pixels ignored)."
)


def check_save_path(path, methods, choices):
    """Validate ``--save`` before any work: one method, a new file in an existing folder,
    and a skreid that has :func:`skreid.save`. Returns the absolute path (or None)."""
    if path is None:
        return None
    if len(methods) != 1:
        raise CLIError(f"--save keeps one model: choose it with --method "
                       f"({', '.join(choices)}).")
    target = os.path.abspath(os.fspath(path))
    for existing in (target, target + CARD_SUFFIX):
        if os.path.exists(existing):
            raise CLIError(f"--save {path}: {existing} exists; skreid never overwrites a file. "
                           f"Choose a new path or remove it.")
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise CLIError(f"--save {path}: folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise CLIError(f"--save {path}: cannot write in {parent}.")
    try:
        import skreid

        skreid.save  # noqa: B018 - lazy attribute: present once skreid.saving exists
    except (AttributeError, ImportError) as exc:
        raise CLIError(f"--save needs skreid.save, which this installation lacks ({exc}).") \
            from None
    return target


def _hardware(results):
    return {"summary": results["hardware"], "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "os": f"{platform.system()} {platform.release()}"}


def _image_size(shape):
    return list(shape[:2])


def reid_metadata(results, label):
    """:func:`skreid.save` metadata of the re-ID model ``label`` of a run's ``results``."""
    section = results["reid"]
    data, row = section["data"], section["methods"][label]
    figures = {k: row[k] for k in ("rank1", "rank5", "rank10", "mAP", "mINP") if k in row}
    if row.get("rank1_no_camera_rule") is not None:
        figures["rank1_no_camera_rule"] = row["rank1_no_camera_rule"]
    figures.update(queries=row.get("n_queries"), gallery_images=data["gallery_images"])
    with_cameras = row.get("rank1_no_camera_rule") is not None
    rule = ("The Market-1501 rule applies: a gallery image of the query's identity taken by "
            "the query's camera is left out; 'rank1_no_camera_rule' ranks against the whole "
            "gallery, for comparison only." if with_cameras
            else "No camera ids: every gallery image counts.")
    return _metadata(results, "reid", label, row, {
        "folder": data.get("path"),
        "images": data["train_images"],
        "identities": data["train_identities"],
        "image_size": _image_size(data["image_shape"]),
    }, figures, REID_PROTOCOL.format(camera_rule=rule))


def pets_metadata(results, label):
    """:func:`skreid.save` metadata of the pets model ``label`` of a run's ``results``."""
    section = results["pets"]
    data, row = section["data"], section["methods"][label]
    figures = {"top1_accuracy": row["accuracy"]}
    n = row.get("top5_n", 5)
    if n != 1:  # with two breeds top-n is top-1
        figures[f"top{n}_accuracy"] = row["top5"]
    figures.update(balanced_accuracy=row["balanced_accuracy"], knn_accuracy=row["knn_accuracy"],
                   pixel_accuracy=row["pixel_accuracy"], pet_iou=row["pet_iou"],
                   test_images=data["test_images"])
    training = {"folder": data.get("path"), "images": data["train_images"],
                "breeds": data["classes"], "image_size": _image_size(data["image_shape"])}
    if label == "FineTunedPetNet":
        training["backbone"] = row.get("init")
    return _metadata(results, "pets", label, row, training, figures, PETS_PROTOCOL)


def _metadata(results, task, label, row, training, figures, protocol):
    # skreid.save records the task (re-ID or pets) itself, from the estimator
    return jsonable({
        "training_data": training,
        "evaluation": {**{k: v for k, v in figures.items() if v is not None},
                       "protocol": protocol},
        "training_time_s": row["fit_s"],
        "hardware": _hardware(results),
        "run": {"command": results["argv"], "seed": results["seed"], "method": label},
    })


def save_model(estimator, path, metadata):
    """Save with :func:`skreid.save`; returns the record the report lists."""
    import skreid

    skreid.save(estimator, path, metadata=metadata)
    card = path + CARD_SUFFIX
    return {"path": path, "card": card if os.path.isfile(card) else None}


__all__ = ["check_save_path", "reid_metadata", "pets_metadata", "save_model"]
