"""What a saved model's metadata records beside the caller's keys: the estimator's facts
(class, parameters, what it learned), the software versions and the hardware.

Nothing here imports TensorFlow or Keras: versions are read from the installed package
metadata, and TensorFlow's only when it is already imported.
"""

import datetime
import os
import platform
import sys
from importlib import metadata as importlib_metadata

import numpy as np

from skreid._version import __version__


def _version(dist):
    try:
        return importlib_metadata.version(dist)
    except importlib_metadata.PackageNotFoundError:
        return None


def versions():
    """Versions of skreid and the libraries a model depends on (None if not installed)."""
    out = {"skreid": __version__, "python": platform.python_version(),
           "numpy": np.__version__, "scikit-learn": _version("scikit-learn"),
           "keras": _version("keras")}
    tf = sys.modules.get("tensorflow")
    out["tensorflow"] = getattr(tf, "__version__", None) or _version("tensorflow") \
        or _version("tensorflow-cpu")
    return out


def _cpu_name():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def hardware():
    """The machine saving the model: CPU, core count, memory, OS."""
    out = {"cpu": _cpu_name(), "cpu_count": os.cpu_count(), "machine": platform.machine(),
           "os": f"{platform.system()} {platform.release()}"}
    try:
        out["memory_gb"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
                                 / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    return out


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _final(estimator):
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list) and steps:
        final = [s for _, s in steps if s not in (None, "passthrough")]
        return final[-1] if final else estimator
    return estimator


def task(estimator):
    """``"reid"``, ``"pets"`` or ``"other"``: which ethical notes of the model card apply."""
    parts = [s for _, s in getattr(estimator, "steps", [])] or [estimator]
    for part in parts:
        module = type(part).__module__
        if module.startswith("skreid.reid"):
            return "reid"
        if module.startswith("skreid.pets"):
            return "pets"
    return "other"


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def estimator_facts(estimator):
    """What the fitted estimator knows, as plain JSON: identities, classes, widths, sizes."""
    final = _final(estimator)
    facts = {"class": f"{type(estimator).__module__.split('._')[0]}.{type(estimator).__name__}"}
    steps = getattr(estimator, "steps", None)
    if isinstance(steps, list):
        facts["steps"] = [[name, type(step).__name__] for name, step in steps]
    first = steps[0][1] if isinstance(steps, list) and steps else estimator
    shape = getattr(first, "input_shape_", None)
    if shape is not None:
        facts["input_image_shape"] = [int(v) for v in shape]
    if getattr(final, "image_size", None) is not None:
        facts["working_image_size"] = _plain(final.image_size)
    identities = getattr(final, "identities_", None)
    if identities is not None:
        facts["n_training_identities"] = int(len(identities))
    gallery = getattr(final, "gallery_embeddings_", None)
    if gallery is not None:
        facts["embedding_dim"] = int(gallery.shape[1])
        facts["n_gallery_images"] = int(gallery.shape[0])
        facts["n_gallery_identities"] = int(len(np.unique(final.gallery_ids_)))
    elif getattr(final, "classes_", None) is not None:
        facts["n_classes"] = int(len(final.classes_))
    pca = getattr(final, "pca_", None)
    if pca is not None and getattr(pca, "n_samples_", None) is not None:
        facts["n_training_images"] = int(pca.n_samples_)
        facts["n_components"] = int(pca.n_components_)
    if getattr(final, "n_epochs_", None) is not None:
        facts["n_epochs"] = int(final.n_epochs_)
    model = getattr(final, "model_", None)
    if model is not None:
        facts["n_network_parameters"] = int(model.count_params())
    adaptation = getattr(final, "adaptation_", None)
    if adaptation:  # what a re-ID model adapted on, one record per adapting fit
        facts["adaptation"] = [{k: _plain(v) for k, v in record.items()}
                               for record in adaptation]
    return facts


def describe_params(estimator):
    """``get_params()`` as readable JSON: a Pipeline's steps by their class name, then each
    step's parameters as ``step__param``."""
    def show(value):
        if hasattr(value, "get_params"):
            return type(value).__name__
        if isinstance(value, (list, tuple)):
            return [show(v) for v in value]
        if isinstance(value, dict):
            return {str(k): show(v) for k, v in value.items()}
        if value is None or isinstance(value, (bool, int, float, str)):
            return value
        return repr(_plain(value))

    return {k: show(v) for k, v in estimator.get_params(deep=True).items()}
