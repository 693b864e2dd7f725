"""Arguments passed to a parameter of a local function, at its call sites in the same file.

``def kd_loss(student, teacher_out, T): return F.kl_div(..., teacher_out, ...)`` called as
``kd_loss(s, teacher(x), 4.0)``: the rules follow the parameter ``teacher_out`` to
``teacher(x)``. Call sites are indexed once per file (by callee name); only plain calls of a
module-level or nested function (``kd_loss(...)``) and ``self.method(...)`` calls of a method
are followed.
"""

from __future__ import annotations

import ast

from .model import FUNCTION_TYPES, SemanticModel
from ..syntax.tree import parent

MAX_SITES = 16


def calls_named(model: SemanticModel, name: str) -> list[ast.Call]:
    """The calls ``name(...)`` / ``x.name(...)`` of the file (recorded as a search for ``name``)."""
    index = model.file_memo.get("calls_by_name")
    if index is None:
        index = {}
        for node in model.all_nodes(ast.Call):
            f = node.func  # type: ignore[attr-defined]
            key = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
            if key is not None:
                index.setdefault(key, []).append(node)
        model.file_memo["calls_by_name"] = index
    if model.reads is not None:
        model.reads.mentions.add(name)  # a call of it in any edited statement changes the answer
    return index.get(name, [])


def call_site_arguments(model: SemanticModel, param: ast.arg) -> list[tuple[ast.Call, ast.expr]] | None:
    """``(call, argument)`` for every call site of the function owning ``param`` that passes it.

    None when the function is not local, a call passes ``*args``/``**kwargs``, or there are too
    many sites; [] when no site is found.
    """
    args_node = parent(param)
    func = parent(args_node) if args_node is not None else None
    if not isinstance(func, FUNCTION_TYPES) or not isinstance(args_node, ast.arguments):
        return None
    positional = [*args_node.posonlyargs, *args_node.args]
    in_class = isinstance(parent(func), ast.ClassDef)
    index = positional.index(param) if param in positional else None
    if in_class and index is not None:
        if index == 0:
            return None  # self
        index -= 1
    sites = calls_named(model, func.name)
    out: list[tuple[ast.Call, ast.expr]] = []
    for call in sites:
        f = call.func
        if in_class:
            if not (isinstance(f, ast.Attribute) and model._is_self(f.value)):
                continue
        elif not isinstance(f, ast.Name) or [b.node for b in model.lookup(f.id, f)] != [func]:
            continue
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return None
        arg = next((k.value for k in call.keywords if k.arg == param.arg), None)
        if arg is None and index is not None and index < len(call.args):
            arg = call.args[index]
        if arg is not None:
            out.append((call, arg))
        if len(out) > MAX_SITES:
            return None
    return out


def through_parameter(model: SemanticModel, expr: ast.AST, check) -> tuple[ast.Call, ast.expr, object] | None:
    """When ``expr`` is (only) a parameter of a local function: the first call site whose
    argument satisfies ``check(arg)`` (a truthy result), as ``(call, arg, result)``."""
    vals = model.values(expr)
    if len(vals) != 1 or not isinstance(vals[0].node, ast.arg) or vals[0].model is not model:
        return None
    sites = call_site_arguments(model, vals[0].node)
    for call, arg in sites or ():
        if model.under_no_grad(call):
            continue
        result = check(arg)
        if result:
            return call, arg, result
    return None


def inherited_call_sites(model: SemanticModel, param: ast.arg) -> list[tuple[SemanticModel, ast.Call, ast.expr]]:
    """For a parameter of a method: the calls ``self.method(...)`` made by a base class defined
    in another module of the project (a template method calling a hook that this subclass
    overrides), as ``(that module's model, call, argument)``."""
    args_node = parent(param)
    func = parent(args_node) if args_node is not None else None
    cls_node = parent(func) if func is not None else None
    if not isinstance(func, FUNCTION_TYPES) or not isinstance(args_node, ast.arguments) or not isinstance(cls_node, ast.ClassDef):
        return []
    positional = [*args_node.posonlyargs, *args_node.args]
    index = positional.index(param) - 1 if param in positional else None
    if index == -1:
        return []  # self
    out: list[tuple[SemanticModel, ast.Call, ast.expr]] = []
    for base in cls_node.bases:
        qual = model.qualified_name(base)
        found = model.project_class(qual) if qual else None
        if not isinstance(found, tuple):
            continue
        model.read_whole()  # another module
        other, info = found
        for call in calls_named(other, func.name):
            f = call.func
            if not (isinstance(f, ast.Attribute) and other._is_self(f.value)):
                continue
            owner = other.enclosing_class(call)
            if owner is None or owner.node is not info.node:
                continue
            if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
                continue
            arg = next((k.value for k in call.keywords if k.arg == param.arg), None)
            if arg is None and index is not None and index < len(call.args):
                arg = call.args[index]
            if arg is not None:
                out.append((other, call, arg))
            if len(out) > MAX_SITES:
                return []
    return out

