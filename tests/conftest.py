"""Suite-wide guards."""

import os
import sys

import pytest

# the shared test helpers (tests/_*.py) are importable from every test folder
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(autouse=True, scope="module")
def _restore_environment():
    """Give every test module the environment it started with.

    ``distributed.LocalCluster`` writes ``OMP_NUM_THREADS=1`` (and other variables) into the
    parent's ``os.environ``; later tests that start a fresh Python process then run it with one
    BLAS thread while this process keeps two, and bit-exact comparisons across processes fail.
    """
    saved = dict(os.environ)
    yield
    os.environ.clear()
    os.environ.update(saved)
