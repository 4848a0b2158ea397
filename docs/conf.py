"""Sphinx configuration of the skreid documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (``tox -e docs``).

The example gallery is rendered from ``examples/`` by sphinx-gallery. Executing the examples
trains Keras models (about a minute each on a CPU), so by default they are **not executed**:
the pages show the code without output figures. Set ``SKREID_GALLERY_EXECUTE=1`` to run them
(with ``SKREID_TEST_DATA`` also set, on the real data), e.g. for a release build.
"""

import os
import warnings

import skreid

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

project = "skreid"
author = "The skreid developers"
copyright = "2026, The skreid developers"
release = skreid.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb",
                    "auto_examples/**/*.ipynb"]
root_doc = "index"

# -- autodoc / autosummary / numpydoc ---------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False  # autosummary lists the members; avoids duplicate stubs
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- sphinx-gallery ---------------------------------------------------------------------------
_EXECUTE = os.environ.get("SKREID_GALLERY_EXECUTE", "0").lower() in ("1", "true", "yes")
sphinx_gallery_conf = {
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "plot_gallery": _EXECUTE,
    "download_all_examples": False,
    "within_subsection_order": "FileNameSortKey",
    "doc_module": ("skreid",),
    "backreferences_dir": None,
    "remove_config_comments": True,
    "matplotlib_animations": False,
}

# -- HTML -------------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"skreid {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 7,
}
html_show_sourcelink = False

# Keras/TensorFlow deprecation chatter while autodoc imports the estimators is not a docs
# problem; Sphinx's own warnings still fail the -W build.
warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)

# -- every public name is in the API reference ------------------------------------------------
_API_MODULES = [
    "skreid",
    "skreid.datasets",
    "skreid.preprocessing",
    "skreid.reid",
    "skreid.pets",
    "skreid.metrics",
    "skreid.model_selection",
    "skreid.plotting",
]


def _check_api_reference(app):
    """Warn (an error under -W) when a name in a public module's ``__all__`` is not listed in
    api.rst, so the reference cannot silently fall behind the code."""
    import importlib

    with open(os.path.join(app.srcdir, "api.rst"), encoding="utf-8") as fh:
        listed = fh.read()
    from sphinx.util import logging

    logger = logging.getLogger("skreid.docs")
    for modname in _API_MODULES:
        try:
            module = importlib.import_module(modname)
        except ImportError as exc:
            logger.warning(f"cannot import {modname} for the API reference: {exc}")
            continue
        for name in getattr(module, "__all__", []):
            if name.startswith("_") or name in ("datasets", "metrics", "model_selection",
                                                "pets", "plotting", "preprocessing", "reid"):
                continue
            if name not in listed:
                logger.warning(f"{modname}.{name} is public (in __all__) but missing from "
                               "docs/api.rst")


def _skip_member(app, what, name, obj, skip, options):
    """Leave out sklearn's generated metadata-routing methods (``set_*_request``,
    ``get_metadata_routing``): their docstrings point into sklearn's own docs."""
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return skip


def setup(app):
    app.connect("builder-inited", _check_api_reference)
    app.connect("autodoc-skip-member", _skip_member)

