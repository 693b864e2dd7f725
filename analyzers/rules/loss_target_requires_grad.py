from __future__ import annotations

import ast

from .. import torch_api
from ..context import Context
from ..diagnostics import Applicability, Fix, FixAvailability, Severity
from ..grad import grad_evidence
from ..patterns import loss_call
from ..rewrites import with_method
from ..rule import Rule


_GRAD_FREE_HOOKS = {"validation_step", "test_step", "predict_step"}


class LossTargetRequiresGrad(Rule):
    """
    ## What it does
    Checks for the target of a regression or divergence loss (`MSELoss`, `L1Loss`,
    `SmoothL1Loss`, `HuberLoss`, `BCELoss`, `BCEWithLogitsLoss`, `KLDivLoss`,
    `CosineEmbeddingLoss` and their functional forms) that requires grad: computed by a
    trainable network outside `torch.no_grad()` (the model itself, a distillation teacher, a DQN
    target network, an EMA / momentum encoder) or created with `requires_grad=True`.

    It stays silent when the target is detached (`.detach()`, `.data`), computed under
    `torch.no_grad()` / `torch.inference_mode()` (as a block or a decorator), or produced by a
    network the file freezes (`requires_grad_(False)`, `p.requires_grad = False` over its
    parameters), and for targets from the data loader.

    ## Why is this bad?
    A target is a constant the prediction should move towards. If it requires grad, the
    backward pass also moves the target towards the prediction: the teacher or target network
    is trained by the student's loss, a DQN's bootstrap target chases its own estimate, and the
    graph of the target's network is kept alive (memory and time). Old PyTorch releases raised
    an error; current ones accept it silently. Measured on torch 2.13 (CPU) and 2.11 (H100):
    `MSELoss`, `L1Loss`, `SmoothL1Loss`, `BCELoss` and `KLDivLoss` raise nothing and the target
    receives a gradient.

    ## Example
    ```python
    teacher_logits = teacher(images)
    loss = F.mse_loss(student(images), teacher_logits)
    ```

    ## Use instead
    ```python
    with torch.no_grad():
        teacher_logits = teacher(images)
    loss = F.mse_loss(student(images), teacher_logits)
    ```
    Or `teacher_logits.detach()`. If gradients through both sides are intended (a symmetric
    consistency loss), say so with `# noqa: PIT103`.

    ## Fix safety
    The fix appends `.detach()` to the target. It is unsafe: it changes which parameters are
    trained (on purpose: the target's network stops receiving gradients from this loss).

    ## References
    - [torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - [torch.nn.MSELoss](https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)
    """

    code = "PIT103"
    name = "loss-target-requires-grad"
    summary = "Loss target requires grad: gradients flow into the target (teacher, target network)"
    severity = Severity.WARNING
    fix_availability = FixAvailability.ALWAYS
    node_types = (ast.Call,)

    def check(self, node: ast.AST, ctx: Context) -> None:
        assert isinstance(node, ast.Call)
        lc = loss_call(ctx.model, node, torch_api.TARGET_LOSS_FUNCS, torch_api.TARGET_LOSS_MODULES)
        if lc is None or ctx.model.under_no_grad(node):
            return
        func = ctx.model.enclosing_function(node)
        if func is not None and func.name in _GRAD_FREE_HOOKS:
            cls = ctx.model.enclosing_class(func)
            if cls is not None and ctx.model.is_nn_module(cls):
                return  # Lightning runs these hooks with gradients disabled
        pos = torch_api.TARGET_LOSS_FUNCS.get(lc.qualname, torch_api.TARGET_LOSS_MODULES.get(lc.qualname, 1))
        target = lc.arg(pos, "target")
        if target is None or isinstance(target, ast.Starred):
            return
        found = grad_evidence(ctx.model, target)
        if found is None:
            return
        src, why = found
        loss_name = lc.qualname.rsplit(".", 1)[1]
        message = (
            f"the target of {loss_name} requires grad ({why}): backward also trains the target "
            f"(no error; measured, the target receives a gradient). Detach it or compute it under torch.no_grad()"
        )
        fix = Fix("Detach the target", Applicability.UNSAFE, (ctx.replace(target, with_method(ctx, target, "detach")),))
        ctx.report(target, message, fix=fix, related=[ctx.related(src, "the target is computed with gradients here")])
