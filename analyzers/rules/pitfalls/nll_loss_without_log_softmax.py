from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.patterns import LOG_SIGMOID, LOG_SOFTMAX, SIGMOID, SOFTMAX, loss_call, raw_score_evidence
from ..related import activation_related, input_activation, input_related
from ..rewrites import log_softmax_fix
from ..rule import CallRule, Context


class NllLossWithoutLogSoftmax(CallRule):
    """
    ## What it does
    Checks for `nn.NLLLoss` / `F.nll_loss` fed something that is provably not
    log-probabilities: a `softmax` (or `sigmoid`) output, directly, through a variable or at the
    end of a model's `forward`, or the output of a model whose `forward` ends in a linear or
    convolution layer (raw scores).

    Known problems: worth a warning wherever it is written: with probabilities or raw scores the
    loss is not the negative log-likelihood in a test as in training, and it is unbounded below.

    ## Why is this bad?
    `nll_loss` does not take a logarithm: it returns `-input[target]` (averaged), so it is the
    negative log-likelihood only if `input` already holds log-probabilities. Given softmax
    probabilities, the "loss" is `-p[target]`, which lies in `[-1, 0]`; its gradient is the
    gradient of the probability, not of its log, so confident mistakes are barely penalised.
    Given raw scores, the loss is unbounded below: the model lowers it by growing the target
    logit without limit. Neither raises an error or a warning.

    ## Example
    ```python
    criterion = nn.NLLLoss()
    probs = F.softmax(model(x), dim=1)
    loss = criterion(probs, y)
    ```

    ## Use instead
    ```python
    criterion = nn.NLLLoss()
    log_probs = F.log_softmax(model(x), dim=1)
    loss = criterion(log_probs, y)
    ```
    Or pass the raw logits to `nn.CrossEntropyLoss`, which is `log_softmax` + `nll_loss`.

    ## Fix safety
    When the input is a `softmax` call written as `F.softmax` / `torch.softmax` / `x.softmax`,
    the fix turns it into `log_softmax`. It is safe when the softmax is written inside the loss
    call or its variable is used nowhere else; unsafe when the variable is used elsewhere too
    (those uses then see log-probabilities) or when the softmax ends a model's `forward`. For raw
    scores, the suggestion to use `cross_entropy` is display-only.

    ## References
    - [torch.nn.NLLLoss](https://pytorch.org/docs/stable/generated/torch.nn.NLLLoss.html)
    - [torch.nn.functional.log_softmax](https://pytorch.org/docs/stable/generated/torch.nn.functional.log_softmax.html)
    - [torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    """

    code = "PIT102"
    name = "nll-loss-without-log-softmax"
    summary = "nll_loss input is probabilities or raw scores, not log-probabilities"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES

    def check(self, node: ast.Call, ctx: Context) -> None:
        lc = loss_call(ctx.model, node, torch_api.NLL_LOSS_FUNCS, torch_api.NLL_LOSS_MODULES)
        if lc is None:
            return
        inp = lc.arg(0, "input")
        if inp is None:
            return
        evidence, via = input_activation(ctx, inp)
        if evidence is not None:
            kinds = {e.kind for e in evidence}
            if kinds <= {LOG_SOFTMAX, LOG_SIGMOID}:
                return  # log-probabilities: right
            if not kinds <= {SOFTMAX, SIGMOID}:
                return  # a mix we cannot judge
            what = "softmax" if kinds == {SOFTMAX} else "sigmoid" if kinds == {SIGMOID} else "softmax/sigmoid"
            message = (
                f"nll_loss expects log-probabilities but gets a {what} output: it computes -p[target], "
                f"bounded in [-1, 0], not -log p[target]; use log_softmax (or cross_entropy on the logits)"
            )
            related = input_related(ctx, inp, evidence, via)
            ctx.report(inp, message, fix=log_softmax_fix(ctx, inp, evidence, "Use log_softmax") if via is None else None, related=related)
            return
        raw = raw_score_evidence(ctx.model, inp)
        if raw:
            message = (
                "nll_loss expects log-probabilities but gets the raw output of a model whose forward ends "
                "in a linear/convolution layer: the loss is unbounded below; apply log_softmax, or use "
                "cross_entropy, which does it for you"
            )
            related = [activation_related(ctx, e) for e in raw]
            fix = None
            if lc.functional:
                fix = Fix(
                    "Use F.cross_entropy on the raw scores (applies log_softmax itself)",
                    Applicability.DISPLAY_ONLY,
                    (ctx.replace(node.func, _cross_entropy_spelling(node.func, ctx)),),
                )
            ctx.report(inp, message, fix=fix, related=related)

def _cross_entropy_spelling(func: ast.expr, ctx: Context) -> str:
    if isinstance(func, ast.Attribute):
        return f"{ctx.text(func.value)}.cross_entropy"
    return torch_api.CROSS_ENTROPY
