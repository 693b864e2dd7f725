from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.flow import BACKWARD, EVAL, FORWARD, MODE, TRAIN, bound_inside
from ..rule import Context, Rule
from ...syntax.tree import ancestors


def _related_subjects(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True  # a mode switch on something we cannot name: assume it is the model
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


class MissingTrainMode(Rule):
    """
    ## What it does
    Checks for training loops in which `model.eval()` runs (typically a validation pass inside
    the epoch loop, directly or through a helper such as `validate()` or `self.evaluate()`) but
    `model.train()` does not run again before the next training step.

    Known problems: worth a warning in every training loop where a later step trains in eval
    mode; the finding needs a training step after the `eval()`, so an evaluation after the last
    epoch, outside the loop, is not reported.

    ## Why is this bad?
    `eval()` is sticky: after the first validation, every later epoch trains in eval mode.
    Dropout is off (no regularisation) and batch norm normalises with its running statistics
    instead of the batch's and stops updating them (measured on torch 2.13 and 2.11:
    `running_mean` does not change on a forward in eval mode), so the model trains differently
    from what was intended, silently.

    ## Example
    ```python
    def fit(model, train_loader, val_loader, optimizer, epochs):
        for epoch in range(epochs):
            for x, y in train_loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
            model.eval()
            validate(model, val_loader)
    ```

    ## Use instead
    ```python
    def fit(model, train_loader, val_loader, optimizer, epochs):
        for epoch in range(epochs):
            model.train()
            for x, y in train_loader:
                optimizer.zero_grad()
                F.cross_entropy(model(x), y).backward()
                optimizer.step()
            model.eval()
            validate(model, val_loader)
    ```

    ## Fix safety
    The fix inserts `model.train()` at the top of the loop body. It is safe: the training steps
    then run in train mode, as they did in the first iteration.

    ## References
    - [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    """

    code = "PIT204"
    name = "missing-train-mode"
    summary = "model.eval() runs in a training loop and model.train() does not run again before the next step"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        if "backward" not in ctx.source.text or not ("eval()" in ctx.source.text or "train(" in ctx.source.text):
            return  # cheap pre-check: nothing to find
        flow = ctx.flow
        loops = sorted(flow.training_loops, key=lambda lp: -sum(1 for _ in ancestors(lp)))
        reported: set[int] = set()
        for loop in loops:
            events = flow.events(loop)
            for e in events:
                if e.kind != EVAL or e.subject is None or e.subject.startswith("<") or id(e.site) in reported or _exits(e, loop, flow):
                    continue
                if not self._trained(e.subject, events, ctx):
                    continue
                back = self._backward_in_eval_mode(e, events)
                if back is None:
                    continue
                reported.add(id(e.site))
                subject = e.subject
                via = "" if not e.chain else " (inside the call here)"
                ctx.report(
                    e.site,
                    f"{subject}.eval() runs in this training loop{via} and {subject}.train() does not run again before "
                    f"the next training step: later steps train in eval mode (dropout off, batch norm frozen). "
                    f"Call {subject}.train() at the top of the loop",
                    fix=self._fix(loop, subject, ctx) if not bound_inside(ctx.model, subject, e.site, loop) else None,
                    related=[ctx.related(e.node, f"{subject}.eval() here"), ctx.related(back.node, "next training step here"), ctx.related(loop, "in this loop")],
                )

    @staticmethod
    def _trained(subject: str, events, ctx: Context) -> bool:
        if any(e.kind == FORWARD and not e.no_grad and _related_subjects(e.subject, subject) and e.subject for e in events):
            return True
        return False

    @staticmethod
    def _backward_in_eval_mode(ev, events):
        """The first backward that may run while ``ev``'s model is in eval mode, or None."""
        idx = events.index(ev)
        later = events[idx + 1:]
        earlier = events[:idx]
        for e in later:  # the rest of this iteration
            if e.kind in (TRAIN, MODE) and _related_subjects(e.subject, ev.subject):
                return None
            if e.kind == BACKWARD and not e.exclusive(ev) and not (e.conditional and ev.conditional):
                return e  # (both conditional: likely one condition, ``if phase == "train"``)
        for e in earlier:  # the next iteration, from its top
            if e.kind in (TRAIN, MODE) and _related_subjects(e.subject, ev.subject):
                return None
            if e.kind == BACKWARD:
                return e
        return None

    @staticmethod
    def _fix(loop: ast.AST, subject: str, ctx: Context) -> Fix | None:
        first = loop.body[0]
        if first.lineno == loop.lineno:
            return None
        return ctx.insert_fix(f"Call {subject}.train() at the top of the loop", Applicability.SAFE, first, f"{subject}.train()")


def _exits(e, loop, flow) -> bool:
    """The eval() is in a branch that leaves the loop (``if args.evaluate: validate(); return``)."""
    frames = [loop, *(flow.callee(c) for c in e.chain)]
    x = e.site
    child = x
    for anc in ancestors(x):
        if anc is frames[0]:
            break
        if isinstance(anc, ast.If):
            branch = getattr(anc, getattr(child, "_tp_field", "body"), None)
            if isinstance(branch, list) and any(isinstance(s, (ast.Return, ast.Break, ast.Raise)) or _is_exit(s) for s in branch):
                return True
        child = anc
    return False


def _is_exit(s: ast.stmt) -> bool:
    return (
        isinstance(s, ast.Expr)
        and isinstance(s.value, ast.Call)
        and isinstance(s.value.func, (ast.Name, ast.Attribute))
        and (getattr(s.value.func, "id", None) in ("exit", "quit") or getattr(s.value.func, "attr", None) == "exit")
    )
