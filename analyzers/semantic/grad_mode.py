"""The grad mode: what a context manager or a decorator does to it, and what it is at a node.

Computed, never read from spellings. A context expression (``with e:``) or a decorator has an
*effect*: the set of grad modes the code under it may run in, where ``INHERIT`` stands for the
mode it was entered in:

- a context or decorator of the catalogue (``GradContext`` records): ``torch.no_grad()``,
  ``torch.inference_mode()``, ``torch.set_grad_enabled(False)`` turn gradients off;
  ``torch.enable_grad()``, ``torch.set_grad_enabled(True)``, ``torch.inference_mode(False)``
  turn them on (measured: also inside ``no_grad``); a mode argument that is no constant may
  be either;
- one that keeps the mode (``GradNeutral`` records, the standard library, builtins): INHERIT;
- a function or class of the project (this file, or another module through the project's
  module index) is read for what it does: a decorator that returns its function, a wrapper
  that calls it (under what the wrapper's body sets there), or what a grad context applied to
  it returns (``torch.no_grad()(fn)``); a decorator factory by what it returns; a
  ``@contextmanager`` generator by the mode where it yields; a function that returns a context
  manager by what it returns; a class that touches no grad-mode API keeps the mode;
- anything else (a library callable the catalogue does not know, a parameter, a method of an
  object nothing describes, ``with ctxs[i]:``) is ``UNKNOWN``: no finding follows from it.
  Under it the mode is the one around it, or unknown (``apply``): a fact that needs gradients
  off asks for ``{OFF}`` alone, one that needs them on asks that neither OFF nor UNKNOWN is
  possible (``not_off``).

The mode at a node applies the effects of the ``with`` blocks and decorators around it,
outermost first, so the innermost wins (``with torch.enable_grad():`` inside ``no_grad``:
gradients are on). After a grad-mode call made as a statement in the same function
(``torch.set_grad_enabled(False)``), the mode is unknown: that call is not followed. Everything here reads through the model's lookups, so the answers kept
across versions record what they read.
"""

from __future__ import annotations

import ast
from typing import Any

from ..catalogue import torch_api
from ..syntax.tree import FIELD, ancestors, parent, pos, top_statement
from .project import project_function

OFF, ON, INHERIT, UNKNOWN = "off", "on", "inherit", "unknown"
UNCHANGED: frozenset[str] = frozenset({INHERIT})
NOT_KNOWN: frozenset[str] = frozenset({UNKNOWN})
EITHER: frozenset[str] = frozenset({OFF, ON})
OFF_ONLY: frozenset[str] = frozenset({OFF})
ON_ONLY: frozenset[str] = frozenset({ON})
MAX_DEPTH = 4  # project functions followed into, one inside another

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_SCOPES = (*_FUNCTIONS, ast.Lambda, ast.ClassDef)


def apply(states: frozenset[str], effect: frozenset[str]) -> frozenset[str]:
    """The modes under a context with ``effect`` entered in one of ``states``. An unknown
    context may keep the mode or set any: ``states`` and UNKNOWN."""
    if effect == UNCHANGED:
        return states
    out: set[str] = set()
    for e in effect:
        if e == INHERIT:
            out |= states
        elif e == UNKNOWN:
            out |= states
            out.add(UNKNOWN)
        else:
            out.add(e)
    return frozenset(out)


def not_off(states: frozenset[str]) -> bool:
    """Nothing in ``states`` turns gradients off or hides the mode: they are on wherever the
    code is entered with them on."""
    return OFF not in states and UNKNOWN not in states


def union(effects: list[frozenset[str]]) -> frozenset[str]:
    if not effects:
        return NOT_KNOWN
    out: set[str] = set()
    for e in effects:
        out |= e
    return frozenset(out)


# ---------------------------------------------------------------------------- effects


def context_effect(m: Any, expr: ast.AST, depth: int = 0) -> frozenset[str]:
    """What ``with expr:`` does to the grad mode of its body."""
    if depth == 0:  # (cached only at the top: a project function's own contexts may lead back here)
        return m.remember(m.grad_cache, ("context", expr), lambda: _context(m, expr, 0))
    return _context(m, expr, depth)


def decorator_effect(m: Any, expr: ast.AST, depth: int = 0) -> frozenset[str]:
    """What decorating a function with ``expr`` does to the grad mode of its body."""
    if depth == 0:
        return m.remember(m.grad_cache, ("decorator", expr), lambda: _decorator(m, expr, 0))
    return _decorator(m, expr, depth)


def _context(m: Any, expr: ast.AST, depth: int) -> frozenset[str]:
    if depth > MAX_DEPTH:
        return NOT_KNOWN
    if isinstance(expr, ast.IfExp):
        return _context(m, expr.body, depth + 1) | _context(m, expr.orelse, depth + 1)
    if isinstance(expr, ast.Call):
        return _called(m, expr.func, expr, depth, as_context=True)
    if isinstance(expr, (ast.Name, ast.Attribute)):
        known = _library(m, expr, None)
        if known is not None:
            return known
        # ``with ctx:``: what the name holds (``ctx = torch.no_grad()``, a conditional of them)
        values = m.values(expr)
        effects = []
        for v in values:
            if v.node is expr or not isinstance(v.node, (ast.Call, ast.IfExp)):
                return NOT_KNOWN  # a parameter, a loop variable, something unseen
            effects.append(_context(v.model, v.node, depth + 1))
        return union(effects)
    return NOT_KNOWN  # ``with ctxs[i]:``, ``with a or b:``


def _decorator(m: Any, expr: ast.AST, depth: int) -> frozenset[str]:
    if depth > MAX_DEPTH:
        return NOT_KNOWN
    if isinstance(expr, ast.Call):
        return _called(m, expr.func, expr, depth, as_context=False)
    if isinstance(expr, (ast.Name, ast.Attribute)):
        known = _library(m, expr, None)
        if known is not None:
            return known
        target = _project_target(m, expr)
        if target is not None:
            other, node = target
            if isinstance(node, ast.ClassDef):
                return _class_effect(other, node)
            return _decorating_function(other, node, depth + 1)
        if _property_accessor(m, expr):
            return UNCHANGED  # ``@value.setter``
    return NOT_KNOWN


def _called(m: Any, func: ast.AST, call: ast.Call, depth: int, as_context: bool) -> frozenset[str]:
    """``func(...)`` used as a context manager or as a decorator."""
    if isinstance(func, ast.IfExp):  # ``(torch.inference_mode if new else torch.no_grad)()``
        return _called(m, func.body, call, depth + 1, as_context) | _called(m, func.orelse, call, depth + 1, as_context)
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return NOT_KNOWN
    known = _library(m, func, call)
    if known is not None:
        return known
    target = _project_target(m, func)
    if target is None:
        return NOT_KNOWN
    other, node = target
    if isinstance(node, ast.ClassDef):
        return _class_effect(other, node)
    if as_context:
        return _context_function(other, node, depth + 1)
    # a decorator factory: the decorator is what it returns
    effects = []
    for r in other.function_returns(node):
        inner = _nested_def(other, r, node)
        effects.append(_decorating_function(other, inner, depth + 1) if inner is not None else _decorator(other, r, depth + 1))
    return union(effects)


def _library(m: Any, expr: ast.AST, call: ast.Call | None) -> frozenset[str] | None:
    """The effect of a callable the catalogue knows, or that the standard library or builtins
    define; None for anything else."""
    if isinstance(expr, ast.Name) and not m.lookup(expr.id, expr):
        return UNCHANGED if m.is_builtin(expr) else None  # ``open(...)``; a star import may bring another
    qual = m.qualified_name(expr)
    if qual is None:
        return None
    rec = torch_api.GRAD_CONTEXTS.get(qual)
    if rec is not None:
        return _grad_context(m, rec, call)
    if qual in torch_api.GRAD_NEUTRAL or qual.split(".")[0] in torch_api.GRAD_NEUTRAL_PACKAGES:
        return UNCHANGED
    return None  # the project's (read from its body), or a library's the catalogue does not describe: unknown


def _grad_context(m: Any, rec: Any, call: ast.Call | None) -> frozenset[str]:
    """``no_grad()``, ``enable_grad()``, ``set_grad_enabled(mode)``, ``inference_mode(mode)``."""
    mode: ast.AST | None = None
    if call is not None and rec.mode_arg is not None:
        if len(call.args) > rec.mode_arg:
            mode = call.args[rec.mode_arg]
        else:
            mode = next((k.value for k in call.keywords if k.arg == "mode"), None)
        if any(isinstance(a, ast.Starred) for a in call.args) or any(k.arg is None for k in call.keywords):
            return EITHER
    if rec.enables is None:  # set_grad_enabled(mode): gradients on when mode is true
        if mode is None:
            return NOT_KNOWN
        value = _truth(m, mode)
        return EITHER if value is None else frozenset({ON if value else OFF})
    if mode is not None:  # inference_mode(mode): off when mode is true, on when it is false (measured)
        value = _truth(m, mode)
        if value is None:
            return EITHER
        if not value:
            return frozenset({ON if rec.enables is False else OFF})
    return frozenset({ON if rec.enables else OFF})


def _truth(m: Any, expr: ast.AST) -> bool | None:
    """The truth of a constant (``False``), or of a name every reaching value of which is one."""
    if isinstance(expr, ast.Constant):
        return bool(expr.value)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.Not):
        inner = _truth(m, expr.operand)
        return None if inner is None else not inner
    if isinstance(expr, ast.Name):
        found = {bool(v.node.value) if isinstance(v.node, ast.Constant) else None for v in m.values(expr)}
        if len(found) == 1:
            return found.pop()
    return None


def _project_target(m: Any, expr: ast.AST) -> tuple[Any, ast.AST] | None:
    """The function or class of the project ``expr`` names: ``(its model, its def)``."""
    if isinstance(expr, ast.Name):
        bindings = m.lookup(expr.id, expr)
        if len(bindings) == 1 and bindings[0].kind in ("def", "class"):
            return m, bindings[0].node
        if not bindings or any(b.kind != "import" for b in bindings):
            return None
    elif isinstance(expr, ast.Attribute):
        if m._is_self(expr.value):
            cls = m.enclosing_class(expr)
            method = m.find_method(cls, expr.attr) if cls is not None else None
            return (m, method) if method is not None else None
    else:
        return None
    found = project_function(m, expr)
    if found is not None:
        return found
    qual = m.qualified_name(expr)
    if qual is None:
        return None
    cls = m.project_class(qual)
    if isinstance(cls, tuple):
        return cls[0], cls[1].node
    return None


def _property_accessor(m: Any, expr: ast.AST) -> bool:
    """``@value.setter`` where ``value`` is a ``@property`` of the class being defined."""
    if not (isinstance(expr, ast.Attribute) and expr.attr in ("setter", "getter", "deleter") and isinstance(expr.value, ast.Name)):
        return False
    bindings = m.lookup(expr.value.id, expr.value)
    return bool(bindings) and all(
        b.kind == "def" and any(isinstance(d, ast.Name) and d.id == "property" and not m.lookup(d.id, d) for d in b.node.decorator_list)
        for b in bindings
    )


def _nested_def(m: Any, expr: ast.AST, outer: ast.AST) -> ast.AST | None:
    """The function defined inside ``outer`` that the name ``expr`` holds."""
    if not isinstance(expr, ast.Name):
        return None
    bindings = m.lookup(expr.id, expr)
    if len(bindings) == 1 and bindings[0].kind == "def" and any(a is outer for a in ancestors(bindings[0].node)):
        return bindings[0].node
    return None


def _decorating_function(m: Any, func: ast.AST, depth: int) -> frozenset[str]:
    """The effect of a project function used as ``@func``: read from what it returns."""
    if depth > MAX_DEPTH or not isinstance(func, _FUNCTIONS):
        return NOT_KNOWN
    params = [*func.args.posonlyargs, *func.args.args]
    if not params:
        return NOT_KNOWN
    fn = params[0].arg
    effects = []
    for r in m.function_returns(func):
        if _is_param(m, r, fn, func):
            effects.append(UNCHANGED)  # returns the function itself (a registry, a marker)
            continue
        wrapper = _nested_def(m, r, func)
        if wrapper is not None:
            effects.append(_wrapper(m, wrapper, fn, func, depth))
            continue
        if isinstance(r, ast.Call) and len(r.args) == 1 and not r.keywords:
            # ``return torch.no_grad()(fn)``, ``return functools.wraps(fn)(wrapper)``
            arg = r.args[0]
            inner = UNCHANGED if _is_param(m, arg, fn, func) else None
            if inner is None and (w := _nested_def(m, arg, func)) is not None:
                inner = _wrapper(m, w, fn, func, depth)
            if inner is not None:
                outer = _decorator(m, r.func, depth + 1)
                effects.append(apply(outer, inner))
                continue
        return NOT_KNOWN
    return union(effects)


def _is_param(m: Any, expr: ast.AST, name: str, func: ast.AST) -> bool:
    if not isinstance(expr, ast.Name) or expr.id != name:
        return False
    bindings = m.lookup(name, expr)
    return len(bindings) == 1 and bindings[0].kind == "param" and bindings[0].scope.node is func


def _wrapper(m: Any, wrapper: ast.AST, fn: str, outer: ast.AST, depth: int) -> frozenset[str]:
    """A wrapper that calls the decorated function ``fn``: the modes where it calls it."""
    calls = [
        n for n in _own_nodes(wrapper)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == fn and _is_param(m, n.func, fn, outer)
    ]
    if not calls or _sets_mode_by_call(m, wrapper):
        return NOT_KNOWN
    return union([lexical_states(m, c, stop=wrapper, depth=depth + 1) for c in calls])


def _sets_mode_by_call(m: Any, func: ast.AST) -> bool:
    """``torch.set_grad_enabled(False)`` called as a statement in ``func``'s own body: the mode
    changes from there on, whatever blocks are around (not followed: unknown)."""
    return _first_mode_call(m, func) is not None


def _first_mode_call(m: Any, func: ast.AST) -> ast.Expr | None:
    """The first statement of ``func``'s own body that calls a grad-mode API, or None."""
    top = top_statement(func)
    # One pass over the top-level statement's calls (the traversal's) for all its functions,
    # kept across the document's versions while it is unchanged (nodes, not positions: the
    # statements move).
    return m.remember_across_versions(m.mode_call_cache, "mode_calls", top, lambda: _mode_calls_in(m, top)).get(id(func))


def _mode_calls_in(m: Any, top: ast.AST) -> dict[int, ast.Expr]:
    """id of each function of ``top`` -> the first statement of its own body (not of a def or
    class nested in it) that calls a grad-mode API."""
    out: dict[int, ast.Expr] = {}
    for call in m.nodes_in_statement(top, ast.Call):
        stmt = parent(call)
        if not isinstance(stmt, ast.Expr):
            continue
        owner = next((a for a in ancestors(stmt) if isinstance(a, _SCOPES)), None)
        if not isinstance(owner, _FUNCTIONS) or m.call_name(call) not in torch_api.GRAD_CONTEXTS:
            continue
        first = out.get(id(owner))
        if first is None or pos(stmt) < pos(first):
            out[id(owner)] = stmt
    return out


def _context_function(m: Any, func: ast.AST, depth: int) -> frozenset[str]:
    """``with func(...):`` for a project function: a ``@contextmanager`` generator runs the
    body where it yields; any other function returns the context manager."""
    if depth > MAX_DEPTH or not isinstance(func, _FUNCTIONS):
        return NOT_KNOWN
    if any(m.qualified_name(d) in torch_api.CONTEXT_MANAGER_DECORATORS for d in func.decorator_list):
        yields = [n for n in _own_nodes(func) if isinstance(n, (ast.Yield, ast.YieldFrom))]
        if _sets_mode_by_call(m, func):
            return NOT_KNOWN  # ``torch.set_grad_enabled(False); yield``
        return union([lexical_states(m, y, stop=func, decorators=False, depth=depth + 1) for y in yields])
    if func.decorator_list:
        return NOT_KNOWN  # something else makes it what it is
    return union([_context(m, r, depth + 1) for r in m.function_returns(func)])


def _class_effect(m: Any, cls: ast.ClassDef) -> frozenset[str]:
    """A class of the project used as a context manager or decorator: it keeps the grad mode
    when nothing in it touches grad-mode APIs and it derives from no class outside the
    project; otherwise unknown."""
    for base in cls.bases:
        if isinstance(base, ast.Name) and base.id == "object" and not m.lookup(base.id, base):
            continue
        if m.local_class_of(base) is None:
            return NOT_KNOWN
    for n in ast.walk(cls):
        if isinstance(n, (ast.Name, ast.Attribute)) and m.qualified_name(n) in torch_api.GRAD_CONTEXTS:
            return NOT_KNOWN
        if isinstance(n, ast.Attribute) and n.attr in ("__enter__", "__aenter__", "enter_context"):
            return NOT_KNOWN  # it enters some other context for its own
    return UNCHANGED


def _own_nodes(func: ast.AST) -> list[ast.AST]:
    """The nodes of ``func``'s body, not those of the functions and classes nested in it."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = list(getattr(func, "body", ()))
    while stack:
        n = stack.pop()
        out.append(n)
        if not isinstance(n, _SCOPES):
            stack.extend(ast.iter_child_nodes(n))
    return out


# ---------------------------------------------------------------------------- at a node


def lexical_states(m: Any, node: ast.AST, stop: ast.AST | None = None, decorators: bool = True, depth: int = 0) -> frozenset[str]:
    """The grad modes ``node`` may run in, from the ``with`` blocks and decorators around it
    (up to the function ``stop``, its decorators included unless ``decorators`` is false, or to
    the module), with INHERIT for the mode its outermost code is entered in."""
    effects: list[frozenset[str]] = []  # innermost first
    child = node
    for anc in ancestors(node):
        fld = getattr(child, FIELD, None)
        if isinstance(anc, (ast.With, ast.AsyncWith)) and fld == "body":
            effects.extend(reversed(_entered(m, anc, child, depth)))
            for item in reversed(anc.items):
                effects.append(context_effect(m, item.context_expr, depth))
        elif isinstance(anc, _FUNCTIONS) and fld == "body":
            first = _first_mode_call(m, anc)
            if first is not None and pos(first) < pos(node):
                effects.insert(0, NOT_KNOWN)  # ``torch.set_grad_enabled(False)`` ran before it, as a statement
            if anc is stop and not decorators:
                break
            for d in reversed(anc.decorator_list):
                effects.append(decorator_effect(m, d, depth))
        if anc is stop:
            break
        child = anc
    states = UNCHANGED
    for effect in reversed(effects):
        states = apply(states, effect)
    return states


def _entered(m: Any, w: ast.With | ast.AsyncWith, child: ast.AST, depth: int) -> list[frozenset[str]]:
    """``with ExitStack() as stack:``: the effects of ``stack.enter_context(ctx)`` statements of
    its body before ``child`` (the statement of the body that holds the node), in order."""
    names = {
        i.optional_vars.id
        for i in w.items
        if isinstance(i.optional_vars, ast.Name) and m.call_name(i.context_expr) in torch_api.EXIT_STACKS
    }
    if not names:
        return []
    out = []
    for stmt in w.body:
        if stmt is child or pos(stmt) >= pos(child):
            break
        call = stmt.value if isinstance(stmt, ast.Expr) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Attribute)
            and call.func.attr == "enter_context"
            and isinstance(call.func.value, ast.Name)
            and call.func.value.id in names
            and call.args
        ):
            out.append(context_effect(m, call.args[0], depth))
    return out
