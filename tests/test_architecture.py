"""The import graph: one way (each package imports only packages of a lower rank, as
dependencies: _version -> utils -> datasets/preprocessing/metrics.pairwise -> metrics ->
search/_keras -> estimators -> runtime/saving -> parallel/plotting -> cli), every package
ranked, no circles anywhere (skreid's packages, its modules, the benchmark scripts), no import
of another package's private module, and no module over ~400 lines. No allow-lists: a rule
that does not hold is fixed where it fails."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# dependency rank of each package: it may import packages of a lower rank only (and itself).
# skreid.metrics.pairwise, the distance engine, is a package of its own below skreid.metrics:
# everything that compares features builds on it, and it builds on nothing but skreid.utils.
RANKS = {
    "skreid._version": 0,
    "skreid.utils": 1,
    "skreid.datasets": 2,
    "skreid.preprocessing": 2,
    "skreid.model_selection": 2,
    "skreid.metrics.pairwise": 2,
    "skreid.metrics": 3,
    "skreid.search": 4,
    "skreid._keras": 4,
    "skreid.reid": 5,
    "skreid.pets": 5,
    "skreid.runtime": 6,
    "skreid.saving": 6,
    "skreid.parallel": 7,
    "skreid.plotting": 7,
    "skreid.cli": 8,
}

# packages inside packages that are ranked on their own
SUBPACKAGES = ("skreid.metrics.pairwise",)

# the top-level modules of the public face (``skreid/__init__.py`` imports lazily, the
# ``python -m skreid`` entry point runs the CLI): above every rank
FACE = "skreid"

# discovery imports every package on purpose, lazily (like sklearn.utils.all_estimators)
DISCOVERY = {"skreid.utils._discovery"}

# skreid's packages: its folders with an __init__.py and its modules, by dotted name
PACKAGES = {
    f"skreid.{p.stem}" for p in (ROOT / "skreid").iterdir()
    if (p.is_dir() and (p / "__init__.py").exists())
    or (p.suffix == ".py" and p.stem not in ("__init__", "__main__"))
} | set(SUBPACKAGES)


def _module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path, module_level_only=False):
    """Names imported by the file at ``path`` (absolute, resolved relative imports)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
            out.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant)):
            out.add(node.args[0].value)  # importlib.import_module("name") counts too
    return out


def _package(name):
    """The ranked package of a dotted name under skreid (a name the top-level package
    exports, like ``skreid.__version__``, belongs to the public face)."""
    for sub in SUBPACKAGES:
        if name == sub or name.startswith(sub + "."):
            return sub
    parts = name.split(".")
    if len(parts) < 2:
        return name
    top = ".".join(parts[:2])
    return top if parts[0] != "skreid" or top in PACKAGES else FACE


def _sources():
    return sorted((ROOT / "skreid").rglob("*.py"))


def _find_cycle(graph):
    """A cycle of ``graph`` ({node: set of nodes}) as a list, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _package_graph():
    graph = {}
    for path in _sources():
        name = _module_name(path)
        src = _package(name)
        if src == FACE or name in DISCOVERY:
            continue
        for imported in _imports(path):
            if imported.startswith("skreid.") and _package(imported) != src:
                graph.setdefault(src, set()).add(_package(imported))
    return graph


def test_every_package_is_ranked():
    assert set(RANKS) == PACKAGES, (
        f"rank {sorted(PACKAGES - set(RANKS))} in RANKS; drop {sorted(set(RANKS) - PACKAGES)}"
    )


def test_packages_import_one_way():
    wrong = []
    for src, targets in _package_graph().items():
        for dst in targets:
            if dst != FACE and RANKS[dst] >= RANKS[src]:
                wrong.append(f"{src} (rank {RANKS[src]}) imports {dst} (rank {RANKS[dst]})")
    assert not wrong, wrong


def test_the_engine_imports_only_utils():
    # skreid.metrics.pairwise must stay importable alone, without Keras, estimators or search
    assert _package_graph().get("skreid.metrics.pairwise", set()) <= {"skreid.utils"}


def test_no_import_circles_between_packages():
    assert _find_cycle(_package_graph()) is None


def test_no_import_circles_between_modules():
    names = {_module_name(p): p for p in _sources()}
    graph = {}
    for name, path in names.items():
        for imported in _imports(path, module_level_only=True):
            # "from skreid.x import y" names module skreid.x.y only if that module exists
            target = imported if imported in names else None
            if target and target != name and not name.startswith(target + "."):
                graph.setdefault(name, set()).add(target)
    assert _find_cycle(graph) is None


def test_no_import_circles_between_benchmarks():
    scripts = {p.stem: p for p in (ROOT / "benchmarks").glob("*.py")}
    graph = {name: {m.split(".")[0] for m in _imports(path)} & set(scripts) - {name}
             for name, path in scripts.items()}
    assert _find_cycle(graph) is None


@pytest.mark.parametrize("folder", ["skreid", "benchmarks", "examples"])
def test_no_private_module_of_another_package(folder):
    wrong = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        own = _package(_module_name(path)) if folder == "skreid" else None
        for imported in _imports(path):
            parts = imported.split(".")
            private = [i for i, part in enumerate(parts) if part.startswith("_")
                       and part not in ("__version__",)]
            if not imported.startswith("skreid.") or not private:
                continue
            # skreid._keras is the one private package: the estimators build on it
            if folder == "skreid" and (_package(imported) == own
                                       or (imported.startswith("skreid._keras.")
                                           and own in ("skreid.reid", "skreid.pets"))):
                continue
            if _package(imported) == "skreid._keras" and len(parts) == 3 and parts[2][0] != "_":
                continue  # a public name of skreid._keras
            if imported == "skreid._keras" or imported.startswith("skreid._version"):
                continue
            wrong.append(f"{path.relative_to(ROOT)}: {imported}")
    assert not wrong, wrong


def test_no_module_over_400_lines():
    long = {str(p.relative_to(ROOT)): n for p in _sources()
            if (n := len(p.read_text().splitlines())) > 420}
    assert not long, long
