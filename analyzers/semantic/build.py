"""Building the semantic model: the single traversal of a file, and the models of the
project's other modules.

``traverse`` walks a parsed file once: it annotates parents, builds the
:class:`~.model.SemanticModel` and buckets nodes by type for the rules. ``load_module_model``
gives another module's model (no rules run), for the questions that cross a module boundary.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from weakref import ref as _weakref

from ..syntax.parsing import parse_source
from ..syntax.source import SourceFile
from ..syntax.tree import FIELD, PARENT, child_fields
from .model import SemanticModel, StatementRecord


@dataclass
class Unit:
    """One top-level statement: the rules' per-node checks run, and are memoised, per unit."""

    stmt: ast.stmt
    # Where its nodes begin and end in each bucket (a pre-order walk keeps them together). With
    # fragments (the language server) only the types it holds are there; a missing type is empty.
    start: dict[type, int]
    end: dict[type, int]
    names: set[str]  # module-level names it binds, and def/class names anywhere in it


@dataclass
class Fragment:
    """A top-level statement's nodes by type and what it added to the semantic model, kept by
    the language server so that the next version need not walk the statement again."""

    stmt: ast.stmt
    nodes: dict[type, list[ast.AST]]
    record: StatementRecord


def traverse(
    tree: ast.Module,
    model: SemanticModel,
    wanted: set[type],
    units: list[Unit] | None = None,
    fragments: dict[int, Fragment] | None = None,
) -> dict[type, list[ast.AST]]:
    """The single traversal: annotate parents, build the semantic model, bucket nodes by type.

    Walks one top-level statement at a time and, with ``units``, notes where each one's
    nodes lie in the buckets. With ``fragments`` (the language server's, per document), an
    unchanged statement (the same node objects, from the incremental parser) is not walked
    again: its nodes and its part of the model are taken from the fragment, and a statement
    that is walked leaves one. Iterative (no recursion), so a 1,000-deep expression cannot
    overflow the stack.
    """
    buckets: dict[type, list[ast.AST]] = {t: [] for t in wanted}
    visitors = model.visitor_table()
    kinds: dict = {}  # what the walk does with each node type, for this traversal
    module_bucket = buckets.get(ast.Module)
    if module_bucket is not None:
        module_bucket.append(tree)
    ref = _weakref(tree)
    scope = model.module_scope
    for name in child_fields(ast.Module):  # body, type_ignores
        for item in getattr(tree, name, None) or ():
            if not isinstance(item, ast.AST):
                continue
            setattr(item, PARENT, ref)
            setattr(item, FIELD, name)
            if name != "body":
                _walk(item, scope, buckets, visitors, kinds)
                continue
            frag = fragments.get(id(item)) if fragments is not None else None
            if frag is not None and frag.stmt is item:
                # (the spans of the types it holds only: readers take a missing type as empty)
                start = {tp: len(buckets[tp]) for tp in frag.nodes}
                for tp, nodes in frag.nodes.items():
                    buckets[tp].extend(nodes)
                end = {tp: len(buckets[tp]) for tp in frag.nodes}
                model.adopt(frag.record, item.lineno)
                rec = frag.record
            else:
                before = {t: len(v) for t, v in buckets.items()} if units is not None or fragments is not None else {}
                rec = model.begin_statement(item)  # type: ignore[arg-type]
                _walk(item, scope, buckets, visitors, kinds)
                if fragments is not None:
                    nodes = {t: v[before[t] :] for t, v in buckets.items() if len(v) > before[t]}
                    fragments[id(item)] = Fragment(item, nodes, rec)  # type: ignore[arg-type]
                    start, end = {t: before[t] for t in nodes}, {t: len(buckets[t]) for t in nodes}
                else:
                    start, end = before, ({t: len(v) for t, v in buckets.items()} if units is not None else {})
            if units is not None:
                units.append(Unit(item, start, end, rec.names))  # type: ignore[arg-type]
                model.statement_spans[id(item)] = (start, end)
    model.end_statements()
    model.finish()
    return buckets


def _walk(root: ast.AST, root_scope: object, buckets: dict[type, list[ast.AST]], visitors: dict, kinds: dict) -> None:
    """Pre-order from ``root``: parents and fields set, nodes bucketed, the model's handlers
    called. ``kinds`` (node type -> what the walk does with it) is filled as types are met;
    ``traverse`` shares one between its statements."""
    stack: list[tuple[ast.AST, object]] = [(root, root_scope)]
    pop, push = stack.pop, stack.append
    while stack:
        node, scope = pop()
        tp = type(node)
        kind = kinds.get(tp)
        if kind is None:
            kind = kinds[tp] = (buckets.get(tp), visitors.get(tp), _SCOPE_BODY_FIELDS.get(tp), child_fields(tp)[::-1])
        bucket, handler, scoped, fields = kind
        if bucket is not None:
            bucket.append(node)
        inner = scope if handler is None else handler(node, scope)
        if inner is not scope and scoped is None:
            scope = inner  # every child is in the node's own scope
        ref = None
        fields_of = node.__dict__
        # The children pushed last to first: popped in source order (the buckets' order).
        for name in fields:
            value = fields_of.get(name)
            if value is None:
                continue
            child_scope = inner if scoped is not None and name in scoped else scope
            if type(value) is list:
                for item in reversed(value):
                    if isinstance(item, ast.AST):
                        if ref is None:
                            ref = _weakref(node)
                        item._tp_parent = ref  # (PARENT and FIELD, stored directly: every node of the file passes here)
                        item._tp_field = name
                        push((item, child_scope))
            elif isinstance(value, ast.AST):
                if ref is None:
                    ref = _weakref(node)
                value._tp_parent = ref
                value._tp_field = name
                push((value, child_scope))


assert PARENT == "_tp_parent" and FIELD == "_tp_field"  # the attributes _walk stores directly

_SCOPE_BODY_FIELDS = {
    ast.FunctionDef: {"body", "args"},
    ast.AsyncFunctionDef: {"body", "args"},
    ast.ClassDef: {"body"},
    ast.Lambda: {"body", "args"},
    ast.Module: {"body"},
    ast.ListComp: {"elt", "generators"},
    ast.SetComp: {"elt", "generators"},
    ast.GeneratorExp: {"elt", "generators"},
    ast.DictComp: {"key", "value", "generators"},
}


_EXTERNAL_MODELS: dict[tuple[str, int], "SemanticModel | None"] = {}


def load_module_model(path: str) -> "SemanticModel | None":
    """The semantic model of another file (no rules run), cached by path and mtime."""
    try:
        stat = os.stat(path)
        if stat.st_size > 2_000_000:
            return None
        key = (path, stat.st_mtime_ns)
        if key in _EXTERNAL_MODELS:
            return _EXTERNAL_MODELS[key]
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError):
        return None
    parsed = parse_source(text, path)
    model = None
    if parsed.tree is not None:
        model = SemanticModel(parsed.tree, path, None, SourceFile(text, path), loader=load_module_model)
        traverse(parsed.tree, model, set())
    if len(_EXTERNAL_MODELS) > 256:
        _EXTERNAL_MODELS.clear()
    _EXTERNAL_MODELS[key] = model
    return model
