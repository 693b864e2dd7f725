from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Edit, Fix, FixAvailability, Severity
from ...facts.patterns import LOG_SOFTMAX, Evidence, call_arg, is_instance_of, softmax_evidence
from ...facts.probes import arg_spec, call_spec, unknown
from ..related import activation_related
from ..rewrites import other_loads
from ..rule import CallRule, Context


class SoftmaxBeforeCrossEntropy(CallRule):
    """
    ## What it does
    Checks for a softmax (or log_softmax) output passed to `nn.CrossEntropyLoss` or
    `F.cross_entropy`: called directly, through a variable, or as the output of a model whose
    `forward` ends in a softmax (including an `nn.Sequential` ending in `nn.Softmax`, also one
    level down, as in `return self.net(x)`). The criterion is recognised however it is held: a
    local, `self.criterion` set in `__init__` (trainer classes, Lightning modules), a parameter
    with a default (`criterion=nn.CrossEntropyLoss()`) or an annotation
    (`loss_fn: nn.CrossEntropyLoss`), with any options (`label_smoothing=`, `weight=`).

    Known problems: worth a warning wherever it is written: the loss is wrong in a unit test or
    a one-off script as in training (measured: a perfect prediction still costs 1.4612, and the
    gradient is about 7% of the correct one). A test that feeds probabilities to cross_entropy on
    purpose can say so with `# noqa: PIT101`.

    ## Why is this bad?
    `cross_entropy` expects raw, unnormalised logits: it applies `log_softmax` itself. Given
    probabilities, it computes the loss of `softmax(softmax(x))`, which squashes the signal.
    Measured on torch 2.13 (CPU) and 2.11 (H100): the gradient norm falls to 6.9% (CPU) / 7.2%
    (CUDA) of the correct one on random logits, and a perfect prediction still has a loss of
    1.4612 instead of 0.0, so training is slow and plateaus. There is no error and no warning.

    A `log_softmax` before `cross_entropy` is redundant rather than wrong (`log_softmax` of
    log-probabilities returns them unchanged): it costs a pass over the logits and usually means
    `NLLLoss` was intended.

    ## Example
    ```python
    logits = model(images)
    probs = F.softmax(logits, dim=1)
    loss = F.cross_entropy(probs, labels)
    ```

    ## Use instead
    ```python
    logits = model(images)
    loss = F.cross_entropy(logits, labels)
    probs = F.softmax(logits, dim=1)  # only for reporting
    ```

    ## Fix safety
    The fix passes the softmax's input to the loss instead. It is safe when the softmax is
    written inside the loss call or when its result is used nowhere else. It is unsafe when the
    softmaxed tensor is used elsewhere too, or when the softmax is at the end of a model's
    `forward` (removing it changes what the model returns to every caller). No fix is offered
    for an `nn.Sequential` ending in `nn.Softmax`.

    ## References
    - [torch.nn.CrossEntropyLoss](https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html)
    - [torch.nn.functional.cross_entropy](https://pytorch.org/docs/stable/generated/torch.nn.functional.cross_entropy.html)
    """

    code = "PIT101"
    name = "softmax-before-cross-entropy"
    summary = "Softmax output passed to cross_entropy, which expects raw logits"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES

    def check(self, node: ast.Call, ctx: Context) -> None:
        loss_input = self._loss_input(node, ctx)
        if loss_input is None:
            return
        if self._is_cross_entropy(node, ctx, jedi=False):
            evidence = softmax_evidence(ctx.model, loss_input)  # may follow a model into another module
        else:
            # The callee is not known locally. Look at the input with local evidence only (it is
            # rarely a softmax), and only then ask jedi whether the callee is a cross-entropy.
            with ctx.model.local_only():
                evidence = softmax_evidence(ctx.model, loss_input)
            if evidence and not self._is_cross_entropy(node, ctx, jedi=True):
                return
        if not evidence:
            return
        kinds = {e.kind for e in evidence}
        related = [activation_related(ctx, e) for e in evidence]
        if kinds == {LOG_SOFTMAX}:
            message = (
                "cross_entropy applies log_softmax itself: the log_softmax before it is redundant "
                "(same result, one more pass); if NLLLoss was meant, use F.nll_loss"
            )
        else:
            message = (
                "cross_entropy expects raw logits but gets a softmax output: the loss is computed on "
                "softmax(softmax(x)); measured, gradients fall to about 7% of the correct ones and a "
                "perfect prediction still costs 1.46 instead of 0. Pass the logits"
            )
        target = call_arg(node, 1, "target")
        probe = call_spec(
            self.code,
            torch_api.CROSS_ENTROPY,
            [arg_spec(ctx.model, loss_input), arg_spec(ctx.model, target) if target is not None else unknown("no target")],
        )
        ctx.report(loss_input, message, fix=self._fix(node, loss_input, evidence, ctx), related=related, probe=probe)

    @staticmethod
    def _loss_input(call: ast.Call, ctx: Context) -> ast.expr | None:
        """The input argument of what may be a cross-entropy call (cheap, syntactic)."""
        name = ctx.model.call_name(call)
        if name in torch_api.CROSS_ENTROPY_FUNCS:
            return call_arg(call, 0, "input")
        if name is not None or len(call.args) + len(call.keywords) < 2:
            return None  # a loss call has an input and a target
        if not isinstance(call.func, (ast.Name, ast.Attribute, ast.Call)):
            return None
        if not isinstance(call.func, ast.Call) and ctx.flow.callee(call) is not None:
            return None  # a function or method of this file (train_epoch(model, loader)), not a loss
        return call_arg(call, 0, "input")

    @staticmethod
    def _is_cross_entropy(call: ast.Call, ctx: Context, *, jedi: bool) -> bool:
        model = ctx.model
        if model.call_name(call) in torch_api.CROSS_ENTROPY_FUNCS:
            return True
        func = call.func
        if isinstance(func, ast.Call):
            return model.call_name(func) in torch_api.CROSS_ENTROPY_MODULES  # nn.CrossEntropyLoss()(x, y)
        return is_instance_of(model, func, torch_api.CROSS_ENTROPY_MODULES, jedi=jedi)

    @staticmethod
    def _fix(call: ast.Call, loss_input: ast.expr, evidence: list[Evidence], ctx: Context) -> Fix | None:
        if len(evidence) != 1:
            return None
        ev = evidence[0]
        if ev.value.model is not ctx.model or ev.operand is None or not isinstance(ev.value.node, ast.Call):
            return None
        softmax_call = ev.value.node
        operand_text = ctx.text(ev.operand)
        if isinstance(ev.operand, (ast.BinOp, ast.BoolOp, ast.IfExp, ast.Lambda, ast.NamedExpr, ast.Compare)):
            operand_text = f"({operand_text})"
        if ev.via_model is not None:
            return Fix(
                "Remove the softmax from the model's forward (return the logits)",
                Applicability.UNSAFE,
                (Edit(ctx.range(softmax_call), operand_text),),
            )
        if softmax_call is loss_input:
            return Fix("Pass the logits (drop the softmax)", Applicability.SAFE, (Edit(ctx.range(softmax_call), operand_text),))
        # Through a variable: drop the softmax where the variable is assigned.
        stmt = ctx.model.statement_of(softmax_call)
        if not (
            isinstance(loss_input, ast.Name)
            and isinstance(stmt, ast.Assign)
            and stmt.value is softmax_call
            and any(isinstance(t, ast.Name) and t.id == loss_input.id for t in stmt.targets)
        ):
            return None
        uses = other_loads(ctx.model, loss_input)
        if uses is None:
            return None
        applicability = Applicability.SAFE if uses == 0 else Applicability.UNSAFE
        return Fix(
            "Drop the softmax (the variable then holds logits)"
            + ("" if uses == 0 else "; it is also used elsewhere"),
            applicability,
            (Edit(ctx.range(softmax_call), operand_text),),
        )
