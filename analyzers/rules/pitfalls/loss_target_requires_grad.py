from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.grad import Grad, in_grad_free_hook, requires_grad
from ...facts.networks import constant_side
from ...facts.patterns import LOG_SOFTMAX, SOFTMAX, LossCall, all_activation, loss_call, project_loss_call, unnegated
from ..rewrites import with_method
from ..rule import Context, Rule


class LossTargetRequiresGrad(Rule):
    """
    ## What it does
    Checks for the constant side of a regression or divergence loss (`MSELoss`, `L1Loss`,
    `SmoothL1Loss`, `HuberLoss`, `BCELoss`, `BCEWithLogitsLoss`, `KLDivLoss`,
    `CosineEmbeddingLoss` and their functional forms) that requires grad through a network this
    loss is not meant to train: a DQN target network, a distillation teacher, an EMA / momentum
    copy.

    "Which network" is computed from objects, not names: both sides of the loss require grad
    through different module objects, and the constant side's network is a copy of the other
    (`copy.deepcopy`, `load_state_dict(other.state_dict())`, an EMA update from its
    parameters), or pretrained (`load_state_dict(torch.load(...))`) and held by no optimizer of
    the file, or held by no optimizer while an optimizer holds the other side's network. Values
    are followed through names, `self.x` attributes, arithmetic, indexing, `.max(1)[0]`,
    `.gather`, tuples returned and unpacked, helper functions and methods, parameters of local
    functions, and the project's modules where their classes are resolved.

    For the symmetric losses (`mse_loss`, `l1_loss`, `smooth_l1_loss`, `huber_loss` and their
    modules) the order of the arguments does not matter: a prediction written first, or a
    learned tensor compared with data, is not reported. For the others the target argument is
    the constant side. A cross-entropy written out by hand, `-(p_teacher *
    log_softmax(student)).sum()`, is checked the same way: the probabilities are the constant
    side.

    It stays silent when the constant side is detached (`.detach()`, `.data`), computed under
    `torch.no_grad()` / `torch.inference_mode()` (as a block or a decorator, also inside the
    helper that computes it), or produced by a network whose parameters are all frozen
    (`requires_grad_(False)`, `p.requires_grad = False` over its parameters, directly or in a
    helper or method that does it), and in Lightning's `validation_step` / `test_step` /
    `predict_step`.

    Not reported (known limits): a bootstrap target computed by the same network as the prediction (`r + gamma *
    net(s2).max(1)[0]` against `net(s)`) is not reported: both sides go through one object, and
    nothing but the shape of the expression says which side is meant to be constant. Two
    independent networks with no optimizer, copy or checkpoint in the file are not reported
    either: which one is trained is unknown.

    Known problems: worth a warning only where a network this loss is not meant to train gets
    gradients (measured: the target receives a gradient, silently). A tensor made with
    `requires_grad=True` and compared in a unit test is no network and is not reported; neither is
    a symmetric loss between a prediction and data.

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
    policy_net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    target_net = copy.deepcopy(policy_net)
    optimizer = torch.optim.Adam(policy_net.parameters())

    def td_loss(states, actions, rewards, next_states, gamma=0.99):
        q = policy_net(states).gather(1, actions)
        y = rewards + gamma * target_net(next_states).max(1)[0]
        return F.mse_loss(q, y)
    ```

    ## Use instead
    ```python
    policy_net = nn.Sequential(nn.Linear(4, 64), nn.ReLU(), nn.Linear(64, 2))
    target_net = copy.deepcopy(policy_net)
    optimizer = torch.optim.Adam(policy_net.parameters())

    def td_loss(states, actions, rewards, next_states, gamma=0.99):
        q = policy_net(states).gather(1, actions)
        with torch.no_grad():
            y = rewards + gamma * target_net(next_states).max(1)[0]
        return F.mse_loss(q, y)
    ```
    Or `y.detach()`. If gradients through both sides are intended, say so with `# noqa: PIT103`.

    ## Fix safety
    The fix appends `.detach()` to the constant side. It is offered only when the other side
    requires grad through another network (so the loss still reaches the trained parameters and
    backward still runs), and it is unsafe: it changes which parameters receive gradients (on
    purpose: the target's network stops being trained by this loss).

    ## References
    - [torch.Tensor.detach](https://pytorch.org/docs/stable/generated/torch.Tensor.detach.html)
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - [torch.nn.MSELoss](https://pytorch.org/docs/stable/generated/torch.nn.MSELoss.html)
    """

    code = "PIT103"
    name = "loss-target-requires-grad"
    summary = "Loss target requires grad: gradients flow into the target (teacher, target network)"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    node_types = (ast.Call, ast.BinOp)

    def check(self, node: ast.AST, ctx: Context) -> None:
        if isinstance(node, ast.BinOp):
            self._check_hand_written(node, ctx)
            return
        assert isinstance(node, ast.Call)
        m = ctx.model
        lc = loss_call(m, node, torch_api.TARGET_LOSS_FUNCS, torch_api.TARGET_LOSS_MODULES) or project_loss_call(m, node, torch_api.TARGET_LOSS_MODULES)
        if lc is None or not m.grad_not_off(node):  # under no_grad, or a context whose grad mode nothing tells
            return
        if in_grad_free_hook(m, node):
            return  # Lightning runs these hooks with gradients disabled
        pos = torch_api.TARGET_LOSS_FUNCS.get(lc.qualname, torch_api.TARGET_LOSS_MODULES.get(lc.qualname, 1))
        first = lc.arg(pos - 1, "input1" if pos == 2 else "input")
        target = lc.arg(pos, "target")
        if first is None or target is None or isinstance(target, ast.Starred) or isinstance(first, ast.Starred):
            return
        sides = [(target, first)]
        if lc.qualname in torch_api.SYMMETRIC_LOSSES:
            sides.append((first, target))
        for const, other in sides:
            g = requires_grad(m, const)
            if not g.yes or not g.modules:
                continue
            go = requires_grad(m, other)
            if go.no:
                continue  # the only side with gradients is the prediction, whichever argument it is
            role = constant_side(m, g.modules, go.modules if go.yes else frozenset())
            if role is None:
                continue
            self._report(ctx, lc, const, g, go, role)
            return

    def _check_hand_written(self, node: ast.BinOp, ctx: Context) -> None:
        """``-(p_teacher * log_softmax(student)).sum()``: a cross-entropy written out, whose soft
        target (the probabilities) is the constant side."""
        if not isinstance(node.op, ast.Mult):
            return
        m = ctx.model
        if not (m.text_contains("softmax") or m.text_contains("Softmax")):
            return  # both factors are softmax outputs: nothing to find
        sides = [unnegated(node.left), unnegated(node.right)]
        for probs, logp in (sides, sides[::-1]):
            if not all_activation(m, logp, LOG_SOFTMAX) or not all_activation(m, probs, SOFTMAX) or not m.grad_not_off(node):
                continue
            g = requires_grad(m, probs)
            go = requires_grad(m, logp)
            if not g.yes or not g.modules or not go.yes:
                continue
            role = constant_side(m, g.modules, go.modules)
            if role is None:
                continue
            self._report(ctx, "a hand-written cross-entropy", probs, g, go, role)
            return

    @staticmethod
    def _report(ctx: Context, lc: "LossCall | str", const: ast.expr, g: Grad, go: Grad, role: tuple[ast.AST, str]) -> None:
        loss_name = lc if isinstance(lc, str) else lc.qualname.rsplit(".", 1)[1]
        net = ctx.source.segment(g.node.func) if isinstance(g.node, ast.Call) else "a network"
        if isinstance(g.node, ast.Call) and isinstance(g.node.func, ast.Attribute) and g.node.func.attr == "forward":
            net = ctx.source.segment(g.node.func.value)
        message = (
            f"the constant side of {loss_name} requires grad through {net} ({role[1]}), a network this loss is not "
            f"meant to train: backward also sends gradients into it (no error; measured, the target receives a gradient). "
            f"Detach it or compute it under torch.no_grad()"
        )
        related = [ctx.related(g.node, "computed with gradients here"), ctx.related(role[0], role[1])]
        fix = None
        if go.yes:  # the other side still reaches trained parameters: backward keeps working
            fix = Fix("Detach the constant side", Applicability.UNSAFE, (ctx.replace(const, with_method(ctx, const, "detach")),))
        ctx.report(const, message, fix=fix, related=related)
