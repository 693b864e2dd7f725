"""Where a value goes: facts about the uses of an expression's result in its scope."""

from __future__ import annotations

import ast

from ..semantic.model import SemanticModel
from ..syntax.tree import ancestors, parent


def _in_assert(node: ast.AST) -> bool:
    return any(isinstance(a, ast.Assert) for a in ancestors(node))


def only_asserted(model: SemanticModel, node: ast.expr) -> bool:
    """Proven: the value of ``node`` is only checked by ``assert`` statements. Either ``node`` is
    inside an ``assert``, or its statement binds it, whole, to one name (``loss = F.kl_div(...)``,
    ``kl = nn.KLDivLoss()``) whose every read in that scope is inside an ``assert`` (a call of it
    too: ``assert kl(p, q).ndim == 0``), and there is at least one. A unit test's check of a
    one-off value: the value reaches nothing else (no backward, no return, no print)."""
    if _in_assert(node):
        return True
    stmt = parent(node)
    if not (isinstance(stmt, ast.Assign) and stmt.value is node and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
        return False
    name = stmt.targets[0].id
    scope = model.enclosing_function(stmt)
    if scope is None:
        return False  # a module-level name may be read from anywhere
    reads = 0
    for n in ast.walk(scope):
        if isinstance(n, ast.Name) and n.id == name:
            if isinstance(n.ctx, ast.Store):
                if n is not stmt.targets[0]:
                    return False
                continue
            if not _in_assert(n):
                return False
            reads += 1
        elif isinstance(n, (ast.Global, ast.Nonlocal)) and name in n.names:
            return False
    return reads > 0
