from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.flow import BACKWARD, STEP, ZERO_GRAD, bound_inside, text_of
from ..rule import Context, Rule
from ...semantic.model import FUNCTION_TYPES
from ...syntax.tree import ancestors, parent
from ...facts.state import clear_covers, cleared_on_some_paths_only, has_jump, opaque_use, receiver, step_known


class MissingZeroGrad(Rule):
    """
    ## What it does
    Checks, for each optimizer stepped in a training loop (or a Lightning `training_step`),
    that something clears its gradients in the iteration: `opt.zero_grad()` on that optimizer,
    `model.zero_grad()` on a module whose parameters it holds (read from its construction:
    `X(model.parameters())`, param groups, `itertools.chain(...)`, `list(...) + list(...)`,
    kept in `self` attributes), `p.grad = None` or `p.grad.zero_()`; also in the helpers of
    the file that the loop calls. A `zero_grad()` of another optimizer, or of a module the
    optimizer does not hold, does not count: in a GAN where only one of two optimizers is
    cleared, the other one is reported. Also reported: every clear sits under an `if` of the
    loop body while the step runs in every iteration. A clear that cannot be told apart (an
    optimizer whose construction is not visible) counts as a clear, and so does handing the
    optimizer, or a module, to a function that cannot be read; a function of another module of
    the project (`utils.clip_gradient(optimizer, ...)`, `tidy(model)`) is read, and only counts
    if it may clear. What is an optimizer is computed, not read from names: a `torch.optim`
    class or a factory of the catalogue (also through assignments, `self` attributes, returns,
    `accelerator.prepare(...)`, and parameters followed to their call sites), or an object on
    which both `zero_grad()` and `step()` are called; an LR scheduler is not one. A bare
    `x.step()` on an object nothing describes (a parameter no call site shows) only counts
    where the loop steps nothing proven, and clears nothing at all.

    Known problems: worth a warning only where gradients add up across steps (measured: 3x after
    3 backward passes): an optimizer stepped in a loop or a Lightning `training_step`. A single
    step in a unit test accumulates nothing and is not reported.

    ## Why is this bad?
    `backward()` adds to `.grad`; it does not overwrite it. Without clearing, every step uses
    the sum of the gradients of all the batches seen so far, not the gradient of its batch.
    Measured on torch 2.13 (CPU) and 2.11 (H100): after 3 backward passes the gradient was 3x
    the gradient of one. Gradient accumulation on purpose (`zero_grad()` and `step()` every `k` batches, under
    `if (i + 1) % k == 0:`) clears the gradients and is not reported.

    ## Example
    ```python
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Use instead
    ```python
    for x, y in loader:
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
    ```

    ## Fix safety
    The fix inserts `optimizer.zero_grad()` at the top of the loop body (or of the helper that
    runs the step), before the forward pass. It is safe: each step then uses the gradient of its
    own batch, which is what a loop without accumulation means. Where the loop already clears
    on some branches, it is unsafe: the branches may encode a schedule the fix cannot see.

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [Zeroing out gradients in PyTorch](https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html)
    """

    code = "PIT207"
    name = "missing-zero-grad"
    summary = "Training loop calls backward() and step() but never clears the gradients"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        if not ctx.model.text_contains("backward") or not ctx.model.text_contains("step"):
            return  # cheap pre-check: nothing to find
        flow = ctx.flow
        reported: set[tuple[int, str | None]] = set()
        # Lightning's manual optimization: the trainer's loop calls training_step once per batch.
        steps_fns = [f for hook in sorted(torch_api.LIGHTNING_TRAINING_HOOKS) for f in ctx.model.functions.get(hook, []) if ctx.model.enclosing_class(f) is not None]
        for loop in [*flow.innermost_training_loops(), *steps_fns]:
            events = flow.events(loop)
            if not flow.is_training(events):
                continue
            if not isinstance(loop, FUNCTION_TYPES) and any(isinstance(s, (ast.Break, ast.Return)) for s in loop.body):
                continue  # a loop that always breaks runs once
            clears = [e for e in events if e.kind == ZERO_GRAD]
            backs = [e for e in events if e.kind == BACKWARD]
            seen_opts: set[str | None] = set()
            steps = [e for e in events if e.kind == STEP]
            # Steps proven an optimizer's (by construction or protocol) speak for the loop; a bare
            # ``x.step()`` on an object nothing describes (a parameter) counts only where no step
            # is proven, and then only as "this loop steps": it may be a scheduler's.
            known = [e for e in steps if step_known(flow, e)]
            for s in known or steps:
                if s.subject in seen_opts:
                    continue
                seen_opts.add(s.subject)
                covering = [z for z in clears if clear_covers(flow, z, s)]
                one_branch = bool(covering) and bool(known) and self._only_on_some_branches(flow, loop, s, covering)
                if covering and not one_branch:
                    continue
                if self._opaque(flow, loop, s):
                    continue
                before = [e for e in backs if e.order < s.order and not e.exclusive(s)]
                if not before:
                    continue
                b = before[-1]
                key = (id(b.node), s.subject if known else None)
                if key in reported:
                    continue
                reported.add(key)
                opt = s.subject if s.subject and not s.subject.startswith("<") else (flow.classify(s.node, {}) or (None, None))[1] or "optimizer"
                related = [ctx.related(s.node, "optimizer step here")]
                if one_branch:
                    what = f"{opt}'s gradients are cleared only on some branches of this training loop: on the others"
                    related += [ctx.related(z.node, "cleared only here") for z in covering]
                elif clears:
                    what = f"{opt}'s gradients are never cleared in this training loop (the zero_grad() here clears other parameters):"
                    related += [ctx.related(z.node, "clears something else") for z in clears[:2]]
                else:
                    what = "gradients are never cleared in this training loop:"
                ctx.report(
                    b.node,
                    f"{what} each {opt}.step() uses the sum of the gradients of all batches so far "
                    f"(measured: after 3 backward passes the gradient is 3x). Call {opt}.zero_grad() before the forward pass",
                    fix=self._fix(b, s, ctx, Applicability.UNSAFE if one_branch else Applicability.SAFE),
                    related=[*related, ctx.related(loop, "in this loop" if not isinstance(loop, FUNCTION_TYPES) else "in this training step")],
                )

    @staticmethod
    def _only_on_some_branches(flow, loop: ast.AST, s, covering) -> bool:
        """Every clear of the stepped optimizer is under an ``if`` of the loop body while the step
        runs in every iteration, and nothing leaves the iteration early."""
        if s.conditional or s.branches or isinstance(loop, FUNCTION_TYPES) or any(z.chain for z in covering):
            return False  # (a clear in a helper is no branch of this loop)
        # Read from the loop's own body alone: kept while it is unchanged.
        return flow.kept("cleared_on_some_paths_only", (loop, *(z.node for z in covering)), lambda: cleared_on_some_paths_only(loop, covering) and not has_jump(loop))

    @staticmethod
    def _opaque(flow, loop: ast.AST, s) -> bool:
        """The optimizer is handed to a function the loop model cannot follow, which may clear it."""
        names = {t for t in (s.subject, text_of(receiver(s, flow))) if t}
        return opaque_use(flow, loop, names)

    @staticmethod
    def _fix(b, s, ctx: Context, grade: Applicability) -> Fix | None:
        """Clear at the start of each step (unsafe where the code clears on some branches on
        purpose we cannot see)."""
        flow = ctx.flow
        if ctx.model.enclosing_function(b.node) is not ctx.model.enclosing_function(s.node):
            return None
        k = flow.classify(s.node, {})
        opt = k[1] if k else None
        if not opt:
            return None
        block_owner = None
        for anc in ancestors(b.node):
            if isinstance(anc, (ast.For, ast.AsyncFor, ast.While, *FUNCTION_TYPES)):
                block_owner = anc
                break
        if block_owner is None or not block_owner.body:
            return None
        if isinstance(block_owner, FUNCTION_TYPES):
            # a step function: clear just before the backward (the optimizer may be fetched in the body)
            stmt = ctx.model.statement_of(b.node)
            if stmt is None or parent(stmt) is not block_owner:
                return None
            return ctx.insert_fix(f"Call {opt}.zero_grad() before the backward pass", grade, stmt, f"{opt}.zero_grad()")
        if bound_inside(ctx.model, text_of(receiver(s, flow)), s.node, block_owner):
            return None  # the optimizer is fetched inside the loop: not bound yet at its top
        first = block_owner.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            if len(block_owner.body) < 2:
                return None
            first = block_owner.body[1]
        if first.lineno == block_owner.lineno:
            return None
        return ctx.insert_fix(f"Call {opt}.zero_grad() at the start of each step", grade, first, f"{opt}.zero_grad()")

