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


def test_collecting_the_docstring_examples_imports_no_tensorflow():
    """``pytest`` collects skreid's examples (``--doctest-modules``, conftest.py) from the
    source: a run of other tests never pays for TensorFlow because of them."""
    import os

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = (
        "import sys, pytest\n"
        "rc = pytest.main(['--collect-only', '-q', '-p', 'no:cacheprovider', 'skreid'])\n"
        f"print(int(rc), sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=root).stdout.strip().splitlines()
    n_items = [line for line in out if "tests collected" in line or "test collected" in line]
    assert out[-1] == "0 []", out[-5:]
    assert n_items and int(n_items[0].split()[0]) >= 60, n_items
