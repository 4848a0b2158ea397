"""`import skreid` is cheap: no TensorFlow, no Keras, well under a second."""

import subprocess
import sys

import pytest

HEAVY = ("tensorflow", "keras")


def _run(code):
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.mark.parametrize(
    "statement",
    [
        "import skreid",
        "import skreid.preprocessing, skreid.utils",
        "from skreid import datasets, metrics, model_selection",
        "import skreid.metrics.pairwise",
        "from skreid.reid import PCAReID",
        "import skreid.pets",
        "import skreid.plotting",
        "import skreid.cli",
        "import skreid.runtime",
        "from skreid.runtime import OnnxEmbedder, OnnxPetNet",
        "from skreid.reid import ReIDMixin",
        "from skreid import save, load; from skreid.saving import read_metadata",
    ],
)
def test_import_pulls_in_no_tensorflow(statement):
    probe = f"import sys; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = _run(f"{statement}\n{probe}")
    assert loaded == "[]", f"{statement!r} imported {loaded}"


def test_import_is_fast():
    elapsed = float(
        _run("import time; t = time.perf_counter(); import skreid; print(time.perf_counter() - t)")
    )
    assert elapsed < 0.5


def test_lazy_keras_estimators_are_listed():
    import skreid

    assert {"PCAReID", "TripletEmbedder", "MultiTaskPetNet", "FineTunedPetNet"} <= set(dir(skreid))
    with pytest.raises(AttributeError, match="no attribute"):
        skreid.NotAThing  # noqa: B018
