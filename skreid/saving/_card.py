"""The model card ``PATH.card.md`` written next to every saved model.

It states, for a reader who gets the file without its author: what the estimator is and how it
was configured, what it learned, on which data, how well it did under which protocol, how long
training took on which machine, and the ethical notes of ``docs/model_card.rst`` that apply.
The first line marks it as skreid's, so a later save replaces a card skreid wrote and refuses
to overwrite any other file.
"""

import json
import os

from skreid.utils import open_regular

MARKER = "<!-- skreid model card: written by skreid.save, replaced by the next save -->"

_REID_NOTES = """\
- **Consent.** The people in re-ID footage did not consent to being identified across
  cameras. Matching someone across cameras builds a record of where they went: personal data
  under the GDPR and similar laws (lawful basis, purpose limitation, minimisation, often a
  data-protection impact assessment). Several jurisdictions restrict or ban biometric
  identification in public spaces (e.g. the EU AI Act).
- **Surveillance.** Re-ID is a building block of multi-camera tracking. Do not use this model
  to identify, track or profile people without their informed consent (mass surveillance, law
  enforcement or immigration decisions, workplace monitoring), and keep a human in the loop: a
  ranking is a list of candidates, often wrong.
- **Market-1501 licence.** Market-1501 is for research only ("DO NOT distribute or use it for
  commercial purpose"). A model trained on it inherits the restriction: do not use it
  commercially or publish it with the data.
- **Failure modes.** Embeddings rely mostly on clothing colour and layout: lighting, occlusion,
  clothing change, viewpoint and domain shift degrade them, and accuracy can differ between
  demographic groups. Evaluate on the deployment's own cameras first.
"""

_PETS_NOTES = """\
- Pet breed classification and segmentation involves no person's privacy.
- Oxford-IIIT Pet is licensed CC BY-SA 4.0 (images remain their owners' copyright);
  MobileNetV3 ImageNet weights are Apache 2.0, ImageNet itself non-commercial research.
- Breed predictions are unreliable for mixed breeds and rare breeds; segmentation degrades on
  cluttered backgrounds and several animals in one image.
"""


def card_path(path):
    return f"{os.fspath(path)}.card.md"


def check_card_writable(path, overwrite=False):
    """Raise FileExistsError if ``PATH.card.md`` exists and was not written by skreid (unless
    ``overwrite``); IsADirectoryError if it is a folder."""
    card = card_path(path)
    if not os.path.lexists(card):
        return card
    if os.path.isdir(card):
        raise IsADirectoryError(f"{card} is a folder; skreid.save writes the model card there. "
                                "Nothing was written.")
    if overwrite:
        return card
    try:
        with open_regular(card, "model card") as fh:
            first = fh.readline(len(MARKER) + 2).decode("utf-8").rstrip("\n")
    except (OSError, ValueError):  # unreadable, not UTF-8, a FIFO
        first = None
    if first != MARKER or not os.path.isfile(card):
        raise FileExistsError(
            f"{card} exists and is not a model card written by skreid; skreid.save writes the "
            "card there and never overwrites a file it did not write. Move that file or save "
            "the model under another name. Nothing was written."
        )
    return card


def _value(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (dict, list)):
        return "`" + json.dumps(value, sort_keys=True) + "`"
    return f"`{value}`" if isinstance(value, str) else str(value)


def _table(mapping, header=("", "")):
    lines = [f"| {header[0]} | {header[1]} |", "|---|---|"]
    for key, value in mapping.items():
        lines.append(f"| {key} | {_value(value).replace('|', '/')} |")
    return "\n".join(lines)


def _adaptation_line(record):
    get = record.get
    cameras = get("cameras")
    return (f"{get('n_unlabeled_images')} unlabeled images"
            + (f" and {get('n_labeled_images')} labeled" if get("n_labeled_images") else "")
            + (f" from cameras {', '.join(map(str, cameras))}" if cameras else "")
            + f"; {get('rounds')} rounds of {get('epochs_per_round')} epochs; "
            f"pseudo-identities per round {get('clusters_per_round')}, "
            f"{get('final_clusters')} after the last.")


def render_card(path, metadata):
    """The card's Markdown from the file's metadata (the same facts the file holds)."""
    model = metadata["model"]
    name = os.path.basename(os.fspath(path))
    out = [MARKER, f"# Model card: {name}", "",
           f"A `{model['class']}` saved by skreid {metadata['versions']['skreid']} on "
           f"{metadata['saved_at']}. Load it with `skreid.load({name!r})`: a skreid file holds "
           "only JSON, NumPy arrays and a Keras network loaded in safe mode, never code, so it "
           "is safe to load from others (a pickle is not: load only your own).", ""]
    out += ["## Estimator", "", _table(model["params"], ("parameter", "value")), ""]
    facts = dict(model["facts"])
    adaptation = facts.pop("adaptation", None)
    out += ["## What the fitted model knows", "", _table(facts, ("", "")), ""]
    if isinstance(adaptation, list) and adaptation:
        out += ["## Adaptation", "", "Adapted without labels (`fit` with `y == -1`) to:", ""]
        out += [f"{i}. {_adaptation_line(record)}" for i, record in
                enumerate(adaptation, 1) if isinstance(record, dict)]
        out += [""]
    data = metadata.get("training_data")
    out += ["## Training data", ""]
    out += [_table(data, ("", "")) if isinstance(data, dict) and data
            else "Not recorded (pass `metadata={'training_data': {...}}` to `skreid.save`).", ""]
    evaluation = metadata.get("evaluation")
    out += ["## Evaluation", ""]
    if isinstance(evaluation, dict) and evaluation:
        figures = {k: v for k, v in evaluation.items() if k != "protocol"}
        if figures:
            out += [_table(figures, ("measure", "value")), ""]
        if evaluation.get("protocol"):
            out += [f"Protocol: {evaluation['protocol']}", ""]
    else:
        out += ["Not recorded.", ""]
    out += ["## Training time and hardware", ""]
    if metadata.get("training_time_s") is not None:
        out += [f"Training time: {float(metadata['training_time_s']):.1f} s", ""]
    out += [_table(metadata.get("hardware") or {}, ("hardware", "")), "",
            _table(metadata["versions"], ("software", "version")), ""]
    notes = {"reid": _REID_NOTES, "pets": _PETS_NOTES}.get(metadata.get("task"))
    if notes:
        out += ["## Ethical considerations", "", notes]
    other = sorted(set(metadata) - {"model", "versions", "saved_at", "training_data",
                                    "evaluation", "training_time_s", "hardware", "task"})
    if other:
        out += ["## Other metadata", "", _table({k: metadata[k] for k in other}), ""]
    return "\n".join(out).rstrip() + "\n"
