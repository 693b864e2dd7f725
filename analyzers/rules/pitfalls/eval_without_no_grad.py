from __future__ import annotations

import ast

from ...semantic.callsites import calls_named
from ...semantic.model import FUNCTION_TYPES
from ...syntax.tree import ancestors, parent
from ...core.diagnostics import Applicability, Edit, Fix, FixAvailability, Range, Severity
from ...facts.flow import COMPREHENSION_TYPES, LOOP_TYPES, EvalRegion
from ...facts.grad import module_objects, trainable
from ..rule import Context, Rule
from ...catalogue import torch_api


def torch_name(ctx: Context, at: ast.AST) -> str | None:
    """The name ``torch`` is bound to at ``at`` (``import torch`` / ``import torch as th``)."""
    for n in ("torch", "th", "pt"):
        bs = ctx.model.lookup(n, at)
        if len(bs) == 1 and bs[0].kind == "import" and bs[0].qualname == torch_api.TORCH_ROOT:
            return n
    return None


def wrap_fix(ctx: Context, stmt: ast.stmt, header: str, message: str, applicability: Applicability, last: ast.stmt | None = None) -> Fix | None:
    """Wrap ``stmt`` (through ``last``, a later statement of the same block) in ``header``
    (``with torch.no_grad():``), re-indenting the lines by one level. The block starts where a
    person would write it (:meth:`Context.insertion_line`): above the comment lines that explain
    ``stmt``, which move into the block with it."""
    src = ctx.source
    if last is not None and (parent(last) is not parent(stmt) or getattr(last, "_tp_field", None) != getattr(stmt, "_tp_field", None)):
        last = None
    end_stmt = last or stmt
    first, last = stmt.lineno - 1, (end_stmt.end_lineno or end_stmt.lineno) - 1
    for d in getattr(stmt, "decorator_list", []):
        first = min(first, d.lineno - 1)
    indent = src.indentation(first)
    if src.continues_previous_line(first) or src.line_text(first)[: len(indent)] != indent or src.line_text(first).strip() == "" or not src.line_text(first).lstrip().startswith(ctx.text(stmt)[:4]):
        return None
    # A statement sharing its lines with another (``x = 1; for ...``) or a multi-line string inside: no fix.
    block = getattr(parent(stmt), getattr(stmt, "_tp_field", ""), None)
    covered = [s for s in block if stmt.lineno <= s.lineno and (s.end_lineno or s.lineno) - 1 <= last] if isinstance(block, list) else [stmt]
    for n in (x for s in covered for x in ast.walk(s)):
        if isinstance(n, ast.Constant) and isinstance(n.value, (str, bytes)) and n.lineno != n.end_lineno:
            return None
    parent_body = getattr(parent(stmt), getattr(stmt, "_tp_field", ""), None)
    if isinstance(parent_body, list):
        for s in parent_body:
            if not any(s is c for c in covered) and (s.lineno - 1 <= last and (s.end_lineno or s.lineno) - 1 >= first):
                return None
    top = ctx.insertion_line(stmt)  # above the comments that explain stmt (only comment lines between)
    if top is None:
        return None
    first = min(first, top)
    unit = "    "
    if "\t" in indent:
        unit = "\t"
    lines = []
    for i in range(first, last + 1):
        t = src.line_text(i)
        lines.append((unit + t) if t.strip() else t)
    new = f"{indent}{header}\n" + "\n".join(lines)
    end_col = len(src.line_text(last))
    return Fix(message, applicability, (Edit(Range.of(first, 0, last, end_col), new),))


class EvalWithoutNoGrad(Rule):
    """
    ## What it does
    Checks for evaluation forward passes that run with autograd on. A forward pass is a call of
    a value that is proven to be an `nn.Module` with weights: built from a torch.nn layer, a
    module class of the file or the project, a zoo constructor (`torchvision.models.*`,
    `timm.create_model`, Hugging Face `from_pretrained`), or a value on which `.eval()`,
    `.parameters()`, `.state_dict()`... is called, followed through assignments, `self`
    attributes, returns, `.to()` / DataParallel wrappers, `torch.jit.script` / `torch.jit.trace`
    of a module, annotations and the arguments that the
    file's call sites (and constructions of a class) pass. An evaluation is known by what it
    does, never by its name: code that runs such a forward, reaches no `backward()`, `step()` or
    `autograd.grad` (through helpers either), and runs after `model.eval()`, or measures the
    outputs in a loop (`.item()`, `argmax`, a comparison, `.numpy()`, `.data`), or keeps them
    across iterations, or iterates held-out data by construction (`MNIST(root, train=False)`,
    `split="val"`). Gradients must be on there, by what the code around it computes: it is
    not under `torch.no_grad()` / `torch.inference_mode()` / `torch.set_grad_enabled(False)` (a
    `with` block, `stack.enter_context(torch.no_grad())` in a `with ExitStack() as stack:` block,
    or a decorator on the function, or on every caller of the function in the file, also when
    the function is handed as a callback to a function of the file that calls it only there),
    nor under a context manager or decorator of the project that turns them off (read from its
    body, in the file or in another module of the project: a decorator factory that returns
    `torch.no_grad()` or `torch.inference_mode()`, a wrapper that calls the function inside
    `with torch.no_grad():`, a `@contextmanager` generator that yields there), whatever their
    names; the innermost block wins (`with torch.enable_grad():` or `inference_mode(False)`
    inside a no_grad block turns them back on, measured). A context manager or decorator
    nothing describes (a library's the catalogue does not know, a method of an object of
    unknown type, `with ctx:` of a parameter, a mode that is not a constant) leaves the grad
    mode unknown, and nothing is reported under it.
    It is reported only where the forward pass runs repeatedly (in a loop, or in a function
    called, directly or as a callback, from a loop of the file): a single forward (one batch of samples after training, a
    smoke test under `__main__`) costs one pass's memory once, and is not reported.

    Known problems: what is worth a warning is an evaluation loop (over a data loader, or a
    function run once per batch) whose outputs are measured or kept. A forward whose output
    an `assert` checks is a test of the model and is not reported; neither is a call of a
    value nothing proves to be a module (a parameter no call site of the file passes a module
    to, an object loaded by `torch.load` or `joblib.load` with no module method called on it):
    such an evaluation is missed. Where the graph of an output leaves the function (returned,
    stored on `self`) and some caller may backpropagate it, the code is not taken for an
    evaluation. Arguments passed by call sites in other modules are not followed.
    Nor is a call of a module with no trainable parameter: one frozen in the file, or a
    `torch.jit.freeze`d or `torch.jit.optimize_for_inference` module (measured on torch 2.13:
    their outputs do not require grad, benchmarks/jit_facts.py). Scripted, traced and loaded
    TorchScript modules do record autograd (measured) and are reported like other models;
    `torch.jit.trace(model, x)` itself runs the forward once to record it and is no evaluation.
    `torch.set_grad_enabled(False)` called as a statement (not as a `with` block or a decorator)
    turns gradients off for whatever runs after it, in any function: after such a call in the
    same function the grad mode is unknown and nothing is reported; one made elsewhere (at the
    top level of a script, in a function called earlier) is not followed, and code after it is
    judged by the blocks and decorators around it.

    ## Why is this bad?
    Without `no_grad`, every forward pass records the autograd graph and keeps each layer's
    activations alive for a backward pass that never comes. `model.eval()` does not turn this
    off. Measured on an H100 (torch 2.11), a 12-layer MLP (2048 wide, batch 4096): peak extra
    memory 801 MiB with autograd vs 64 MiB under `no_grad` or `inference_mode` (12.5x). That
    memory is what limits the evaluation batch size, or runs out during validation.

    ## Example
    ```python
    def validate(model, loader):
        model.eval()
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Use instead
    ```python
    @torch.no_grad()
    def validate(model, loader):
        model.eval()
        for x, y in loader:
            correct += (model(x).argmax(1) == y).sum().item()
    ```

    ## Fix safety
    The fix wraps the loop (or the statement) in `with torch.no_grad():` and re-indents it. It
    is unsafe: the code may want gradients on purpose (saliency maps, adversarial examples);
    code that reads `.grad` or calls `requires_grad_()` is not reported.

    ## References
    - [torch.no_grad](https://pytorch.org/docs/stable/generated/torch.no_grad.html)
    - [torch.inference_mode](https://pytorch.org/docs/stable/generated/torch.inference_mode.html)
    - [Autograd mechanics: locally disabling gradient computation](https://pytorch.org/docs/stable/notes/autograd.html#locally-disabling-gradient-computation)
    """

    code = "PIT201"
    name = "eval-without-no-grad"
    summary = "Evaluation forward pass runs with autograd on (no torch.no_grad() / inference_mode())"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        flow = ctx.flow
        done: set[int] = set()
        regions = list(flow.eval_regions)
        by_anchor: dict[tuple, list[EvalRegion]] = {}
        for r in flow.after_eval_regions():
            stmt = ctx.model.statement_of(r.anchor)
            key = (id(parent(stmt)), getattr(stmt, "_tp_field", None))
            by_anchor.setdefault(key, []).append(r)  # type: ignore[arg-type]
        for group in by_anchor.values():
            group.sort(key=lambda g: g.target.lineno)
            # one finding per eval(): the statements after it, from the first forward to the last
            merged = EvalRegion("after-eval", group[0].func, group[0].target, [c for g in group for c in g.forwards], group[0].anchor)
            merged.last = group[-1].target  # type: ignore[attr-defined]
            regions.append(merged)
        reported_in: set[int] = set()  # functions with a finding on a statement outside any loop
        for region in regions:
            if id(region.target) in done:
                continue
            forwards = [c for c in region.forwards if flow.grad_on_at(c) and not self._frozen(c, ctx)]
            if not forwards or not any(self._repeated(c, ctx) for c in forwards):
                continue  # one forward pass (a smoke test, one sample): the cost does not add up
            done.add(id(region.target))
            if region.func is not None and not isinstance(region.target, LOOP_TYPES):
                # forwards on separate statements of one function (``fake_B = G_AB(a)``, ``fake_A =
                # G_BA(b)``): one finding, on the first; one no_grad around the function fixes all
                if id(region.func) in reported_in:
                    continue
                reported_in.add(id(region.func))
            model = flow.is_model_forward(forwards[0]) or "the model"
            where, label = self._where(region)
            # Reported on the forward pass, where a maintainer adds the no_grad; the region
            # (loop, function, or the code after eval()) and the other forwards are related.
            ctx.report(
                forwards[0],
                f"{where} runs {model}(...) with autograd on: the graph and activations are kept for a backward that never "
                f"comes (measured: 801 MiB vs 64 MiB peak under no_grad, 12.5x). Wrap it in `with torch.no_grad():` "
                f"(or decorate the function with @torch.no_grad())",
                fix=self._fix(region, ctx),
                related=[ctx.related(region.target, label)]
                + [ctx.related(c, "forward pass here") for c in forwards[1:3]],
            )

    @staticmethod
    def _where(region: EvalRegion) -> tuple[str, str]:
        """How the message names the region, and the label of its related location."""
        if region.kind == "function" and region.func is not None:
            return f"evaluation in {region.func.name}()", f"evaluation function {region.func.name}()"
        if region.kind == "loop":
            return "this evaluation loop", "evaluation loop"
        return "code after .eval()", "after .eval()"

    @staticmethod
    def _repeated(call: ast.AST, ctx: Context, depth: int = 0) -> bool:
        """The forward runs again and again: in a loop of its function, or its function is
        called (through at most three calls) from a loop of this file."""
        func = None
        for anc in ancestors(call):
            if isinstance(anc, FUNCTION_TYPES):
                func = anc
                break
            if isinstance(anc, (*LOOP_TYPES, *COMPREHENSION_TYPES)):
                return True
        if func is None or depth >= 3:
            return False
        flow = ctx.flow
        callers = flow.callers_of(func) or flow.callback_calls(func)
        return any(EvalWithoutNoGrad._repeated(c, ctx, depth + 1) for c in callers)

    @staticmethod
    def _frozen(call: ast.Call, ctx: Context) -> bool:
        """No graph is built: every module the call may run has no trainable parameter (frozen in
        the file, a ``torch.jit.freeze``d or ``optimize_for_inference`` module: facts/grad.py),
        or the model's parameters are frozen with ``requires_grad_(False)``."""
        m = ctx.flow.is_model_forward(call)
        if m is None:
            return False
        func = call.func.value if isinstance(call.func, ast.Attribute) and call.func.attr == "forward" else call.func
        if isinstance(func, (ast.Name, ast.Attribute)):
            objs = module_objects(ctx.model, func)
            if objs and all(trainable(o) is False for o in objs):
                return True
        ctx.model.read_whole()
        for n in calls_named(ctx.model, "requires_grad_"):  # the file's calls by name (not every call)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "requires_grad_":
                if (n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False) and ast.unparse(n.func.value).startswith(m):
                    return True
        return False

    @staticmethod
    def _fix(region: EvalRegion, ctx: Context) -> Fix | None:
        name = torch_name(ctx, region.target)
        if name is None:
            return None
        last = getattr(region, "last", None)
        return wrap_fix(ctx, region.target, f"with {name}.no_grad():", "Wrap in `with torch.no_grad():`", Applicability.UNSAFE, last=last)
