"""What a CLI report says, as plain data: report.md and report.html are both rendered from
:func:`report_content`, so the two (and results.json, which it is built from) cannot disagree.

Text here is plain (no Markdown or HTML markup); each renderer adds its own emphasis and
escaping.
"""

import platform
import time
from importlib import metadata

from skreid.cli.report._tables import cell

PROBLEMS = ("reid", "pets")
REID_COLUMNS = ["method", "rank1", "rank5", "rank10", "mAP", "mINP", "rank1_no_camera_rule",
                "fit_s", "eval_s"]
REID_HEADERS = ["method", "Top-1", "Top-5", "Top-10", "mAP", "mINP", "Top-1 no cam. rule",
                "fit (s)", "eval (s)"]
PETS_COLUMNS = ["method", "accuracy", "top5", "balanced_accuracy", "knn_accuracy",
                "pixel_accuracy", "pet_iou", "init", "fit_s"]
PETS_HEADERS = ["method", "top-1", "top-n", "balanced", "k-NN", "pixel acc", "pet IoU",
                "backbone", "fit (s)"]

#: the 'backbone' cell of FineTunedPetNet without pretrained weights
RANDOM_INIT = "random init: expect chance"

TITLES = {"reid": "Person re-identification", "pets": "Pets: breed + segmentation"}

NOTES = {
    "reid": (
        "Top-N is the CMC at rank N over the query images, ranked against the gallery with the "
        "Market-1501 rule (a gallery image of the query's identity taken by the query's camera "
        "is left out); mAP is the non-interpolated mean average precision, mINP the mean "
        "inverse negative penalty (skreid.metrics.evaluate_reid). Query and gallery "
        "identities were never seen in training. 'Top-1 no cam. rule' ranks every query "
        "against the whole gallery, same-camera images included, as the report did: easier, "
        "shown only for comparison."
    ),
    "pets": (
        "top-1, top-n (n = 5, or the number of classes - 1 when smaller) and balanced "
        "accuracy of predict_proba on held-out images; k-NN is the "
        "report's measure (1-nearest-neighbour breed accuracy on transform embeddings); pixel "
        "accuracy and pet IoU score predict_mask on images that have a mask (trimap border "
        "pixels ignored). 'backbone' says where FineTunedPetNet's MobileNetV3-Small started."
    ),
}

# distributions whose versions a report names (the ones that change the numbers)
_DISTRIBUTIONS = ("numpy", "scipy", "scikit-learn", "keras", "tensorflow", "tensorflow-cpu",
                  "matplotlib")


def versions():
    """Installed versions of skreid, Python and the libraries behind the numbers.

    Read from package metadata, so nothing (TensorFlow in particular) is imported.
    """
    from skreid import __version__

    out = {"skreid": __version__, "python": platform.python_version()}
    for name in _DISTRIBUTIONS:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def method_rows(section):
    """One dict per method of a report section: its metrics and its ``method`` label."""
    out = []
    for name, metrics in section["methods"].items():
        row = dict(metrics)
        row["method"] = name
        out.append(row)
    return out


def columns(problem):
    """The table's (columns, headers) of ``problem``."""
    return (REID_COLUMNS, REID_HEADERS) if problem == "reid" else (PETS_COLUMNS, PETS_HEADERS)


def _table(section, problem):
    cols, heads = columns(problem)
    rows = []
    for row in method_rows(section):
        # each cell keeps the exact value next to its text: the HTML carries both, and the
        # tests compare them with results.json
        rows.append([{"column": c, "text": cell(row.get(c), c), "value": row.get(c)}
                     for c in cols])
    return {"columns": cols, "headers": heads, "rows": rows}


def _warnings(problem, section):
    out = []
    if problem == "pets":
        init = section["methods"].get("FineTunedPetNet", {}).get("init")
        if init == RANDOM_INIT:
            why = section["data"].get("weights_error")
            out.append(
                "FineTunedPetNet started from random weights (random init: expect chance). "
                + (f"{why.rstrip('.')}. " if why else "")
                + "It shows the mechanics, not the benefit of ImageNet features. Pass --weights "
                "a MobileNetV3-Small (alpha 0.75) .weights.h5 file, or run once with internet "
                "access so Keras caches its ImageNet weights."
            )
    for name, reason in section.get("skipped", {}).items():
        out.append(f"{name} was skipped: {reason}.")
    return out


def report_content(results):
    """The report of a run as plain data (see the module docstring).

    Returns a dict with ``title``, ``header`` (label, text) pairs, ``settings`` (label,
    text) pairs, ``sections`` (one per problem: ``id``, ``title``, ``data``, ``table``,
    ``notes``, ``warnings``, ``estimators``, ``figures``) and ``files``.
    """
    vers = results.get("versions") or {}
    libs = ", ".join(f"{k} {v}" for k, v in vers.items() if k not in ("skreid", "python"))
    header = [
        ("command", results["argv"]),
        ("versions", f"skreid {results['skreid_version']}, Python "
                     f"{vers.get('python', platform.python_version())}"
                     + (f"; {libs}" if libs else "")),
        ("machine", f"{platform.machine()}, {results['hardware']}"),
        ("date", time.strftime("%Y-%m-%d %H:%M", time.localtime(results["started"]))),
        ("wall time", f"{results['wall_time_s']:.0f} s"),
        ("seed", str(results["seed"])),
    ]
    settings = [(k.replace("_", " "), "default" if v is None else str(v))
                for k, v in (results.get("settings") or {}).items()]
    sections = []
    number = 0  # figures are numbered through the whole report
    for problem in PROBLEMS:
        if problem not in results:
            continue
        section = results[problem]
        data = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in section["data"].items()
                         if v is not None and k != "weights_error")
        sections.append({
            "id": problem,
            "title": TITLES[problem],
            "data": f"{data}.",
            "table": _table(section, problem),
            "notes": [NOTES[problem]],
            "warnings": _warnings(problem, section),
            "estimators": [(name, row["estimator"]) for name, row in section["methods"].items()
                           if row.get("estimator")],
            "figures": [{"file": name, "caption": caption, "number": number + i}
                        for i, (name, caption) in enumerate(section.get("figures", []), 1)],
        })
        number += len(section.get("figures", []))
    saved = [(m["path"], m.get("card")) for m in results.get("saved_models", [])]
    return {"title": f"skreid {results['command']} report", "header": header,
            "settings": settings, "sections": sections, "saved_models": saved,
            "files": list(results["files"])}


def settings_of(args, skip=("func", "argv", "json", "quiet", "command")):
    """The command-line settings of a run (argparse namespace), for the report."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in skip}


__all__ = ["report_content", "versions", "settings_of", "columns", "method_rows",
           "RANDOM_INIT", "NOTES", "TITLES", "REID_COLUMNS", "PETS_COLUMNS"]
