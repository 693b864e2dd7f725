"""Small source rewrites shared by several rules' fixes."""

from __future__ import annotations

import ast

from ..catalogue import torch_api
from .rule import Context
from ..core.diagnostics import Applicability, Edit, Fix
from ..semantic.model import SemanticModel

_PAREN_NEEDED = (ast.BinOp, ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Compare, ast.UnaryOp, ast.Await)


def softmax_to_log_softmax(ctx: Context, call: ast.AST) -> Edit | None:
    """``F.softmax(x, 1)`` / ``torch.softmax(x, 1)`` / ``x.softmax(1)`` -> the log_softmax spelling.

    None for forms we cannot rewrite safely (a bare ``softmax`` imported by name, a module).
    """
    if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Attribute) or call.func.attr != "softmax":
        return None
    from ..facts.patterns import activation_module_instance

    name = ctx.model.call_name(call)
    if name is not None and name not in torch_api.SOFTMAX_FUNCS:
        return None
    if name is None and (activation_module_instance(ctx.model, call.func) is not None or ctx.model._is_self(call.func.value)):
        return None  # self.softmax(x): an nn.Softmax module, not the tensor method
    return ctx.replace(call.func, f"{ctx.text(call.func.value)}.log_softmax")


def with_method(ctx: Context, expr: ast.expr, method: str) -> str:
    """``expr.method()``, parenthesising ``expr`` where needed."""
    text = ctx.text(expr)
    if isinstance(expr, _PAREN_NEEDED) or (isinstance(expr, ast.Constant) and isinstance(expr.value, (int, float))):
        text = f"({text})"
    return f"{text}.{method}()"


def other_loads(model: SemanticModel, name_expr: ast.expr) -> int | None:
    """How many other reads the variable ``name_expr`` has in its scope (None if not a name)."""
    if not isinstance(name_expr, ast.Name):
        return None
    scope = model.scope_of(name_expr)
    if isinstance(scope.node, ast.Module) and model.reads is not None:
        model.reads.mentions.add(name_expr.id)  # module level: its reads are in every top-level statement
    count = 0
    stack: list[ast.AST] = [scope.node]
    while stack:
        n = stack.pop()
        if isinstance(n, ast.Name) and n.id == name_expr.id and isinstance(n.ctx, ast.Load) and n is not name_expr:
            count += 1
        stack.extend(ast.iter_child_nodes(n))
    return count


def append_keyword(ctx: Context, call: ast.Call, text: str) -> Edit:
    """Add ``text`` (``name=value``) as the last argument of ``call``, after its last argument
    (so a trailing comma or a multi-line call stays valid)."""
    from ..core.diagnostics import Range

    args = [*call.args, *(k.value for k in call.keywords)]
    if not args:
        end = ctx.range(call).end
        at = Range(type(end)(end.line, end.col - 1), type(end)(end.line, end.col - 1))
        return Edit(at, text)
    last = max(args, key=lambda n: (n.end_lineno or 0, n.end_col_offset or 0))
    end = ctx.range(last).end
    return Edit(Range(end, end), f", {text}")


def log_softmax_fix(ctx: Context, inp: ast.expr, evidence: list, title: str) -> Fix | None:
    """Turn the one softmax feeding ``inp`` into log_softmax (PIT102, PIT104).

    Safe when the softmax is written in the call or its variable is used nowhere else; unsafe
    when the variable is also used elsewhere or the softmax ends a model's forward.
    """
    from ..facts.patterns import SOFTMAX

    if len(evidence) != 1 or evidence[0].kind != SOFTMAX or evidence[0].value.model is not ctx.model:
        return None
    ev = evidence[0]
    edit = softmax_to_log_softmax(ctx, ev.value.node)
    if edit is None:
        return None
    if ev.via_model is not None:
        return Fix("Return log_softmax from the model's forward", Applicability.UNSAFE, (edit,))
    if ev.value.node is inp:
        return Fix(title, Applicability.SAFE, (edit,))
    stmt = ctx.model.statement_of(ev.value.node)
    if not (isinstance(inp, ast.Name) and isinstance(stmt, ast.Assign) and stmt.value is ev.value.node):
        return None
    uses = other_loads(ctx.model, inp)
    if uses is None:
        return None
    return Fix(
        title + ("" if uses == 0 else " (the variable is also used elsewhere)"),
        Applicability.SAFE if uses == 0 else Applicability.UNSAFE,
        (edit,),
    )
