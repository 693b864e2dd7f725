from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Edit, Fix, FixAvailability, Range, Severity
from ...facts.backward import breaks_after, exclusive, innermost_loop, leaves_before, reuses_outside, same_or_nested_loop
from ...facts.flow import graph_roots, keeps_graph, text_of
from ..rule import Context, Rule
from ...syntax.tree import ancestors, pos


class BackwardTwiceWithoutRetainGraph(Rule):
    """
    ## What it does
    Checks for a second `backward()` through a graph that an earlier `backward()` already freed:
    the same loss twice, two losses sharing an intermediate tensor (a GAN generator step reusing
    `fake` that the discriminator loss used without `.detach()`, heads of a multi-task model on
    a shared trunk), or a loss computed before a loop and backpropagated in every iteration,
    with no `retain_graph=True` on the earlier call.

    Known problems: worth a warning wherever it is written: the second backward raises at run
    time (measured, even for a graph as small as `(x * 2).sum()`), in a unit test as in training.

    ## Why is this bad?
    `backward()` frees the graph's saved tensors as it goes. The second pass through them fails.
    Measured on torch 2.13 (CPU) and 2.11 (H100): `RuntimeError: Trying to backward through the
    graph a second time`, even for a graph as small as `(x * 2).sum()`.

    ## Example
    ```python
    def gan_step(G, D, bce, real, z, zeros, ones, opt_d, opt_g):
        fake = G(z)
        d_loss = bce(D(fake), zeros) + bce(D(real), ones)
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(fake), ones)
        g_loss.backward()  # goes through G's graph again
    ```

    ## Use instead
    ```python
    def gan_step(G, D, bce, real, z, zeros, ones, opt_d, opt_g):
        fake = G(z)
        d_loss = bce(D(fake.detach()), zeros) + bce(D(real), ones)
        d_loss.backward()
        opt_d.step()
        g_loss = bce(D(fake), ones)
        g_loss.backward()
    ```
    For several losses over one graph, backpropagate their sum once: `(loss_a + loss_b).backward()`.

    ## Fix safety
    The fix adds `retain_graph=True` to the earlier `backward()`. It is safe in that the program
    then runs and computes the gradients it was written to compute; it keeps one graph in memory
    a little longer. Often the better change is `.detach()` or a single backward of the summed
    loss, which the fix cannot choose for you.

    ## References
    - [torch.Tensor.backward](https://pytorch.org/docs/stable/generated/torch.Tensor.backward.html)
    - [DCGAN tutorial (the detach in the discriminator step)](https://pytorch.org/tutorials/beginner/dcgan_faces_tutorial.html)
    """

    code = "PIT205"
    name = "backward-twice-without-retain-graph"
    summary = "Second backward() through a graph that an earlier backward() already freed"
    severity = Severity.ERROR
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        if not ctx.model.text_contains("backward"):
            return  # cheap pre-check: nothing to find
        flow = ctx.flow
        reported: set[int] = set()
        for scope, calls in flow.backward_scopes():
            roots = {id(c): graph_roots(flow, loss) for c, loss in calls}
            for j, (b2, loss2) in enumerate(calls):
                r2 = roots[id(b2)]
                found = False
                for b1, loss1 in calls[:j]:
                    if keeps_graph(b1) or exclusive(b1, b2) or leaves_before(b1, b2) or not same_or_nested_loop(ctx.model, b1, b2):
                        continue
                    shared = set(roots[id(b1)].stmts) & set(r2.stmts)
                    if not shared:
                        continue
                    stmt = next(s for k, s in roots[id(b1)].stmts.items() if k in shared)
                    same = text_of(loss1) == text_of(loss2) and ctx.model.lookup(getattr(loss1, "id", ""), loss1) == ctx.model.lookup(getattr(loss2, "id", ""), loss2)
                    what = "the same loss" if same else f"a graph it shares with the earlier loss (through `{_target_text(stmt)}`)"
                    ctx.report(
                        b2,
                        f"second backward through {what}: the earlier backward() freed it "
                        f"(RuntimeError: Trying to backward through the graph a second time). "
                        f"Pass retain_graph=True to the first backward, .detach() the shared tensor, or backpropagate the sum once",
                        fix=_retain_fix(b1, ctx) if innermost_loop(ctx.model, b1) is innermost_loop(ctx.model, b2) else None,
                        related=[ctx.related(b1, "graph freed by this backward()"), ctx.related(stmt, "shared part of the graph computed here")],
                    )
                    reported.add(id(b2))
                    found = True
                    break
                if found or keeps_graph(b2):
                    continue
                loop = innermost_loop(ctx.model, b2)
                if loop is None or flow.kept("breaks_after", (loop, b2), lambda: breaks_after(loop, b2)) or r2.loop_carried:  # noqa: B023
                    continue
                outside = [s for s in r2.stmts.values() if not any(a is loop for a in ancestors(s)) and pos(s) < pos(loop)]
                if outside and id(b2) not in reported:
                    if not reuses_outside(ctx.model, loss2, loop, outside):
                        continue
                    reported.add(id(b2))
                    ctx.report(
                        b2,
                        f"backward() in a loop through a graph built before the loop (at `{_target_text(outside[0])}`): the "
                        f"first iteration frees it and the second fails (RuntimeError: Trying to backward through the graph a "
                        f"second time). Compute the forward pass inside the loop, or .detach() what is reused",
                        related=[ctx.related(outside[0], "graph built here, before the loop")],
                    )


def _target_text(stmt: ast.AST) -> str:
    targets = getattr(stmt, "targets", None) or [getattr(stmt, "target", None)]
    return ", ".join(text_of(t) or "?" for t in targets if t is not None) or "?"


def _retain_fix(b1: ast.Call, ctx: Context) -> Fix | None:
    if any(k.arg == "retain_graph" for k in b1.keywords):
        return None
    end = ctx.range(b1).end
    text = ctx.text(b1)
    if not text.endswith(")"):
        return None
    inside = text[text.index("(", len(ctx.text(b1.func))) + 1 : -1].strip()
    new = "retain_graph=True" if not inside else (", retain_graph=True" if not inside.endswith(",") else " retain_graph=True")
    from ...core.diagnostics import Position

    at = Range(Position(end.line, end.col - 1), Position(end.line, end.col - 1))
    return Fix("Keep the graph for the later backward (retain_graph=True)", Applicability.SAFE, (Edit(at, new),))
