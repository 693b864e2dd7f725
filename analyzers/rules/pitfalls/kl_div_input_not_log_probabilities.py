from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.patterns import LOG_SOFTMAX, SIGMOID, SOFTMAX, activation_evidence, loss_call
from ...facts.probes import arg_spec, call_spec
from ...semantic.callsites import unpacks
from ..related import ACTIVATION_NAMES, activation_related, input_activation, input_related
from ..rewrites import append_keyword, log_softmax_fix
from ..rule import CallRule, Context


class KlDivInputNotLogProbabilities(CallRule):
    """
    ## What it does
    Checks for `F.kl_div` / `nn.KLDivLoss` whose first argument (`input`) is a probability
    tensor: a `softmax` or `sigmoid` output, directly, through a variable or at the end of a
    model's `forward`. Also checks the target's convention: a `log_softmax` target without
    `log_target=True`, or a `softmax` target with `log_target=True`.

    Known problems: reported also where the value is only checked by an `assert` (a unit test):
    with probabilities as input the divergence is wrong (measured: -2.07 instead of 0 for a
    distribution against itself), and a test asserting it would hold the wrong value.

    ## Why is this bad?
    `kl_div(input, target)` computes `target * (log(target) - input)`: it expects `input` to be
    **log**-probabilities (and `target` probabilities, or log-probabilities with
    `log_target=True`). Given probabilities, the result is not a divergence at all and can be
    negative. Measured on torch 2.13 (CPU) and 2.11 (H100): the "divergence" of a distribution
    from itself came out at -2.07 (CPU) / -2.13 (CUDA) instead of 0 (the
    inputs are random, so the figure varies from run to run; it stays near -2). There is no error and no
    warning, and minimising it does not pull the distributions together.

    ## Example
    ```python
    student = F.softmax(student_logits / T, dim=1)
    teacher = F.softmax(teacher_logits / T, dim=1)
    loss = F.kl_div(student, teacher, reduction="batchmean")
    ```

    ## Use instead
    ```python
    student = F.log_softmax(student_logits / T, dim=1)
    teacher = F.softmax(teacher_logits / T, dim=1)
    loss = F.kl_div(student, teacher, reduction="batchmean")
    ```

    ## Fix safety
    When the input is a `softmax` call written as `F.softmax` / `torch.softmax` / `x.softmax`,
    the fix turns it into `log_softmax`. It is safe when the softmax is written inside the
    `kl_div` call or its variable is used nowhere else, unsafe otherwise. For a target in the
    wrong convention the fix toggles `log_target` (unsafe: the loss's value changes). No fix is
    offered for `sigmoid` or for an `nn.Softmax` module.

    ## References
    - [torch.nn.KLDivLoss](https://pytorch.org/docs/stable/generated/torch.nn.KLDivLoss.html)
    - [torch.nn.functional.kl_div](https://pytorch.org/docs/stable/generated/torch.nn.functional.kl_div.html)
    """

    code = "PIT104"
    name = "kl-div-input-not-log-probabilities"
    summary = "kl_div input is probabilities, but it must be log-probabilities"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES

    def check(self, node: ast.Call, ctx: Context) -> None:
        lc = loss_call(ctx.model, node, torch_api.KL_DIV_FUNCS, torch_api.KL_DIV_MODULES)
        if lc is None:
            return
        inp, target = lc.arg(0, "input"), lc.arg(1, "target")
        has_lt, lt = lc.option("log_target")
        if not lc.functional and lc.ctor is None:
            has_lt, lt = True, None  # options unknown
        log_target = (
            True if isinstance(lt, ast.Constant) and lt.value is True else False if (not has_lt or (isinstance(lt, ast.Constant) and lt.value is False)) else None
        )
        if inp is not None:
            ev, via = input_activation(ctx, inp)
            if ev and {e.kind for e in ev} <= {SOFTMAX, SIGMOID}:
                what = "/".join(sorted({ACTIVATION_NAMES[e.kind] for e in ev}))
                message = (
                    f"kl_div expects log-probabilities as input but gets a {what} output: the result is not "
                    f"a divergence (measured, the KL of a distribution from itself came out at about -2 "
                    f"instead of 0); use log_softmax for the input"
                )
                probe = call_spec(
                    self.code, torch_api.KL_DIV,
                    [arg_spec(ctx.model, inp), arg_spec(ctx.model, target)] if target is not None else [arg_spec(ctx.model, inp)],
                )
                related = input_related(ctx, inp, ev, via)
                fix = log_softmax_fix(ctx, inp, ev, "Use log_softmax for the input") if via is None else None
                ctx.report(inp, message, fix=fix, related=related, probe=probe)
        if target is not None and log_target is not None:
            ev = activation_evidence(ctx.model, target)
            if not ev:
                return
            kinds = {e.kind for e in ev}
            if kinds == {LOG_SOFTMAX} and log_target is False:
                message = (
                    "kl_div's target is log_softmax output but log_target is not set: the target is read as "
                    "probabilities; pass log_target=True (or give the target as softmax)"
                )
                fix = self._log_target_fix(lc, True, ctx)
            elif kinds == {SOFTMAX} and log_target is True:
                message = (
                    "kl_div's target is a softmax output but log_target=True reads it as log-probabilities; "
                    "drop log_target=True (or give the target as log_softmax)"
                )
                fix = self._log_target_fix(lc, False, ctx)
            else:
                return
            ctx.report(target, message, fix=fix, related=[activation_related(ctx, e) for e in ev])

    @staticmethod
    def _log_target_fix(lc, value: bool, ctx: Context) -> Fix | None:
        where = lc.call if lc.functional else lc.ctor
        if where is None:
            return None
        for kw in where.keywords:
            if kw.arg == "log_target":
                return Fix(f"Set log_target={value}", Applicability.UNSAFE, (ctx.replace(kw.value, str(value)),))
        if unpacks(where):
            return None
        return Fix(f"Set log_target={value}", Applicability.UNSAFE, (append_keyword(ctx, where, f"log_target={value}"),))
