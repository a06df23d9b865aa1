"""The package's import graph has no cycle, and every module imports on its own, in a fresh interpreter.

Every import of an hfrecipes module counts as an edge: module-level and function-level (lazy) ones alike, relative and
absolute; a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
import importlib.util
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from conftest import ROOT

SRC = ROOT / "src"
PACKAGE = SRC / "hfrecipes"
# Modules of an optional dependency (pip install 'hfrecipes[data]'), checked where it is installed.
NEEDS = {"hfrecipes.prep_steps": "datatrove"}


def module_files() -> dict[str, Path]:
    """Every module of the package (``hfrecipes.x.y``) and its file; a package by its ``__init__.py``."""
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def imported(module: str, path: Path, modules: set[str]) -> set[str]:
    """The hfrecipes modules that ``module`` imports anywhere in its file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*base, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            for alias in node.names:
                # `from . import x` imports the module hfrecipes.x; `from .x import name` the module hfrecipes.x
                targets.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
    return {t for t in targets if t in modules and t != module}


def import_graph() -> dict[str, set[str]]:
    files = module_files()
    return {module: imported(module, path, set(files)) for module, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path, on_path = [start], {start}
        stack = [iter(sorted(graph[start]))]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                done.add(path[-1])
                on_path.discard(path.pop())
            elif nxt in on_path:
                return [*path[path.index(nxt) :], nxt]
            elif nxt not in done:
                path.append(nxt)
                on_path.add(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_the_graph_sees_every_kind_of_import():
    graph = import_graph()
    assert "hfrecipes.errors" in graph["hfrecipes.config"]  # module level, relative
    assert "hfrecipes.validation" in graph["hfrecipes.config"]  # inside a method
    assert "hfrecipes.corpus" in graph["hfrecipes.tasks.python_docs_mc"]  # absolute, inside a function
    assert "hfrecipes.datafiles" in graph["hfrecipes.data"]  # `from . import datafiles`
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_leaf_modules_import_nothing_of_hfrecipes():
    graph = import_graph()
    for leaf in ("hfrecipes.errors", "hfrecipes.lr_schedule"):
        assert graph[leaf] == set(), f"{leaf} imports {sorted(graph[leaf])}"
    assert graph["hfrecipes.paths"] <= {"hfrecipes.errors"} and graph["hfrecipes.cliargs"] <= {"hfrecipes.errors"}


def importable_modules() -> list[str]:
    """The package's modules that ``import`` reaches (the evaluate modules under metrics/ and the lm-eval task files
    under tasks/ are loaded by path, from folders that are not packages)."""
    modules = [m for m, path in module_files().items() if (path.parent / "__init__.py").is_file()]
    return [m for m in modules if m not in NEEDS or importlib.util.find_spec(NEEDS[m]) is not None]


def test_every_module_imports_on_its_own():
    """Each module first, in a fresh interpreter: no module works only when another was imported before it."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [os.environ.get("PYTHONPATH")])])}

    def run(module: str) -> tuple[str, subprocess.CompletedProcess]:
        code = f"import importlib; importlib.import_module({module!r})"
        return module, subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=900
        )

    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(pool.map(run, importable_modules()))
    failed = {m: p.stderr.strip().splitlines()[-1] for m, p in results if p.returncode != 0}
    assert not failed, f"modules that do not import on their own: {failed}"
