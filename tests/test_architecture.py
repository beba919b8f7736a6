"""The shape of the package: data flows one way through the pipeline's modules.

Every import counts here — at module level, inside a function, or only for type checking —
so a cycle cannot hide behind a late import."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "portalspec"


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The portalspec modules ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("portalspec"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if not target.startswith("portalspec"):
                continue
            found.add(target)
            for alias in node.names:  # `from . import formats` imports a module
                if (PACKAGE.parent / (target + "." + alias.name).replace(".", "/")).with_suffix(".py").exists():
                    found.add(target + "." + alias.name)
    found.discard(name)
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in imports(path) if m in modules and m != "portalspec"} for name, path in modules.items()}


def test_there_is_no_import_cycle_not_even_behind_a_late_import():
    edges = graph()
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges[node]):
            if state.get(nxt) == 1:
                cycle = path[path.index(nxt):] + [nxt]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node)


def test_the_library_never_imports_the_cli_nor_click():
    for name, targets in graph().items():
        if name.startswith("portalspec.cli") or name == "portalspec.__main__":
            continue
        assert not any(t.startswith("portalspec.cli") for t in targets), name
        tree = ast.parse((PACKAGE.parent / name.replace(".", "/")).with_suffix(".py").read_text()
                         if not (PACKAGE.parent / name.replace(".", "/") / "__init__.py").exists()
                         else (PACKAGE.parent / name.replace(".", "/") / "__init__.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.split(".")[0] == "click" for a in node.names), name
            if isinstance(node, ast.ImportFrom):
                assert (node.module or "").split(".")[0] != "click", name
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("print", "exit", "quit"), f"{name} calls {node.func.id}()"


def test_the_low_stages_import_nothing_from_the_stages_after_them():
    """The tables and value types at the bottom stand on their own."""
    edges = graph()
    assert edges["portalspec.kinds"] == set()
    assert edges["portalspec.headers"] == set()
    assert edges["portalspec.auth"] <= {"portalspec.diagnostics", "portalspec.template"}
    for low in ("portalspec.values", "portalspec.model", "portalspec.compiler", "portalspec.render"):
        assert not edges[low] & {"portalspec.transport", "portalspec.sync", "portalspec.destination",
                                 "portalspec.serve", "portalspec.amplitude", "portalspec.inputs"}, low
