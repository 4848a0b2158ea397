"""report.md and results.json of a CLI run."""

import platform
import time

from skreid.cli._common import REPORT_FILE, RESULTS_FILE, markdown_table, text_table
from skreid.cli._pets import PETS_COLUMNS, PETS_HEADERS
from skreid.cli._reid import REID_COLUMNS, REID_HEADERS

_TITLES = {"reid": "Person re-identification", "pets": "Pets: breed + segmentation"}

_NOTES = {
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
        "pixels ignored)."
    ),
}


def _rows(section):
    rows = []
    for name, metrics in section["methods"].items():
        row = dict(metrics)
        row["method"] = name
        rows.append(row)
    return rows


def _columns(problem):
    return (REID_COLUMNS, REID_HEADERS) if problem == "reid" else (PETS_COLUMNS, PETS_HEADERS)


def text_tables(results):
    """The comparison tables printed on the terminal."""
    out = []
    for problem in ("reid", "pets"):
        if problem in results:
            cols, heads = _columns(problem)
            out.append(f"{_TITLES[problem]}\n" + text_table(_rows(results[problem]), cols, heads))
    return "\n\n".join(out)


def render_markdown(results):
    """report.md: header, then per problem its data, table, notes and figures."""
    lines = [
        f"# skreid {results['command']} report",
        "",
        f"- command: `{results['argv']}`",
        f"- skreid {results['skreid_version']}, Python {platform.python_version()}, "
        f"{platform.machine()} ({results['hardware']})",
        f"- date: {time.strftime('%Y-%m-%d %H:%M', time.localtime(results['started']))}, "
        f"wall time {results['wall_time_s']:.0f} s, seed {results['seed']}",
        "",
    ]
    for problem in ("reid", "pets"):
        if problem not in results:
            continue
        section = results[problem]
        cols, heads = _columns(problem)
        data = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in section["data"].items()
                         if v is not None)
        lines += [f"## {_TITLES[problem]}", "", f"Data: {data}.", "",
                  markdown_table(_rows(section), cols, heads), "", _NOTES[problem], ""]
        if (problem == "pets" and section["data"].get("weights") is None
                and "FineTunedPetNet" in section["methods"]):
            lines += ["*FineTunedPetNet started from random weights (no `--weights` file): "
                      "it shows the mechanics, not the benefit of ImageNet features. Pass "
                      "`--weights` a MobileNetV3-Small (alpha 0.75) `.weights.h5` file.*", ""]
        for name, reason in section.get("skipped", {}).items():
            lines += [f"*{name} was skipped: {reason}.*", ""]
        for name, caption in section.get("figures", []):
            lines += [f"![{caption}]({name})", "", f"*{caption}*", ""]
    lines += ["## Files", ""] + [f"- `{name}`" for name in results["files"]] + [""]
    return "\n".join(lines)


def write_report(folder, results):
    """Write report.md and results.json into the (temporary) report folder."""
    results["files"] = sorted(set(folder.files) | {REPORT_FILE, RESULTS_FILE})
    folder.write_text(REPORT_FILE, render_markdown(results))
    folder.write_json(RESULTS_FILE, results)


def hardware():
    import os

    return f"{os.cpu_count()} CPU cores, no GPU used"


def summary(results):
    """The machine-readable result printed by --json (no per-epoch curves, no CMC arrays)."""
    slim = {k: v for k, v in results.items() if k not in ("reid", "pets")}
    for problem in ("reid", "pets"):
        if problem in results:
            section = results[problem]
            slim[problem] = {
                "data": section["data"],
                "methods": {m: {k: v for k, v in r.items() if k not in ("cmc", "history")}
                            for m, r in section["methods"].items()},
            }
    return slim


__all__ = ["render_markdown", "write_report", "text_tables", "summary", "hardware"]
