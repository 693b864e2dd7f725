from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Edit, Fix, FixAvailability, Range, Severity
from ...facts.flow import BACKWARD, STEP, ZERO_GRAD, text_of
from ..rule import Context, Rule
from ...semantic.model import FUNCTION_TYPES
from ...syntax.tree import ancestors, parent
from ...facts.state import clears


class ZeroGradBetweenBackwardAndStep(Rule):
    """
    ## What it does
    Checks for `optimizer.zero_grad()` (or `model.zero_grad()` of a module whose parameters
    the optimizer holds) called after `backward()` and before that optimizer's `step()` in
    the same iteration of a training loop or training-step function. What the optimizer holds
    is read from its construction (`X(model.parameters())`, param groups, `itertools.chain`,
    `self` attributes set in `__init__`); the clear of another optimizer, or of a module it
    does not hold, is not reported, nor one whose target cannot be proven the same.

    Known problems: worth a warning wherever it runs, also in a unit test that steps once: the
    step sees no gradients there too, so the test checks a step that does nothing.

    ## Why is this bad?
    `zero_grad()` erases the gradients that `backward()` just computed (by default it sets them
    to `None`), so `step()` has no gradient of this batch to apply: the model does not learn from
    the batch.

    ## Example
    ```python
    def train(model, loader):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.zero_grad()
            optimizer.step()
    ```

    ## Use instead
    ```python
    def train(model, loader):
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for x, y in loader:
            optimizer.zero_grad()
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()
    ```

    ## Fix safety
    The fix moves the `zero_grad()` call to the top of the loop body (or of the function),
    before the forward pass. It is unsafe: code between the top of the body and the `backward()`
    may rely on the gradients of the previous step (rare, but possible).

    ## References
    - [torch.optim.Optimizer.zero_grad](https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html)
    - [torch.optim: taking an optimization step](https://pytorch.org/docs/stable/optim.html#taking-an-optimization-step)
    """

    code = "PIT208"
    name = "zero-grad-between-backward-and-step"
    summary = "zero_grad() between backward() and step() erases the gradients before the step"
    severity = Severity.ERROR
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        if not ctx.model.text_contains("backward") or not ctx.model.text_contains("zero_grad"):
            return  # cheap pre-check: nothing to find
        flow = ctx.flow
        roots: list[ast.AST] = list(flow.training_loops)
        roots += [
            f
            for fs in ctx.model.functions.values()
            for f in fs
            if flow.mentions(f, "zero_grad")
        ]
        reported: set[int] = set()
        for root in roots:
            events = flow.events(root)
            if not any(e.kind == STEP for e in events):
                continue
            for i, z in enumerate(events):
                if z.kind != ZERO_GRAD or z.subject is None or id(z.node) in reported:
                    continue
                b = next((e for e in events[:i] if e.kind == BACKWARD and not e.exclusive(z)), None)
                if b is None:
                    continue
                for s in events[i + 1:]:
                    if s.kind == BACKWARD and not s.exclusive(z):
                        break
                    if s.kind == STEP and not s.exclusive(z) and not s.exclusive(b) and self._same_params(z, s, ctx):
                        reported.add(id(z.node))
                        ctx.report(
                            z.node,
                            f"{text_of(z.node.func) if isinstance(z.node, ast.Call) else 'zero_grad'}() runs after backward() and "
                            f"before {(flow.classify(s.node, {}) or (None, None))[1] or s.subject}.step(): the step sees no gradients and the batch is not learned from. "
                            f"Clear the gradients before the forward pass",
                            fix=self._fix(z, b, s, ctx),
                            related=[
                                ctx.related(b.node, "backward() here"),
                                ctx.related(s.node, "step() here"),
                                ctx.related(root, "in this loop" if not isinstance(root, FUNCTION_TYPES) else "in this training step"),
                            ],
                        )
                        break

    @staticmethod
    def _same_params(z, s, ctx: Context) -> bool:
        """Proven: the same optimizer, or a module whose parameters the stepped optimizer holds
        (``model.zero_grad()``, ``opt = X(model.parameters())``), through helpers and ``self``."""
        return clears(ctx.flow, z, s) is True

    @staticmethod
    def _fix(z, b, s, ctx: Context) -> Fix | None:
        if z.chain or b.chain or not isinstance(z.node, ast.Call):
            return None
        stmt = ctx.model.statement_of(z.node)
        if not isinstance(stmt, ast.Expr) or stmt.value is not z.node:
            return None
        owner = None
        for anc in ancestors(stmt):
            if isinstance(anc, (ast.For, ast.AsyncFor, ast.While, *FUNCTION_TYPES)):
                owner = anc
                break
        if owner is None:
            return None
        first = owner.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str) and len(owner.body) > 1:
            first = owner.body[1]
        if first is stmt or first.lineno == owner.lineno or any(a is first for a in ancestors(stmt)):
            return None
        line = stmt.lineno - 1
        src = ctx.source
        block = getattr(parent(stmt), getattr(stmt, "_tp_field", ""), None)
        if stmt.end_lineno != stmt.lineno or not isinstance(block, list) or len(block) < 2:
            return None  # deleting it would leave an empty block
        # The statement must be alone on its line (a comment after it moves with it), and so
        # do the comment lines above it that explain it.
        text = src.line_text(line)
        rest = text[src.byte_to_col(line, stmt.end_col_offset or 0) :].strip()
        top = ctx.insertion_line(stmt)
        if top is None or (rest and not rest.startswith("#")):
            return None
        moved = [src.line_text(i).strip() for i in range(top, line + 1)]
        delete = Edit(Range.of(top, 0, line + 1, 0), "")
        return ctx.insert_fix("Move zero_grad() before the forward pass", Applicability.UNSAFE, first, f"\n{src.indentation(first.lineno - 1)}".join(moved), delete)

