"""Docstring examples of ``skreid/`` in the default test run (``--doctest-modules``).

pytest's doctest collector imports every module to find its examples, and reads every name
of it: the lazy names of ``skreid``, ``skreid.reid``, ``skreid.pets`` (PEP 562) and the modules
of ``skreid/_keras`` would load TensorFlow while the suite is still being collected. Here the
examples are found in the source (:mod:`ast`), and a module is imported when one of its
examples runs, in that module's namespace, with the ``doctest_optionflags`` of pyproject.toml.
Doctests are collected from ``skreid/`` only (the test modules hold no examples).
"""

import ast
import doctest
import importlib
import io
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
PACKAGE = ROOT / "skreid"


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    collected = yield
    doctests = [c for c in collected if isinstance(c, pytest.Module) and
                type(c).__name__ == "DoctestModule"]
    if not doctests:
        return collected
    others = [c for c in collected if c not in doctests]
    if PACKAGE not in file_path.parents:
        return others
    return [*others, DeferredDoctestModule.from_parent(parent, path=file_path)]


def _module_name(path):
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _docstrings(tree, prefix):
    """``(qualified name, docstring, line of the docstring)`` of a module and its defs."""
    def visit(node, name):
        body = getattr(node, "body", [])
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                and isinstance(body[0].value.value, str):
            yield name, body[0].value.value, body[0].lineno
        for child in body:
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                yield from visit(child, f"{name}.{child.name}")

    yield from visit(tree, prefix)


class DeferredDoctestModule(pytest.File):
    """The examples of one module, found without importing it."""

    def collect(self):
        name = _module_name(self.path)
        tree = ast.parse(self.path.read_text(encoding="utf-8"), str(self.path))
        parser = doctest.DocTestParser()
        for qualname, text, lineno in _docstrings(tree, name):
            # doctest counts lines from 0
            test = parser.get_doctest(text, {}, qualname, str(self.path), lineno - 1)
            if test.examples:
                yield DeferredDoctest.from_parent(self, name=qualname, module=name, dtest=test)


class DeferredDoctest(pytest.Item):
    """One docstring's examples, run in the namespace of its module (imported now)."""

    def __init__(self, *, module, dtest, **kwargs):
        super().__init__(**kwargs)
        self.module, self.dtest = module, dtest
        self.report = ""

    def runtest(self):
        if all(example.options.get(doctest.SKIP) for example in self.dtest.examples):
            pytest.skip("all tests skipped by +SKIP option")
        self.dtest.globs = dict(vars(importlib.import_module(self.module)))
        flags = 0
        for name in self.config.getini("doctest_optionflags"):
            flags |= doctest.OPTIONFLAGS_BY_NAME[name]
        runner = doctest.DocTestRunner(optionflags=flags)
        out = io.StringIO()
        result = runner.run(self.dtest, out=out.write, clear_globs=True)
        if result.failed:
            self.report = out.getvalue()
            raise DeferredDoctestFailure(self.report)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, DeferredDoctestFailure):
            return self.report
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, self.dtest.lineno, f"[doctest] {self.name}"


class DeferredDoctestFailure(Exception):
    """A deferred docstring example printed something else than its expected output."""
