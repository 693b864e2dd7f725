from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.uses import only_asserted
from ...semantic.callsites import unpacks
from ..rewrites import append_keyword
from ..rule import CallRule, Context

_LEGACY = {"size_average", "reduce"}


class KlDivReductionMean(CallRule):
    """
    ## What it does
    Checks for `nn.KLDivLoss(...)` and `F.kl_div(...)` with `reduction='mean'`, written
    explicitly or left as the default.

    Known problems: a value that is only checked by `assert` statements (a unit test asserting
    the shape or a reference value of a one-off `kl_div`) is not reported: it reaches no training
    and no report. A printed or logged value is reported: it is read as a KL divergence.

    ## Why is this bad?
    With `reduction='mean'` the summed divergence is divided by the number of *elements*
    (batch size times number of classes), not by the batch size, so the value is not the KL
    divergence and its scale (and the gradient's) shrinks with the number of classes. PyTorch
    says so at run time; measured on torch 2.13 (CPU) and 2.11 (H100), it warns:
    "reduction: 'mean' divides the total loss by both the batch size and the support
    size.'batchmean' divides only by the batch size, and aligns with the KL div math
    definition."

    ## Example
    ```python
    criterion = nn.KLDivLoss()
    loss = F.kl_div(log_p, q)
    ```

    ## Use instead
    ```python
    criterion = nn.KLDivLoss(reduction="batchmean")
    loss = F.kl_div(log_p, q, reduction="batchmean")
    ```

    ## Fix safety
    The fix sets `reduction='batchmean'`. It is unsafe: the loss grows by a factor of the
    support size (the number of classes), which changes the effective learning rate and the
    balance with other loss terms.

    ## References
    - [torch.nn.KLDivLoss](https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html)
    - [torch.nn.functional.kl_div](https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html)
    """

    code = "PIT105"
    name = "kl-div-reduction-mean"
    summary = "KL divergence with reduction='mean' (the default) is not the KL divergence; use 'batchmean'"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES

    def check(self, node: ast.Call, ctx: Context) -> None:
        name = ctx.model.call_name(node)
        if name in torch_api.KL_DIV_FUNCS:
            what, max_positional = "F.kl_div", 2  # kl_div(input, target, size_average, reduce, reduction, log_target)
        elif name in torch_api.KL_DIV_MODULES:
            what, max_positional = "nn.KLDivLoss", 0  # KLDivLoss(size_average, reduce, reduction, log_target)
        else:
            return
        if unpacks(node):
            return  # **kwargs: reduction may be passed
        if any(k.arg in _LEGACY for k in node.keywords) or len(node.args) > max_positional:
            return  # legacy size_average/reduce, or positional options we do not interpret
        reduction = next((k.value for k in node.keywords if k.arg == "reduction"), None)
        if only_asserted(ctx.model, node):
            return  # a unit test's one-off check: the value reaches no training and no report
        if reduction is not None:
            if not (isinstance(reduction, ast.Constant) and reduction.value == "mean"):
                return
            fix = Fix("Use reduction='batchmean'", Applicability.UNSAFE, (ctx.replace(reduction, _quoted(ctx, reduction, "batchmean")),))
            message = (
                f"{what} with reduction='mean' divides by the number of elements, not the batch size: it is not "
                f"the KL divergence (PyTorch warns about it); use reduction='batchmean'"
            )
        else:
            fix = Fix("Pass reduction='batchmean'", Applicability.UNSAFE, (append_keyword(ctx, node, 'reduction="batchmean"'),))
            message = (
                f"{what} defaults to reduction='mean', which divides by the number of elements, not the batch "
                f"size: it is not the KL divergence (PyTorch warns about it); pass reduction='batchmean'"
            )
        ctx.report(node, message, fix=fix)


def _quoted(ctx: Context, const: ast.Constant, value: str) -> str:
    q = ctx.text(const)[:1]
    q = q if q in ("'", '"') else '"'
    return f"{q}{value}{q}"
