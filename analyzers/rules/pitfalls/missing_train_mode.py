from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.flow import BACKWARD, EVAL, FORWARD, MODE, TRAIN, bound_inside, flow_of
from ...facts.state import origin
from ..rule import Context, Rule
from ...syntax.tree import ancestors


def _related_subjects(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return True  # a mode switch on something we cannot name: assume it is the model
    return a == b or a.startswith(b + ".") or b.startswith(a + ".")


def _subject_expr(e) -> ast.expr | None:
    """The module an event acts on, as written at its node: ``x`` of ``x.eval()`` / ``x.train()``
    / ``x(...)`` / ``x.forward(...)``; None for a function it is handed to."""
    n = e.node
    if not isinstance(n, ast.Call):
        return None
    f = n.func
    if e.kind == FORWARD:
        return f.value if isinstance(f, ast.Attribute) and f.attr == "forward" else f
    if isinstance(f, ast.Attribute) and f.attr in ("eval", "train"):
        return f.value
    return None


def _identity(flow, e) -> list[frozenset] | None:
    """The values the event's module may be (through the helpers' parameters to the caller's
    arguments), then those of each object it is an attribute of (``model`` for
    ``model.encoder``); None when they cannot be seen."""
    expr = _subject_expr(e)
    if expr is None:
        return None
    parts: list[frozenset] = []
    cur: ast.expr = expr
    while True:
        if isinstance(cur, ast.Name):
            mapped, m = origin(flow, cur, e.chain)
        else:
            mapped, m = cur, flow.model
        parts.append(flow_of(m).identity_atoms(mapped))
        if not isinstance(cur, ast.Attribute):
            break
        cur = cur.value
    if not parts[0] or any(isinstance(a, tuple) for a in parts[0]):
        return None  # cannot be seen through: written the same is all we could say
    return parts


def _relation(flow, a, b) -> bool | None:
    """The modules of events ``a`` and ``b`` are the same, or one holds the other (True);
    proven apart (False); or unknown (None)."""
    ia, ib = _identity(flow, a), _identity(flow, b)
    if ia is None or ib is None:
        return None
    return bool(ia[0] & frozenset().union(*ib) or ib[0] & frozenset().union(*ia))


class MissingTrainMode(Rule):
    """
    ## What it does
    Checks for training loops in which `model.eval()` runs (typically a validation pass inside
    the epoch loop, directly or through a helper such as `validate()` or `self.evaluate()`,
    also one of another module of the project) but `model.train()` does not run again before
    the next training step. Modules are told apart by the values they may be (their
    construction, the parameter a helper receives them by, an alias, a `self` attribute), so
    `net = self.model; net.eval()` in a helper is the model the loop trains. A module handed
    to a function that cannot be read (a library's, a callback) may be switched back there: the
    loop is not reported.

    Known problems: worth a warning in every training loop where a later step trains in eval
    mode; the finding needs a training step after the `eval()`, so an evaluation after the last
    epoch, outside the loop, is not reported. `.eval()` on a module made by `torch.jit.trace`
    is not reported: it changes nothing, the traced module keeps the mode it was traced in
    (measured on torch 2.13, benchmarks/jit_facts.py), and `.train()` on it would fix nothing.

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
            with torch.no_grad():
                print(sum(F.cross_entropy(model(x), y).item() for x, y in val_loader))
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
            with torch.no_grad():
                print(sum(F.cross_entropy(model(x), y).item() for x, y in val_loader))
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
        if not ctx.model.text_contains("backward") or not (ctx.model.text_contains("eval()") or ctx.model.text_contains("train(")):
            return  # cheap pre-check: nothing to find
        flow = ctx.flow
        loops = sorted(flow.training_loops, key=lambda lp: -sum(1 for _ in ancestors(lp)))
        reported: set[int] = set()
        for loop in loops:
            # Each loop's answer kept across versions while nothing it read changed.
            for e, trained, back in flow.kept("eval_left_in_training_loop", loop, lambda: self._left_in_eval(loop, flow)):  # noqa: B023
                if id(e.site) in reported:
                    continue
                reported.add(id(e.site))
                subject = e.subject
                if e.chain and not trained.chain and _relation(flow, trained, e) and not _visible(ctx, subject, loop):
                    subject = trained.subject  # the helper's own name for it: say it in the loop's words
                via = " (inside the call here)" if e.chain or _subject_expr(e) is None else ""
                ctx.report(
                    e.site,
                    f"{subject}.eval() runs in this training loop{via} and {subject}.train() does not run again before "
                    f"the next training step: later steps train in eval mode (dropout off, batch norm frozen). "
                    f"Call {subject}.train() at the top of the loop",
                    fix=self._fix(loop, subject, ctx) if _visible(ctx, subject, loop) and not bound_inside(ctx.model, subject, e.site, loop) else None,
                    related=[ctx.related(e.node, f"{e.subject}.eval() here"), ctx.related(back.node, "next training step here"), ctx.related(loop, "in this loop")],
                )

    @classmethod
    def _left_in_eval(cls, loop, flow) -> tuple:
        """(eval event, the training forward of its module, the backward that runs in eval
        mode) for each ``.eval()`` of the loop that no ``.train()`` undoes before a backward."""
        events = flow.events(loop)
        out = []
        for e in events:
            if e.kind != EVAL or e.subject is None or e.subject.startswith("<") or _exits(e, loop, flow):
                continue
            if _traced(flow, e):
                continue  # .eval() on a torch.jit.trace'd module changes nothing: it keeps the mode of the trace
            trained = cls._trained(e, events, flow)
            if trained is None:
                continue
            back = cls._backward_in_eval_mode(e, events, flow)
            if back is None:
                continue
            out.append((e, trained, back))
        return tuple(out)

    @staticmethod
    def _trained(ev, events, flow):
        """A forward of ``ev``'s module that runs with gradients in the loop (the same values, or,
        where they cannot be seen, the same text), or None."""
        for e in events:
            if e.kind != FORWARD or not e.grad_not_off or not e.subject:
                continue
            rel = _relation(flow, e, ev)
            if rel or (rel is None and _related_subjects(e.subject, ev.subject)):
                return e
        return None

    @staticmethod
    def _backward_in_eval_mode(ev, events, flow):
        """The first backward that may run while ``ev``'s model is in eval mode, or None. A mode
        switch restores it unless its module is proven another (by values; an unknown restores)."""

        def restores(e) -> bool:
            if e.kind not in (TRAIN, MODE):
                return False
            rel = _relation(flow, e, ev)
            return rel is True or (rel is None and (_identity(flow, e) is None or _identity(flow, ev) is None or _related_subjects(e.subject, ev.subject)))

        idx = events.index(ev)
        later = events[idx + 1:]
        earlier = events[:idx]
        for e in later:  # the rest of this iteration
            if restores(e):
                return None
            if e.kind == BACKWARD and not e.exclusive(ev) and not (e.conditional and ev.conditional):
                return e  # (both conditional: likely one condition, ``if phase == "train"``)
        for e in earlier:  # the next iteration, from its top
            if restores(e):
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


def _traced(flow, e) -> bool:
    """The module ``e`` switches is a ``torch.jit.trace`` of a module (followed through the
    helpers' parameters to the caller's argument): its mode was fixed at the trace (measured)."""
    expr = _subject_expr(e)
    if expr is None:
        return False
    mapped, m = origin(flow, expr, e.chain) if isinstance(expr, ast.Name) else (expr, flow.model)
    return flow_of(m).may_be_traced(mapped)


def _visible(ctx: Context, subject: str | None, loop: ast.AST) -> bool:
    """The first name of ``subject`` is bound where the loop runs."""
    root = (subject or "").split(".", 1)[0].split("[", 1)[0]
    return root.isidentifier() and bool(ctx.model.lookup(root, loop))


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
