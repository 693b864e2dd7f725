"""Which module objects a file freezes: ``requires_grad = False`` on every one of their parameters.

A module is frozen by a statement of one of these shapes, or by a call of a function or method
whose body is one (a function summary: which of its parameters, or ``self``, it freezes):

- ``m.requires_grad_(False)``;
- ``for p in m.parameters(): p.requires_grad = False`` (or ``p.requires_grad_(False)``, also over
  ``named_parameters()``, ``list(...)``, or in a comprehension), when the assignment is not
  guarded by an ``if`` inside the loop (that freezes some parameters only);
- ``helper(m)`` / ``self.helper(m)`` where ``helper`` freezes its parameter;
  ``set_requires_grad(m, False)`` where the helper assigns that parameter's value;
- ``m.freeze()`` where ``m``'s class has a method ``freeze`` that freezes ``self``;
  ``self.freeze()`` in a method freezes ``self``; ``m.apply(fn)`` with an ``fn`` that freezes
  its parameter.

Names are never used: what a helper does comes from its body. The answer is per file (a read of
the whole file) and lists, for each freezing, the site a maintainer would edit (the call, or the
assignment in a loop) and the module expression it freezes.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..semantic.model import FUNCTION_TYPES, SemanticModel
from ..syntax.tree import parent

MAX_DEPTH = 3
_PARAM_ITERS = ("parameters", "named_parameters")


@dataclass(frozen=True)
class Freeze:
    """One freezing of a whole module."""

    site: ast.AST  # where a maintainer edits: the call of a helper, or the requires_grad statement
    target: ast.expr  # the module expression whose parameters are all frozen
    statement: ast.AST  # the requires_grad statement itself (in the helper, when through one)


def _false(expr: ast.AST | None) -> bool:
    return isinstance(expr, ast.Constant) and expr.value is False


def _requires_grad_arg(call: ast.Call) -> ast.expr | None:
    if call.args:
        return call.args[0]
    return next((k.value for k in call.keywords if k.arg == "requires_grad"), None)


def _params_call(it: ast.AST) -> ast.Call | None:
    """``m.parameters()`` / ``m.named_parameters()``, also inside ``list(...)``."""
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id in ("list", "tuple") and len(it.args) == 1:
        it = it.args[0]
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in _PARAM_ITERS and not it.args:
        return it
    return None


def _params_owner(it: ast.AST) -> ast.expr | None:
    """``m.parameters()`` / ``m.named_parameters()`` / ``list(m.parameters())`` -> ``m``."""
    call = _params_call(it)
    return call.func.value if call is not None else None  # type: ignore[union-attr]


def _loop_var(target: ast.AST, named: bool) -> str | None:
    if isinstance(target, ast.Name):
        return None if named else target.id
    if named and isinstance(target, ast.Tuple) and len(target.elts) == 2 and isinstance(target.elts[1], ast.Name):
        return target.elts[1].id
    return None


def _flag_of(stmt: ast.AST, var: str) -> tuple[ast.expr, ast.AST] | None:
    """``var.requires_grad = V`` / ``var.requires_grad_(V)``: (V, the statement)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        t = stmt.targets[0]
        if isinstance(t, ast.Attribute) and t.attr == "requires_grad" and isinstance(t.value, ast.Name) and t.value.id == var:
            return stmt.value, stmt
    if isinstance(stmt, ast.Expr):
        stmt = stmt.value
    if isinstance(stmt, ast.Call) and isinstance(stmt.func, ast.Attribute) and stmt.func.attr == "requires_grad_":
        v = stmt.func.value
        if isinstance(v, ast.Name) and v.id == var:
            arg = _requires_grad_arg(stmt)
            return (arg if arg is not None else ast.Constant(True)), stmt
    return None


def _direct(node: ast.AST) -> tuple[ast.expr, ast.expr, ast.AST] | None:
    """A statement that sets requires_grad of a whole module: (module, value, the statement)."""
    if isinstance(node, (ast.For, ast.AsyncFor)):
        pcall = _params_call(node.iter)
        if pcall is None:
            return None
        owner = pcall.func.value  # type: ignore[union-attr]
        var = _loop_var(node.target, pcall.func.attr == "named_parameters")  # type: ignore[union-attr]
        if var is None:
            return None
        for stmt in node.body:  # unguarded statements of the loop body only
            found = _flag_of(stmt, var)
            if found is not None:
                return owner, found[0], found[1]
        return None
    if isinstance(node, (ast.ListComp, ast.GeneratorExp)) and len(node.generators) == 1 and not node.generators[0].ifs:
        gen = node.generators[0]
        pcall = _params_call(gen.iter)
        if pcall is None:
            return None
        owner = pcall.func.value  # type: ignore[union-attr]
        var = _loop_var(gen.target, pcall.func.attr == "named_parameters")  # type: ignore[union-attr]
        found = _flag_of(node.elt, var) if var is not None else None
        return (owner, found[0], found[1]) if found else None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
        recv = node.func.value
        if isinstance(recv, ast.Attribute) and recv.attr in ("weight", "bias", "data"):
            return None  # one tensor
        arg = _requires_grad_arg(node)
        return recv, (arg if arg is not None else ast.Constant(True)), node
    return None


def _is_param_loop_var(model: SemanticModel, expr: ast.AST) -> bool:
    """``p`` bound by ``for p in m.parameters()`` (its requires_grad_ is the loop's, not a module's)."""
    if not isinstance(expr, ast.Name):
        return False
    for b in model.lookup(expr.id, expr):
        if b.kind == "for":
            it = getattr(b.stmt, "iter", None)
            if it is not None and _params_owner(it) is not None:
                return True
    return False


def _param_names(func: ast.AST) -> list[str]:
    a = func.args  # type: ignore[attr-defined]
    return [p.arg for p in (*a.posonlyargs, *a.args, *a.kwonlyargs)]


def function_freezes(model: SemanticModel, func: ast.AST, depth: int = 0) -> dict[str, tuple[str | None, ast.AST]]:
    """What calling ``func`` freezes: parameter name -> (the parameter whose value is the flag, or
    None when the flag is False; the requires_grad statement). ``self`` appears under its name."""
    key = ("function_freezes", func)
    hit = model.memo.get(key)
    if hit is not None:
        return hit
    model.memo[key] = {}  # recursion guard
    names = _param_names(func)
    out: dict[str, tuple[str | None, ast.AST]] = {}
    stack = list(getattr(func, "body", []))
    while stack:
        n = stack.pop()
        if isinstance(n, (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(n))
        d = _direct(n)
        if d is not None:
            target, flag, stmt = d
            if isinstance(n, ast.Call) and _is_param_loop_var(model, target):
                continue
            if isinstance(target, ast.Name) and target.id in names:
                if _false(flag):
                    out.setdefault(target.id, (None, stmt))
                elif isinstance(flag, ast.Name) and flag.id in names:
                    out.setdefault(target.id, (flag.id, stmt))
            continue
        if isinstance(n, ast.Call) and depth < MAX_DEPTH:
            for target, stmt in _call_freezes(model, n, depth + 1):
                if isinstance(target, ast.Name) and target.id in names:
                    out.setdefault(target.id, (None, stmt))
    model.memo[key] = out
    return out


def _callee(model: SemanticModel, call: ast.Call) -> tuple[ast.AST, ast.expr | None] | None:
    """The local function or method a call runs, and the object bound to its ``self`` (or None)."""
    f = call.func
    if isinstance(f, ast.Name):
        bs = model.lookup(f.id, f)
        if len(bs) == 1 and bs[0].kind == "def":
            return bs[0].node, None
        return None
    if not isinstance(f, ast.Attribute):
        return None
    if model._is_self(f.value):
        cls = model.enclosing_class(call)
        method = model.find_method(cls, f.attr) if cls is not None else None
        return (method, f.value) if method is not None else None
    for v in model.values(f.value, module_identity=True):
        if v.model is not model or not isinstance(v.node, ast.Call):
            return None
        cls = model.local_class_of(v.node.func)
        method = model.find_method(cls, f.attr) if cls is not None else None
        if method is None:
            return None
        return method, f.value
    return None


def _call_freezes(model: SemanticModel, call: ast.Call, depth: int) -> list[tuple[ast.expr, ast.AST]]:
    """(module expression, requires_grad statement) for what this call freezes."""
    f = call.func
    if isinstance(f, ast.Attribute) and f.attr == "apply" and len(call.args) == 1 and isinstance(call.args[0], ast.Name):
        bs = model.lookup(call.args[0].id, call.args[0])
        if len(bs) == 1 and bs[0].kind == "def":
            summary = function_freezes(model, bs[0].node, depth)
            names = _param_names(bs[0].node)
            if names and names[0] in summary and summary[names[0]][0] is None:
                return [(f.value, summary[names[0]][1])]
        return []
    callee = _callee(model, call)
    if callee is None:
        return []
    func, bound = callee
    summary = function_freezes(model, func, depth)
    if not summary:
        return []
    names = _param_names(func)
    args: dict[str, ast.expr] = {}
    positional = names
    if bound is not None and isinstance(parent(func), ast.ClassDef):
        if names:
            args[names[0]] = bound
        positional = names[1:]
    if any(isinstance(a, ast.Starred) for a in call.args):
        return []
    for name, a in zip(positional, call.args):
        args[name] = a
    for k in call.keywords:
        if k.arg is not None:
            args[k.arg] = k.value
    out = []
    for name, (flag, stmt) in summary.items():
        target = args.get(name)
        if target is None:
            continue
        if flag is not None and not _false(args.get(flag)):
            continue
        out.append((target, stmt))
    return out


def freezes(model: SemanticModel) -> list[Freeze]:
    """Every freezing of a whole module in the file (a read of the whole file)."""
    model.read_whole()
    cached = model.file_memo.get("freezes")
    if cached is not None:
        return cached
    out: list[Freeze] = []
    if not model.text_contains("requires_grad"):
        model.file_memo["freezes"] = out
        return out  # nothing in this file sets requires_grad
    # names of the local functions and methods that freeze something: only their calls are followed
    freezers = {name for name, funcs in model.functions.items() if any(function_freezes(model, f) for f in funcs)}
    for node in model.nodes_of(ast.For, ast.AsyncFor, ast.ListComp, ast.GeneratorExp, ast.Call):
        if isinstance(node, ast.Call) and not _may_freeze(node, freezers):
            continue
        d = _direct(node)
        if d is not None:
            target, flag, stmt = d
            if _false(flag) and not (isinstance(node, ast.Call) and _is_param_loop_var(model, target)):
                if not _is_self_of_helper(model, node, target):
                    out.append(Freeze(stmt, target, stmt))
            continue
        if isinstance(node, ast.Call):
            for target, stmt in _call_freezes(model, node, 1):
                if _is_self_of_helper(model, node, target):
                    continue  # inside a freezing helper: its callers are the freezings
                out.append(Freeze(node, target, stmt))
    model.file_memo["freezes"] = out
    return out


def _may_freeze(call: ast.Call, freezers: set[str]) -> bool:
    f = call.func
    name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else None
    if name in ("requires_grad_",):
        return True
    if name == "apply":
        return bool(call.args) and isinstance(call.args[0], ast.Name) and call.args[0].id in freezers
    return name in freezers


def _is_self_of_helper(model: SemanticModel, call: ast.AST, target: ast.expr) -> bool:
    """``_freeze(m)`` inside ``def freeze_all(m)``: the parameter is the helper's, not an object."""
    if not isinstance(target, ast.Name):
        return False
    func = model.enclosing_function(call)
    return func is not None and target.id in _param_names(func) and not model._is_self(target)


def frozen_objects(model: SemanticModel) -> dict[int, Freeze]:
    """id of a module's construction node (what ``values(..., module_identity=True)`` ends at) ->
    the freezing that freezes it; for ``self`` frozen in a method, the class node."""
    cached = model.file_memo.get("frozen_objects")
    if cached is not None:
        model.read_whole()
        return cached
    out: dict[int, Freeze] = {}
    for fr in freezes(model):
        if model._is_self(fr.target):
            cls = model.enclosing_class(fr.target)
            if cls is not None:
                out.setdefault(id(cls.node), fr)
            continue
        for v in model.values(fr.target, module_identity=True):
            if v.node is not fr.target:
                out.setdefault(id(v.node), fr)
    model.file_memo["frozen_objects"] = out
    return out


def class_freezes_itself(model: SemanticModel, cls) -> Freeze | None:
    """A module class whose methods freeze ``self`` (in ``__init__``, or a method it calls)."""
    objs = frozen_objects(model)
    seen = 0
    while cls is not None and seen < 8:
        fr = objs.get(id(cls.node))
        if fr is not None:
            # only when the freezing runs on construction: in __init__ (directly or through self.m())
            func = model.enclosing_function(fr.site)
            if func is not None and func.name == "__init__":
                return fr
        bases = model.base_classes(cls)
        cls = bases[0] if bases else None
        seen += 1
    return None

