"""Navigating a parsed tree: parent links (weak references set by the single traversal),
ancestors, child fields and positions."""

from __future__ import annotations

import ast
from typing import Iterator

PARENT = "_tp_parent"
FIELD = "_tp_field"

# Fields whose values are shared singletons (Load/Store, operators): never child nodes to visit.
_SKIP_FIELDS = frozenset({"ctx", "op", "ops"})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(tp: type) -> tuple[str, ...]:
    """The fields of node type ``tp`` that may hold child nodes (cached per type)."""
    f = _CHILD_FIELDS.get(tp)
    if f is None:
        f = _CHILD_FIELDS[tp] = tuple(n for n in tp._fields if n not in _SKIP_FIELDS)
    return f


def parent(node: ast.AST) -> ast.AST | None:
    # Parents are weak references: a tree with strong child-to-parent links is one big reference
    # cycle, which only the cyclic garbage collector can free, and collecting a few 20,000-node
    # trees cost more than the analysis itself on every keystroke (benchmarks/README.md).
    ref = getattr(node, PARENT, None)
    return ref() if ref is not None else None


def ancestors(node: ast.AST) -> Iterator[ast.AST]:
    ref = getattr(node, PARENT, None)
    while ref is not None:
        cur = ref()
        if cur is None:
            return
        yield cur
        ref = getattr(cur, PARENT, None)


def pos(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def end_pos(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


def top_statement(node: ast.AST) -> ast.AST:
    """The top-level statement holding ``node`` (``node`` itself at the top level)."""
    top = node
    for anc in ancestors(node):
        if isinstance(anc, ast.Module):
            break
        top = anc
    return top
