"""The analysis is layers whose folders show the path of a file, with imports only downwards:

    core (finding records) -> catalogue (library knowledge, data) -> syntax (source, parsing,
    incremental) -> semantic (bindings, scopes, the model) -> facts (the interpreter) -> rules
    -> engine

Every import inside ``analyzers/`` is read (also those inside functions and under
``TYPE_CHECKING``): a module may import only from its own layer or a lower one, and no modules
import each other in a circle, inside a layer included.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "analyzers"
LAYERS = ["core", "catalogue", "syntax", "semantic", "facts", "rules", "engine"]


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(root: Path = ROOT) -> dict[str, set[str]]:
    """Module -> the modules of ``root`` it imports (relative imports and absolute
    ``torchpit.analyzers`` ones)."""
    files = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("torchpit.analyzers."):
                    target = node.module[len("torchpit.analyzers.") :]
                else:
                    continue
                for alias in node.names:  # ``from ..rules import pitfalls`` names a module
                    member = f"{target}.{alias.name}" if target else alias.name
                    deps.add(member if member in files else target)
            elif isinstance(node, ast.Import):
                deps.update(a.name[len("torchpit.analyzers.") :] for a in node.names if a.name.startswith("torchpit.analyzers."))
        deps &= files.keys()
        deps.discard(name)
        graph[name] = deps
    return graph


def _layer(module: str) -> int:
    head = module.split(".")[0]
    return LAYERS.index(head) if head in LAYERS else -1


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_every_module_is_in_a_layer():
    outside = [m for m in import_graph() if m and _layer(m) < 0]
    assert outside == [], f"modules of analyzers/ outside the layer folders {LAYERS}: {outside}"


def test_imports_go_only_downwards():
    graph = import_graph()
    upward = [f"{m} -> {d}" for m in sorted(graph) for d in sorted(graph[m]) if _layer(d) > _layer(m)]
    assert upward == []


def test_no_import_cycles():
    assert cycles(import_graph()) == []


def test_the_check_sees_a_cycle_and_an_upward_import(tmp_path):
    """The checks above can fail: a tree with one upward import that closes a circle."""
    (tmp_path / "syntax").mkdir()
    (tmp_path / "engine").mkdir()
    (tmp_path / "syntax" / "a.py").write_text("def f():\n    from ..engine import b\n")
    (tmp_path / "engine" / "b.py").write_text("from ..syntax.a import f\n")
    graph = import_graph(tmp_path)
    assert graph == {"syntax.a": {"engine.b"}, "engine.b": {"syntax.a"}}
    assert cycles(graph) == [["engine.b", "syntax.a"]]
