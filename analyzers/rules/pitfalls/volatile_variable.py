from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, FixAvailability, Severity
from ..rule import CallRule, Context
from .retain_graph_without_reuse import _remove_keyword_fix

VARIABLE = torch_api.VARIABLE


class VolatileVariable(CallRule):
    """
    ## What it does
    Checks for `Variable(..., volatile=True)` (or any `volatile=` argument to `Variable`).

    Known problems: none known: `volatile=True` never has an effect on a current torch (measured:
    it warns that it was removed), so even a smoke test that writes it runs with autograd on.

    ## Why is this bad?
    `volatile` was removed in PyTorch 0.4 and has no effect. Code that relied on it to turn
    autograd off during evaluation no longer does: the forward passes record their graph as in
    training. Torch only warns (measured on torch 2.13, CPU, and 2.11, H100): "volatile was
    removed and now has no effect. Use `with torch.no_grad():` instead.". `Variable` itself is a
    no-op wrapper since 0.4.

    ## Example
    ```python
    for x, y in val_loader:
        x = Variable(x.cuda(), volatile=True)
        out = model(x)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        for x, y in val_loader:
            out = model(x.cuda())
    ```

    ## Fix safety
    The fix removes the `volatile=` argument. It is safe: the argument does nothing. Wrapping
    the evaluation in `with torch.no_grad():` is what restores the intended behaviour; do it by
    hand.

    ## References
    - [PyTorch 0.4.0 migration guide: volatile flag deprecated](https://pytorch.org/blog/pytorch-0_4_0-migration-guide/)
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    """

    code = "PIT202"
    name = "volatile-variable"
    summary = "Variable(volatile=True) has no effect since PyTorch 0.4; use torch.no_grad()"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES

    def check(self, node: ast.Call, ctx: Context) -> None:
        kw = next((k for k in node.keywords if k.arg == "volatile"), None)
        if kw is None:
            return
        name = ctx.model.call_name(node)
        if name not in VARIABLE and not (name is None and isinstance(node.func, ast.Name) and node.func.id == "Variable" and not ctx.model.lookup("Variable", node.func)):
            return
        ctx.report(
            kw,
            "volatile has no effect since PyTorch 0.4 (torch warns: volatile was removed and now has no effect): "
            "autograd is not turned off. Use `with torch.no_grad():` around the evaluation",
            fix=_remove_keyword_fix(node, kw, ctx, "Remove volatile= (then wrap the code in torch.no_grad())", Applicability.SAFE),
        )
