from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, FixAvailability, Severity
from ...facts.flow import BACKWARD, TRAIN, bound_inside, flow_of, text_of
from ..rewrites import with_method
from ..rule import Context, Rule


class MissingEvalMode(Rule):
    """
    ## What it does
    Checks for evaluation of a model without `model.eval()` or `model.train(False)` before
    it on every path, in that function or in all of its callers in the file. An evaluation is
    known by what the code does, never by its name: it runs a forward of a value proven to be
    an `nn.Module` (by construction, annotation, the file's call sites, or a module method
    called on it; see PIT201), reaches no `backward()`, `step()` or `autograd.grad`, and
    either runs under `no_grad` and measures the output (`.item()`, `argmax`, a comparison) or
    keeps it across the iterations of a loop, or measures it in a loop, or iterates held-out
    data by construction (`MNIST(root, train=False)`, `split="val"`), or is a function that
    training code calls and that runs the model under `no_grad`. The forward may be
    `model(x)`, `self.model(x)`, `model.generate(...)`, or hidden in a helper of the file
    (`self._forward_pass(x)`); the finding is on the call in the evaluation, the helper's
    forward and the training caller are in its related information.

    Known problems: the warning is worth it only for a model whose train mode computes
    something else. A model whose class is visible (in the file, or an imported class of the
    project) and has neither dropout nor batch norm is not reported; a module of unknown
    class (a zoo or Hugging Face model, an imported class the project index cannot resolve)
    is. A forward whose output is thrown away (`model(x)` as a statement: batch-norm
    re-estimation) or checked by an `assert` (a test) is no evaluation, and a call of a value
    nothing proves to be a module (a parameter no call site of the file passes a module to) is
    not reported: such evaluations are missed.
    A `torch.jit.freeze`d module is in eval mode for good (measured on torch 2.13: freezing a
    module in train mode raises, and `.train()` on a frozen one leaves dropout off), and a
    module made by `torch.jit.trace` / `trace_module` keeps the mode it was traced in
    (measured: `.eval()` on one traced in train mode leaves dropout on and batch-norm
    statistics moving; `.train()` on one traced in eval mode leaves dropout off): for them the
    mode at the freeze or the trace is what counts, and `.eval()` on the traced module is no
    fix. A traced module is reported only where the trace is proven to run in train mode: the
    module is built in the file (a torch.nn layer, a torchvision model, a module class that
    neither overrides `train()` nor switches its own mode) and
    nothing puts it in eval mode before the trace (nor anywhere else in the file, where that
    could run first); a module handed in to the trace, or loaded, is not reported. A traced
    module handed to the evaluation is followed to the call sites that trace it; where some
    call sites hand in a traced module and others do not, the evaluation is not reported
    (`model.eval()` in it would not fix the traced one).

    ## Why is this bad?
    Modules start in train mode and stay there until told otherwise. In train mode dropout
    keeps zeroing activations (measured on torch 2.13 and 2.11: about half of them with
    `p=0.5`, survivors scaled by 2), so metrics are noisy; and batch norm normalises
    with the validation batch's statistics and overwrites its running statistics with them
    (measured: `running_mean` changes on every forward in train mode, even under
    `torch.no_grad()`), which corrupts the trained model.

    ## Example
    ```python
    def evaluate(model: nn.Module, loader):
        with torch.no_grad():
            for x, y in loader:
                preds = model(x).argmax(1)
    ```

    ## Use instead
    ```python
    def evaluate(model: nn.Module, loader):
        model.eval()
        with torch.no_grad():
            for x, y in loader:
                preds = model(x).argmax(1)
    ```

    ## Fix safety
    The fix inserts `model.eval()` before the evaluation loop. It is safe in a file without
    training. In a file that also trains, it is unsafe: if nothing calls `model.train()` before
    the next training step, training then runs in eval mode (see PIT204). For a module traced
    in train mode the fix traces it in eval mode instead (`torch.jit.trace(net.eval(), x)`),
    unsafe too: it also puts `net` itself in eval mode.

    ## References
    - [torch.nn.Module.eval](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval)
    - [torch.nn.Dropout](https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html)
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    """

    code = "PIT203"
    name = "missing-eval-mode"
    summary = "Model evaluated without model.eval(): dropout and batch norm stay in training behaviour"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        flow = ctx.flow
        trains = None
        done: set[tuple[int, str]] = set()
        for region in [*flow.eval_regions, *flow.helper_eval_regions]:
            for call in region.forwards:
                subject = region.subject_of(flow, call)
                if subject is None or (id(region.target), subject) in done:
                    continue
                done.add((id(region.target), subject))
                fw = region.forward_of(call)
                traces = flow.traces_of(_forward_target(fw))
                if traces is not None:
                    # its mode was fixed at the trace: .eval() on it changes nothing (measured)
                    if fw is call:
                        self._traced_in_train_mode(call, subject, traces, region, ctx)
                    continue
                if flow.may_be_traced(_forward_target(fw)):
                    continue  # some caller hands in a traced module: .eval() here may change nothing
                if flow.eval_mode_before(call, subject, inside=region.func if region.kind == "function" else region.target) or self._no_train_behaviour(region.forward_of(call), ctx) or self._sticky_eval(subject, ctx):
                    continue
                if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "apply" for n in ast.walk(region.func or ctx.model.tree)):
                    continue
                if trains is None:
                    trains = any(e.kind == BACKWARD for lp in flow.loops for e in flow.events(lp)) or any(
                        isinstance(n, ast.Attribute) and n.attr == "backward" for n in flow.nodes(ast.Attribute)
                    )
                where = f"{region.func.name}()" if region.kind == "function" and region.func else "this evaluation loop"
                ctx.report(
                    call,
                    f"{subject} is evaluated in {where} without {subject}.eval() before it: dropout stays on (about half "
                    f"the activations dropped, measured) and batch norm uses and overwrites its running statistics with "
                    f"evaluation batches. Call {subject}.eval() first",
                    fix=ctx.insert_fix(
                        f"Call {subject}.eval() before the evaluation",
                        Applicability.UNSAFE if trains else Applicability.SAFE,
                        region.target,
                        f"{subject}.eval()",
                    )
                    if region.target.lineno != getattr(region.func, "lineno", -1) and not bound_inside(ctx.model, subject, call, region.target)
                    else None,
                    related=self._related(region, call, ctx),
                )

    def _traced_in_train_mode(self, call: ast.Call, subject: str, traces: list, region, ctx: Context) -> None:
        """``subject`` is a ``torch.jit.trace`` of a module traced in train mode: it runs in train
        mode whatever ``subject.eval()`` says (measured, benchmarks/jit_facts.py). The fix traces
        the module in eval mode instead."""
        flow = ctx.flow
        if not all(flow.mode_at_trace(t) == TRAIN for t in traces):
            return
        originals = [flow.traced_original(t) for t in traces]
        facts = [flow_of(t.model).model_class_facts(o) for t, o in zip(traces, originals)]
        if any(f is None for f in facts) or not any(f[0] or f[1] for f in facts):  # type: ignore[index]
            return  # no dropout, no batch norm (or not known): train mode computes the same
        named = isinstance(originals[0], (ast.Name, ast.Attribute)) and len(traces) == 1
        orig = text_of(originals[0]) if named else None
        where = f"{region.func.name}()" if region.kind == "function" and region.func else "this evaluation loop"
        fix = None
        t = traces[0]
        if len(traces) == 1 and t.model is ctx.model and t.node.args[0] is originals[0]:
            fix = ctx.fix(
                f"Trace {orig or 'the module'} in eval mode" + (f" (also puts {orig} itself in eval mode)" if orig else ""),
                Applicability.UNSAFE,
                ctx.replace(originals[0], with_method(ctx, originals[0], "eval")),
            )
        bn, drop = any(f[0] for f in facts), any(f[1] for f in facts)  # type: ignore[index]
        effect = " and ".join(
            [*(["dropout stays on (about half the activations dropped, measured)"] if drop else []),
             *(["batch norm uses and overwrites its running statistics with evaluation batches"] if bn else [])]
        )
        ctx.report(
            call,
            f"{subject} is evaluated in {where}, but it was traced from {orig or 'a module'} in train mode: a traced module "
            f"keeps the mode it was traced in (measured: .eval() on it leaves dropout on and batch-norm statistics "
            f"moving), so {effect}. Trace {orig or 'the module'} in eval mode (torch.jit.trace({orig or 'module'}.eval(), ...))",
            fix=fix,
            related=[ctx.related(t.node, "traced here, in train mode")] if t.model is ctx.model else [],
        )

    @staticmethod
    def _related(region, call: ast.Call, ctx: Context) -> list:
        """Where the model runs (when a helper runs it) and the training code that calls the evaluation."""
        flow = ctx.flow
        out = []
        fw = region.forward_of(call)
        if fw is not call:
            out.append(ctx.related(fw, "the forward pass runs here"))
        if region.kind == "function" and region.func is not None:
            training = [c for c in flow.callers_of(region.func) if flow.trains_around(c)]
            out += [ctx.related(c, "called here, from code that trains the model") for c in training[:1]]
        return out

    @staticmethod
    def _sticky_eval(subject: str, ctx: Context) -> bool:
        """The model is put in eval mode somewhere in the file (at load time, in ``__init__``) and
        never back in train mode: an inference module or a server keeps it in eval mode."""
        switches = ctx.flow.mode_switches(subject)
        kinds = {ctx.flow.classify(s, {})[0] for s in switches}
        return bool(kinds) and kinds == {"eval"}

    @staticmethod
    def _no_train_behaviour(call: ast.Call, ctx: Context) -> bool:
        """The model's class is visible and has neither dropout nor batch norm."""
        target = call.func
        if isinstance(target, ast.Attribute) and (target.attr == "forward" or target.attr in torch_api.GENERATE_METHODS):
            target = target.value
        facts = ctx.flow.model_class_facts(target)
        return facts is not None and not facts[0] and not facts[1]


def _forward_target(call: ast.Call) -> ast.expr:
    """The module a forward call runs: ``model`` of ``model(x)``, ``model.forward(x)``, ``model.generate(...)``."""
    f = call.func
    if isinstance(f, ast.Attribute) and (f.attr == "forward" or f.attr in torch_api.GENERATE_METHODS):
        return f.value
    return f
