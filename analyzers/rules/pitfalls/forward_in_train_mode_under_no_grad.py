from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.flow import COMPREHENSION_TYPES, EVAL, LOOP_TYPES, MODE, TRAIN, text_of
from ...facts.networks import untrained
from ..rule import Context, Rule
from ...semantic.model import _dominates
from ...syntax.tree import ancestors, parent, pos


class ForwardInTrainModeUnderNoGrad(Rule):
    """
    ## What it does
    Checks for a forward pass inside `torch.no_grad()` (or `inference_mode()`,
    `set_grad_enabled(False)`, or a context manager of the project that turns gradients off,
    read from its body, and with no `torch.enable_grad()` block inside it) of a model with
    batch norm whose mode at that point is train: `model.train()` ran before it in the same
    function and `model.eval()` did not, or the model is never put in eval mode anywhere in the
    file (modules start in train mode). Typical cases: computing features or statistics,
    pseudo-labels, or an EMA teacher's targets inside the training loop.

    It stays silent when the forward's output is thrown away (`net(x)` as a statement: the
    forward runs for its statistics, as in batch-norm re-estimation), when an `assert` checks
    the output (a test of train-mode batch norm, on purpose), and in a function that resets or
    sets the statistics itself (`reset_running_stats()`, `momentum`, `running_mean`).

    Known problems: the model must be built where the rule can see its layers (in the file, a
    project class, a torchvision constructor); a model handed in as a parameter is not
    followed to its callers' constructions yet, so such forwards are not reported.

    Known problems: one forward (not in a loop) of a fresh model that nothing in its scope trains,
    loads or hands on (a smoke test under `if __name__ == "__main__":`, a test that checks
    train-mode batch norm on purpose) is not reported: its statistics are those of untrained
    weights. A loop over data (features, statistics, pseudo-labels) is reported. A module made by
    `torch.jit.trace` keeps the mode it was traced in (measured: `.eval()` on a module traced in
    train mode leaves its batch-norm statistics moving), so its mode is the one at the trace,
    whatever `.eval()` / `.train()` is called on it later; it is reported where the trace is
    proven to run in train mode (a module built in the file that nothing puts in eval mode
    first, as for PIT203), with no fix: `.eval()` on it does nothing, and tracing in eval mode would also make
    its training forwards run in eval mode.

    ## Why is this bad?
    `no_grad` turns off gradients, not training behaviour. In train mode batch norm normalises
    with the batch's statistics and updates its running statistics with data that were not
    meant to train them. Measured on torch 2.13 (CPU) and 2.11 (H100): `running_mean` changes on
    a train-mode forward even under `torch.no_grad()`; in eval mode it does not. Dropout also
    stays on, so teacher targets and pseudo-labels are noisy.

    ## Example
    ```python
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(10))

    def train(loader, optimizer):
        model.train()
        for (x, y), u in loader:
            with torch.no_grad():
                pseudo = model(u).argmax(1)
            loss = F.cross_entropy(model(x), y) + F.cross_entropy(model(u), pseudo)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    ```

    ## Use instead
    ```python
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.LazyLinear(10))

    def train(loader, optimizer):
        for (x, y), u in loader:
            model.eval()
            with torch.no_grad():
                pseudo = model(u).argmax(1)
            model.train()
            loss = F.cross_entropy(model(x), y) + F.cross_entropy(model(u), pseudo)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    ```

    ## Fix safety
    The fix puts `model.eval()` before the `with` block and `model.train()` after it. It is
    unsafe: some methods (self-training schemes, BN re-estimation after pruning) update batch
    norm statistics under `no_grad` on purpose.

    ## References
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    """

    code = "PIT303"
    name = "forward-in-train-mode-under-no-grad"
    summary = "Forward pass under no_grad of a batch-norm model in train mode updates its running statistics"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        flow = ctx.flow
        m = ctx.model
        blocks = [
            node for node in flow.nodes(ast.With, ast.AsyncWith)
            if isinstance(node, (ast.With, ast.AsyncWith)) and any(m.is_no_grad_context(i.context_expr) for i in node.items)
        ]
        if not blocks:
            return  # nothing turns gradients off here
        eval_forwards = {id(c) for r in flow.eval_regions for c in r.forwards}
        for node in blocks:
            func = m.enclosing_function(node)
            if func is not None and _touches_bn_stats(func):
                continue  # re-estimating batch-norm statistics on purpose (SWA update_bn, after pruning)
            for call in _calls(node.body):
                if not m.under_no_grad(call):
                    continue  # ``with torch.enable_grad():`` inside the block: gradients are on again
                if isinstance(parent(call), ast.Expr):
                    continue  # the output is thrown away: the forward runs for its statistics (BN re-estimation)
                if flow.output_fate(call, func if func is not None else m.tree).checked:
                    continue  # an assert checks the output: a test of train-mode batch norm, on purpose
                subject = flow.is_model_forward(call)
                if subject is None:
                    continue
                target = call.func.value if isinstance(call.func, ast.Attribute) and call.func.attr in ("forward",) else call.func
                traces = flow.traces_of(target)
                if traces is not None:
                    # a torch.jit.trace'd module: its mode is the one it was traced in (measured)
                    if id(call) not in eval_forwards and self._traced_in_train_mode(call, subject, traces, ctx):
                        break
                    continue
                facts = flow.model_class_facts(target)
                if facts is None or not facts[0]:
                    continue
                if untrained(m, target) and not any(isinstance(a, (*LOOP_TYPES, *COMPREHENSION_TYPES)) for a in ancestors(call)):
                    continue  # one forward of a fresh model nothing trains or loads (a smoke test): no statistics to keep
                why = self._train_mode(call, subject, node, ctx)
                if why is None or (id(call) in eval_forwards and not flow.eval_mode_before(call, subject, inside=func)):
                    continue  # an evaluation whose mode nothing chose: PIT203 reports it
                ctx.report(
                    call,
                    f"{subject}(...) under no_grad while {subject} is in train mode ({why[0]}): its batch norm layers still "
                    f"update their running statistics (measured: running_mean changes even under torch.no_grad()). "
                    f"Call {subject}.eval() before and {subject}.train() after",
                    fix=self._fix(node, subject, ctx),
                    related=[ctx.related(why[1], why[0])] if why[1] is not None else [],
                )
                break

    @staticmethod
    def _traced_in_train_mode(call: ast.Call, subject: str, traces: list, ctx: Context) -> bool:
        """``subject`` was traced (``torch.jit.trace``) from a batch-norm module in train mode:
        its batch norm updates its running statistics under no_grad, whatever ``subject.eval()``
        says (measured, benchmarks/jit_facts.py). No fix: ``.eval()`` on it does nothing, and
        tracing in eval mode would also make its training forwards run in eval mode."""
        flow = ctx.flow
        if not all(flow.mode_at_trace(t) == TRAIN for t in traces):
            return False
        from ...facts.flow import flow_of

        originals = [flow.traced_original(t) for t in traces]
        facts = [flow_of(t.model).model_class_facts(o) for t, o in zip(traces, originals)]
        if any(f is None for f in facts) or not any(f[0] for f in facts):  # type: ignore[index]
            return False
        orig = text_of(originals[0]) or "the module"
        t = traces[0]
        ctx.report(
            call,
            f"{subject}(...) under no_grad while {subject} is in train mode for good: it was traced from {orig} in train "
            f"mode, and a traced module keeps that mode ({subject}.eval() leaves its batch-norm statistics moving, "
            f"measured). Its batch norm layers update their running statistics here (measured: running_mean changes "
            f"even under torch.no_grad()). Run these forwards on a module traced in eval mode, or on {orig} in eval mode",
            related=[ctx.related(t.node, f"traced here, with {orig} in train mode")] if t.model is ctx.model else [],
        )
        return True

    @staticmethod
    def _train_mode(call: ast.Call, subject: str, with_node: ast.AST, ctx: Context):
        flow = ctx.flow
        switches = flow.mode_switches(subject)
        func = ctx.model.enclosing_function(call)
        if not any(flow.classify(s, {})[0] in (EVAL, MODE) for s in switches):
            return ("it is never put in eval mode in this file", None)
        before = [s for s in switches if ctx.model.enclosing_function(s) is func and pos(s) < pos(call)]
        if not before:
            return None
        last = max(before, key=pos)
        kind = flow.classify(last, {})[0]
        stmt = ctx.model.statement_of(last)
        if kind == TRAIN and stmt is not None and _dominates(stmt, call) and not any(
            flow.classify(s, {})[0] in (EVAL, MODE) and ctx.model.enclosing_function(s) is func and pos(last) < pos(s) for s in switches
        ):
            # an eval() inside a helper called between them would put it in eval mode
            for e in flow.events(func) if func is not None else []:
                if e.kind in (EVAL, MODE) and e.chain and pos(last) < pos(e.chain[0]) < pos(call):
                    return None
            return (f"{text_of(last.func)}() runs before it", last)
        return None

    @staticmethod
    def _fix(with_node: ast.AST, subject: str, ctx: Context) -> Fix | None:
        src = ctx.source
        first, last = with_node.lineno - 1, (with_node.end_lineno or with_node.lineno) - 1
        indent = src.indentation(first)
        if not src.line_text(first).lstrip().startswith(("with", "async")):
            return None
        from ...core.diagnostics import Edit, Range

        end_col = len(src.line_text(last))
        insert = ctx.insert_before_statement(with_node, f"{subject}.eval()")
        if insert is None:
            return None
        edits = [insert]
        ends = with_node.body[-1]
        flow = ctx.flow
        trained = any(
            isinstance(c, ast.Call) and flow.is_model_forward(c) == subject and not flow.no_grad_at(c) for c in flow.nodes(ast.Call)
        )
        if trained and not isinstance(ends, (ast.Return, ast.Raise, ast.Continue, ast.Break)):
            edits.append(Edit(Range.of(last, end_col, last, end_col), f"\n{indent}{subject}.train()"))
            message = f"Call {subject}.eval() before the no_grad block and {subject}.train() after it"
        else:
            message = f"Call {subject}.eval() before the no_grad block"
        return Fix(message, Applicability.UNSAFE, tuple(edits))


def _calls(stmts):
    out = []
    stack = list(stmts)
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        if isinstance(n, ast.Call):
            out.append(n)
        stack.extend(ast.iter_child_nodes(n))
    return sorted(out, key=pos)


def _touches_bn_stats(func: ast.AST) -> bool:
    for n in ast.walk(func):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("reset_running_stats", "update_bn"):
            return True
        if isinstance(n, ast.Attribute) and n.attr in ("momentum", "running_mean", "running_var") and isinstance(n.ctx, ast.Store):
            return True
    return False
