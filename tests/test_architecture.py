"""The package's shape: one namespace, one-way imports without circles, short functions.

Reads the source with :mod:`ast` (imports inside function bodies included), so a circle or an
upward import fails here even where it would only bite at run time.
"""

from __future__ import annotations

import ast
import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: installed name -> folder, as setup.cfg maps them
FOLDERS = {"hierlearn": ROOT / "src" / "hierlearn", "hierlearn.targets": ROOT / "targets",
           "hierlearn.kernels": ROOT / "kernels", "hierlearn.solvers": ROOT / "solvers",
           "hierlearn.bench": ROOT / "bench"}
#: data flows one way: a module may import its own layer and the ones below it
LAYERS = {"hierlearn": 0, "hierlearn.targets": 1, "hierlearn.kernels": 2, "hierlearn.solvers": 3,
          "hierlearn.bench": 4, "hierlearn.__main__": 5}  # __main__: the entry point, on top
TOP_LEVEL_NAMES = ("kernels", "solvers", "targets", "bench")
MAX_FUNCTION_LINES = 80


def _modules():
    """{module name: path} for every source file of the package."""
    out = {}
    for pkg, folder in FOLDERS.items():
        for path in folder.rglob("*.py"):
            rel = path.relative_to(folder).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if pkg == "hierlearn" and parts and parts[0] in ("targets", "kernels", "solvers",
                                                             "bench"):
                continue  # not there in the src layout; guard anyway
            out[".".join([pkg, *parts])] = path
    return out


MODULES = _modules()


def _is_package(name):
    return MODULES.get(name, Path()).name == "__init__.py"


def _imports(name, path):
    """Internal modules imported anywhere in the file (module level and function bodies)."""
    tree = ast.parse(path.read_text())
    package = name if _is_package(name) else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                full = f"{base}.{a.name}"
                found.add(full if full in MODULES else base)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _layer(name):
    return max(LAYERS[p] for p in LAYERS if name == p or name.startswith(p + "."))


def test_no_import_circles():
    """Tarjan's strongly connected components: every one must be a single module."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(comp)

    for v in sorted(GRAPH):
        if v not in index:
            visit(v)
    circles = [sorted(c) for c in comps if len(c) > 1]
    assert not circles, f"import circles: {circles}"


def test_imports_only_run_downward():
    upward = [(a, b) for a, deps in GRAPH.items() for b in deps if _layer(b) > _layer(a)]
    assert not upward, f"upward imports (targets -> kernels -> solvers -> bench): {upward}"


def test_numba_leaf_imports_nothing_above_it():
    leaf = "hierlearn.kernels._numba"
    bad = [(a, b) for a, deps in GRAPH.items() if a.startswith(leaf) for b in deps
           if not (b.startswith(leaf) or b == "hierlearn._measured")]
    assert not bad, bad


@pytest.mark.parametrize("folder", ["src", "targets", "kernels", "solvers", "bench", "tests"])
def test_no_top_level_package_names_are_imported(folder):
    """`kernels`, `solvers`, ... belong to other PyPI projects: only hierlearn.* is ours."""
    for path in (ROOT / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            for n in names:
                assert n.split(".")[0] not in TOP_LEVEL_NAMES, f"{path}: import {n}"


def test_functions_are_short_outside_the_numba_leaf():
    """At most 80 lines of code (docstrings aside) per function, outside the numba formula
    leaf (whose loops are kept whole so that LLVM sees them)."""
    long = []
    for name, path in MODULES.items():
        if name.startswith("hierlearn.kernels._numba"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                doc = node.body[0]
                if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) \
                        and isinstance(doc.value.value, str):
                    lines -= doc.end_lineno - doc.lineno + 1  # the docstring is not code
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name} ({lines} lines)")
    assert not long, long


def test_setup_cfg_lists_every_package_folder():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    listed = set(cfg["options"]["packages"].split())
    mapped = dict(line.split(" = ") for line in cfg["options"]["package_dir"].strip().splitlines())
    assert {k: ROOT / v for k, v in mapped.items()} == FOLDERS
    packages = {name for name in MODULES if _is_package(name)}
    assert listed == packages
