"""Where backward calls stand towards each other and towards their loops: in exclusive
branches, after an early exit, in the same or a nested loop, before a break of the loop; and
whether a loop's loss goes through a graph built before the loop (PIT205, PIT206)."""

from __future__ import annotations

import ast

from ..semantic.model import FUNCTION_TYPES, SemanticModel
from ..syntax.tree import ancestors, pos


def exclusive(a: ast.AST, b: ast.AST) -> bool:
    """``a`` and ``b`` are in different branches of one ``if`` / ``try``."""
    pa = {}
    child = a
    for anc in ancestors(a):
        pa[id(anc)] = getattr(child, "_tp_field", None)
        child = anc
    child = b
    for anc in ancestors(b):
        f = pa.get(id(anc))
        if f is not None and isinstance(anc, (ast.If, ast.Try, ast.IfExp)):
            fb = getattr(child, "_tp_field", None)
            if fb != f and {f, fb} <= {"body", "orelse", "handlers"}:
                return True
        child = anc
    return False


def leaves_before(a: ast.AST, b: ast.AST) -> bool:
    """``a`` is in an ``if`` branch that ends with continue / break / return / raise, and ``b`` is not."""
    child = a
    for anc in ancestors(a):
        if isinstance(anc, (*FUNCTION_TYPES, ast.For, ast.AsyncFor, ast.While)):
            return False
        if isinstance(anc, ast.If):
            branch = getattr(anc, getattr(child, "_tp_field", ""), None)
            if isinstance(branch, list) and branch and isinstance(branch[-1], (ast.Continue, ast.Break, ast.Return, ast.Raise)):
                if not any(x is anc for x in ancestors(b)) or getattr(_child_towards(anc, b), "_tp_field", None) != getattr(child, "_tp_field", None):
                    return True
        child = anc
    return False


def _child_towards(anc: ast.AST, node: ast.AST) -> ast.AST | None:
    child = node
    for a in ancestors(node):
        if a is anc:
            return child
        child = a
    return None


def same_or_nested_loop(model: SemanticModel, b1: ast.AST, b2: ast.AST) -> bool:
    """``b1`` runs in the same iteration as ``b2``, or in a loop nested in it (its last run precedes ``b2``)."""
    l1, l2 = innermost_loop(model, b1), innermost_loop(model, b2)
    if l1 is l2:
        return True
    if l1 is None:
        return False
    return l2 is None and model.enclosing_function(l1) is model.enclosing_function(b2) or any(a is l2 for a in ancestors(l1))


def innermost_loop(model: SemanticModel, node: ast.AST) -> ast.AST | None:
    """The innermost loop around ``node`` in its function, if any."""
    loops = model.enclosing_loops(node)
    return loops[0] if loops else None


def breaks_after(loop: ast.AST, node: ast.AST) -> bool:
    """A ``break`` / ``return`` / ``raise`` of ``loop`` itself (not of a nested loop) after ``node``."""
    for n in ast.walk(loop):
        if isinstance(n, (ast.Break, ast.Return, ast.Raise)) and pos(n) > pos(node):
            if not any(isinstance(a, (ast.For, ast.AsyncFor, ast.While)) and a is not loop and any(x is loop for x in ancestors(a)) for a in ancestors(n)):
                return True
    return False


def loss_bound_outside(model: SemanticModel, loss: ast.AST, loop: ast.AST) -> bool:
    """``loss`` is a name whose every binding is outside ``loop``."""
    if not isinstance(loss, ast.Name):
        return False
    bs = model.lookup(loss.id, loss)
    return bool(bs) and all(not any(a is loop for a in ancestors(b.stmt)) for b in bs)


def reuses_outside(model: SemanticModel, loss: ast.AST, loop: ast.AST, outside) -> bool:
    """Every iteration's loss goes through a tensor of ``outside`` that needs its graph (not a
    module-level weight or a detached value): the loss itself, or a forward output read in the loop."""
    if loss_bound_outside(model, loss, loop):
        return True
    ids = {id(s) for s in outside}
    for n in ast.walk(loop):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load):
            for b in model.lookup(n.id, n):
                if id(b.stmt) in ids:
                    return True
    return False
