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
    """The calls ``name(...)`` / ``x.name(...)`` of the file (recorded as a search for ``name``),
    in the order of the traversal."""
    by_name, _ = _call_index(model)
    if model.reads is not None:
        model.reads.mentions.add(name)  # a call of it in any edited statement changes the answer
    return by_name.get(name, [])


def calls_named_within(model: SemanticModel, name: str, node: ast.AST) -> list[ast.Call]:
    """The calls ``name(...)`` / ``x.name(...)`` inside ``node`` (a function or a class), from
    the file's index. No search of the file is recorded: what lies inside ``node`` is part of
    its top-level statement, which the asker already depends on."""
    by_name, _ = _call_index(model)
    start = (node.lineno, node.col_offset)  # type: ignore[attr-defined]
    end = (node.end_lineno, node.end_col_offset)  # type: ignore[attr-defined]
    return [c for c in by_name.get(name, ()) if start <= (c.lineno, c.col_offset) and (c.end_lineno, c.end_col_offset) <= end]


def calls_passing(model: SemanticModel, name: str) -> list[ast.Call]:
    """The calls of the file that pass ``name`` or ``x.name`` as an argument (positional or
    keyword), in the order of the traversal: a read of the whole file."""
    model.read_whole()
    _, by_arg = _call_index(model)
    return by_arg.get(name, [])


def _call_index(model: SemanticModel) -> tuple[dict[str, list[ast.Call]], dict[str, list[ast.Call]]]:
    """The file's calls by callee name and by the names they pass, built once per analysis."""
    index = model.file_memo.get("call_index")
    if index is not None:
        return index
    if model.persistent is not None:
        # The language server: each top-level statement's part is kept while the statement is
        # unchanged, so a keystroke indexes the edited statement only, and the parts are
        # joined one name at a time, for the names asked about.
        parts = model.file_memo.setdefault("call_index_parts", {})
        found = model.remember_each(parts, "call_index", model._tree.body, lambda stmt: _index_calls(model.nodes_in_statement(stmt, ast.Call)))
        index = model.file_memo["call_index"] = (_Joined([p[0] for p in found if p[0]]), _Joined([p[1] for p in found if p[1]]))  # type: ignore[assignment]
        return index
    by_name: dict[str, list[ast.Call]] = {}
    by_arg: dict[str, list[ast.Call]] = {}
    for node in model.all_nodes(ast.Call):
        _add_call(node, by_name, by_arg)  # type: ignore[arg-type]
    index = model.file_memo["call_index"] = (by_name, by_arg)
    return index


class _Joined:
    """The statements' parts of an index (name -> calls, each in the traversal's order), read
    as one index: a name's calls are joined, in the statements' order, when it is first asked
    for (a keystroke asks about a few names, not about all the file's)."""

    __slots__ = ("_parts", "_joined")

    def __init__(self, parts: list[dict[str, list[ast.Call]]]) -> None:
        self._parts = parts
        self._joined: dict[str, list[ast.Call]] = {}

    def get(self, name: str, default: list[ast.Call]) -> list[ast.Call]:
        found = self._joined.get(name)
        if found is None:
            found = self._joined[name] = [c for part in self._parts for c in part.get(name, ())]
        return found if found else default


def _add_call(node: ast.Call, by_name: dict, by_arg: dict) -> None:
    f = node.func
    key = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if key is not None:
        by_name.setdefault(key, []).append(node)
    passed: set[str] = set()
    for a in (*node.args, *(k.value for k in node.keywords)):
        n = a.id if isinstance(a, ast.Name) else a.attr if isinstance(a, ast.Attribute) else None
        if n is not None and n not in passed:
            passed.add(n)
            by_arg.setdefault(n, []).append(node)


def _index_calls(calls: list[ast.AST]) -> tuple[dict[str, tuple[ast.Call, ...]], dict[str, tuple[ast.Call, ...]]]:
    """``_call_index`` of one statement's calls (the traversal's bucket, in its pre-order)."""
    by_name: dict[str, list[ast.Call]] = {}
    by_arg: dict[str, list[ast.Call]] = {}
    for node in calls:
        _add_call(node, by_name, by_arg)  # type: ignore[arg-type]
    return {k: tuple(v) for k, v in by_name.items()}, {k: tuple(v) for k, v in by_arg.items()}


def unpacks(call: ast.Call) -> bool:
    """``call`` passes ``*args`` or ``**kwargs``: which parameter gets what is not written."""
    return any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords)


class _Unknown:
    """What :func:`argument_for` answers when a call site's argument cannot be told."""

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN = _Unknown()


def parameter_slot(param: ast.arg) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, int | None] | None:
    """The function that owns ``param``, and the position at which its calls pass it: counted
    after ``self`` for a function defined in a class (called as ``self.method(...)``, or as
    ``Class(...)`` for ``__init__``); None for a keyword-only parameter and for ``*args`` /
    ``**kwargs``. None when ``param`` is no parameter of a function, or is a method's ``self``."""
    args_node = parent(param)
    func = parent(args_node) if args_node is not None else None
    if not isinstance(func, FUNCTION_TYPES) or not isinstance(args_node, ast.arguments):
        return None
    positional = [*args_node.posonlyargs, *args_node.args]
    if param not in positional:
        return func, None
    index = positional.index(param)
    if isinstance(parent(func), ast.ClassDef):
        if index == 0:
            return None  # self
        index -= 1
    return func, index


def argument_for(call: ast.Call, param: ast.arg, index: int | None) -> ast.expr | _Unknown | None:
    """The argument that ``call`` binds to ``param``, a parameter its calls pass at position
    ``index`` (None: by keyword only, see :func:`parameter_slot`), as Python binds it:
    ``param=...`` (not for a positional-only parameter), else the positional argument at
    ``index``. None when the call passes nothing for it (the default holds); UNKNOWN when a
    ``*args`` at or before ``index`` or a ``**kwargs`` may hold it, or when ``param`` is itself the
    function's ``*args`` or ``**kwargs`` (no single argument is bound to it)."""
    args_node = parent(param)
    if isinstance(args_node, ast.arguments) and any(param is p for p in (args_node.vararg, args_node.kwarg)):
        return UNKNOWN
    by_name = not (isinstance(args_node, ast.arguments) and any(param is p for p in args_node.posonlyargs))
    if by_name:
        for k in call.keywords:
            if k.arg == param.arg:
                return k.value
    if index is not None:
        for i, a in enumerate(call.args):
            if isinstance(a, ast.Starred):
                return UNKNOWN
            if i == index:
                return a
    if by_name and any(k.arg is None for k in call.keywords):
        return UNKNOWN
    return None


def constructor_calls(model: SemanticModel, cls_node: ast.ClassDef) -> list[ast.Call]:
    """The calls ``Class(...)`` of the file that construct the local class ``cls_node``."""
    out = []
    for call in calls_named(model, cls_node.name):
        info = model.local_class_of(call.func)
        if info is not None and info.node is cls_node:
            out.append(call)
    return out


def call_site_arguments(model: SemanticModel, param: ast.arg) -> list[tuple[ast.Call, ast.expr]] | None:
    """``(call, argument)`` for every call site of the function owning ``param`` that passes it.

    None when the function is not local, a call's ``*args``/``**kwargs`` may hold the argument,
    or there are too many sites; [] when no site is found.
    """
    slot = parameter_slot(param)
    if slot is None:
        return None
    func, index = slot
    in_class = isinstance(parent(func), ast.ClassDef)
    sites = calls_named(model, func.name)
    out: list[tuple[ast.Call, ast.expr]] = []
    for call in sites:
        f = call.func
        if in_class:
            if not (isinstance(f, ast.Attribute) and model._is_self(f.value)):
                continue
        elif not isinstance(f, ast.Name) or [b.node for b in model.lookup(f.id, f)] != [func]:
            continue
        arg = argument_for(call, param, index)
        if arg is UNKNOWN:
            return None
        if arg is not None:
            out.append((call, arg))  # type: ignore[arg-type]
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
        if not model.grad_not_off(call):
            continue  # under no_grad, or a context whose grad mode nothing tells
        result = check(arg)
        if result:
            return call, arg, result
    return None


def inherited_call_sites(model: SemanticModel, param: ast.arg) -> list[tuple[SemanticModel, ast.Call, ast.expr]]:
    """For a parameter of a method: the calls ``self.method(...)`` made by a base class defined
    in another module of the project (a template method calling a hook that this subclass
    overrides), as ``(that module's model, call, argument)``."""
    slot = parameter_slot(param)
    cls_node = parent(slot[0]) if slot is not None else None
    if slot is None or not isinstance(cls_node, ast.ClassDef):
        return []
    func, index = slot
    out: list[tuple[SemanticModel, ast.Call, ast.expr]] = []
    for base in cls_node.bases:
        qual = model.qualified_name(base)
        found = model.project_class(qual) if qual else None
        if not isinstance(found, tuple):
            continue
        model.read_outside()  # another module
        other, info = found
        for call in calls_named(other, func.name):
            f = call.func
            if not (isinstance(f, ast.Attribute) and other._is_self(f.value)):
                continue
            owner = other.enclosing_class(call)
            if owner is None or owner.node is not info.node:
                continue
            arg = argument_for(call, param, index)
            if arg is UNKNOWN:
                continue
            if arg is not None:
                out.append((other, call, arg))  # type: ignore[arg-type]
            if len(out) > MAX_SITES:
                return []
    return out

