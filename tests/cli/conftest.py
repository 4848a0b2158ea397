"""The CLI tests keep the key that signs the folders an index records (skreid.cli._origin)
in a temporary cache folder, not in the user's ~/.cache."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))
