"""The import rule of docs/ARCHITECTURE.md, read from the code with ast.

Every import in app/, at module level and inside functions, is an arrow from one
module to another. The arrows form no cycle: a module never imports, directly or
through others, a module that imports it. None of our own modules is imported inside
a function (where it would hide a dependency, usually a cycle), and none behind an
``except ImportError`` (which would drop a feature silently on a typo). A library may be
imported inside a function only when a deployment may do without it, as
OPTIONAL_LIBRARIES says and why. The walker is tried on planted packages too, so it is
known to find what it looks for.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "app"

# Libraries imported where they are used rather than at the top, and why.
OPTIONAL_LIBRARIES = {
    "redis": "only an app with REDIS_URL uses it (app/notifications/queue.py, app/health.py)",
    "rq": "only an app with REDIS_URL uses it (app/notifications/queue.py)",
    "openpyxl": "only .xlsx member imports need it (app/districts/importer.py)",
}


@dataclass(frozen=True)
class Import:
    module: str       # the importing module
    target: str       # the module imported
    line: int
    in_function: bool
    guarded: bool     # inside a try whose handlers catch ImportError


def modules(root: Path, package: str = PACKAGE) -> dict[str, Path]:
    """Every module of ``package`` under ``root``, by dotted name (a package by its own name)."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names)


def _resolve(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: dict[str, Path]) -> list[str]:
    """The modules an import statement loads: ``from a import b`` is module a.b when there is one."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        parent = module.split(".") if is_package else module.split(".")[:-1]
        parent = parent[:len(parent) - node.level + 1]
        base = ".".join(parent + ([base] if base else []))
    targets = [f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in known]
    if len(targets) < len(node.names):
        targets.append(base)  # names defined in the module (or its __init__) itself
    return targets


def imports(root: Path, package: str = PACKAGE) -> list[Import]:
    """Every import statement in ``package``, with where it stands."""
    known = modules(root, package)
    found: list[Import] = []
    for module, path in known.items():
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, in_function: bool, guarded: bool) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.Import, ast.ImportFrom)):
                    for target in _resolve(child, module, is_package, known):
                        found.append(Import(module, target, child.lineno, in_function, guarded))
                elif isinstance(child, ast.Try):
                    catches = any(_catches_import_error(h) for h in child.handlers)
                    for part in child.body:
                        visit_one(part, in_function, guarded or catches)
                    for part in (*child.handlers, *child.orelse, *child.finalbody):
                        visit_one(part, in_function, guarded)
                else:
                    nested = isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                    visit(child, in_function or nested, guarded)

        def visit_one(node: ast.AST, in_function: bool, guarded: bool) -> None:
            wrapper = ast.Module(body=[node], type_ignores=[])
            visit(wrapper, in_function, guarded)

        visit(ast.parse(path.read_text(), filename=str(path)), False, False)
    return found


def _own(target: str, package: str) -> bool:
    return target == package or target.startswith(package + ".")


def cycles(root: Path, package: str = PACKAGE) -> list[list[str]]:
    """Each group of modules that import each other in a loop, as one loop through them (A -> B -> ... -> A)."""
    known = modules(root, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for imp in imports(root, package):
        if imp.target in known and imp.target != imp.module:
            graph[imp.module].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(start: str) -> None:
        # Tarjan's strongly connected components, iteratively (no recursion limit to mind).
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = len(index)
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph[succ]))))
                    break
                if succ in on_stack:
                    low[node] = min(low[node], index[succ])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.add(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_loop_through(group, graph) for group in groups]


def _loop_through(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """One loop of imports inside a strongly connected group, from its first module back to it."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for succ in sorted(graph[node] & group):
                if succ == start:
                    return paths[node] + [start]
                if succ not in paths:
                    paths[succ] = paths[node] + [succ]
                    following.append(succ)
        frontier = following
    raise AssertionError(f"no loop through {sorted(group)}")


def hidden_imports(root: Path, package: str = PACKAGE) -> list[str]:
    """Imports of our own modules inside functions, and of libraries not on OPTIONAL_LIBRARIES."""
    return [f"{imp.module}:{imp.line} imports {imp.target} inside a function"
            for imp in imports(root, package)
            if imp.in_function and (_own(imp.target, package) or imp.target.split(".")[0] not in OPTIONAL_LIBRARIES)]


def import_fallbacks(root: Path, package: str = PACKAGE) -> list[str]:
    """Imports of our own modules that an ``except ImportError`` would let fail silently."""
    return [f"{imp.module}:{imp.line} imports {imp.target} under an except ImportError"
            for imp in imports(root, package) if imp.guarded and _own(imp.target, package)]


# --- the app ---------------------------------------------------------------------------------------

def test_the_imports_of_app_form_no_cycle():
    found = cycles(ROOT)
    assert not found, "import cycles:\n" + "\n".join(" -> ".join(loop) for loop in found)


def test_no_import_hides_inside_a_function():
    assert hidden_imports(ROOT) == []


def test_no_module_of_ours_is_imported_behind_an_import_error_fallback():
    assert import_fallbacks(ROOT) == []


# Modules built ahead of the code that will call them, and where that code comes from.
NOT_YET_CALLED: dict[str, str] = {}
# Programs of their own, run by `python -m` and never imported by the app.
PROGRAMS = {"app.audit.verify_export": "the standalone verifier of exported audit logs and clip receipts"}


def test_the_walk_reads_the_whole_app():
    holding_code = {name for name, path in modules(ROOT).items() if path.read_text().strip()}
    imported = {imp.target for imp in imports(ROOT) if _own(imp.target, PACKAGE)}
    # Every module is imported by another, and seen to be, but the one RQ loads by name,
    # those whose callers are still to come (NOT_YET_CALLED) and the PROGRAMS.
    assert holding_code - imported == {"app.rq_jobs", *NOT_YET_CALLED, *PROGRAMS}
    assert ("app.footage.lifecycle", "app.notifications.dispatcher") in {(i.module, i.target) for i in imports(ROOT)}


# --- the walker, on planted packages --------------------------------------------------------------

def _plant(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_a_planted_cycle_is_found_and_named(tmp_path):
    root = _plant(tmp_path, {
        "app/__init__.py": "",
        "app/footage/__init__.py": "",
        "app/footage/lifecycle.py": "from app.notifications import dispatcher\n",
        "app/notifications/__init__.py": "",
        "app/notifications/dispatcher.py": "from app.notifications.queue import enqueue\n",
        "app/notifications/queue.py": "def enqueue():\n    from app.footage import lifecycle\n",
        "app/links.py": "import app.db\n",
        "app/db.py": "",
    })
    assert cycles(root) == [["app.footage.lifecycle", "app.notifications.dispatcher", "app.notifications.queue",
                             "app.footage.lifecycle"]]
    assert hidden_imports(root) == ["app.notifications.queue:2 imports app.footage.lifecycle inside a function"]


def test_a_package_importing_its_own_module_and_back_is_a_cycle(tmp_path):
    root = _plant(tmp_path, {
        "app/__init__.py": "from app import jobs\n",
        "app/jobs.py": "from . import create_app\n",
    })
    assert cycles(root) == [["app", "app.jobs", "app"]]


def test_a_planted_fallback_and_an_undeclared_library_are_found(tmp_path):
    root = _plant(tmp_path, {
        "app/__init__.py": "",
        "app/messages.py": ("try:\n    from app.footage.service import action_path\nexcept ImportError:\n"
                            "    action_path = None\n"),
        "app/queue.py": "def connect():\n    import redis\n    import requests\n",
    })
    assert import_fallbacks(root) == ["app.messages:2 imports app.footage.service under an except ImportError"]
    assert hidden_imports(root) == ["app.queue:3 imports requests inside a function"]
    assert cycles(root) == []
