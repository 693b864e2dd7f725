from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.flow import BN_CLASSES, flow_of, text_of
from ...facts.freezing import Freeze, freezes
from ...facts.grad import module_objects
from ...facts.module_contents import batch_norm_in
from ...facts.networks import untrained
from ..rule import Context, Rule
from ...semantic.model import COMPREHENSIONS, FUNCTION_TYPES
from ...syntax.tree import ancestors, parent



def _isinstance_bn(test: ast.AST, ctx: Context) -> str | None:
    """``isinstance(m, nn.BatchNorm2d)`` / ``isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))`` /
    ``isinstance(m, _BatchNorm)`` / ``'BatchNorm' in m.__class__.__name__``: the variable tested."""
    for n in ast.walk(test):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" and len(n.args) == 2:
            classes = n.args[1].elts if isinstance(n.args[1], ast.Tuple) else [n.args[1]]
            for c in classes:
                q = ctx.model.qualified_name(c) or ""
                t = text_of(c) or ""
                if q in BN_CLASSES or "BatchNorm" in t or q.endswith("_BatchNorm") or q.endswith("_NormBase"):
                    return text_of(n.args[0])
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("find", "startswith", "__contains__") and n.args:
            a = n.args[0]
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and "BatchNorm" in a.value:
                return _module_of_classname(n.func.value, ctx)
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str) and "BatchNorm" in n.left.value and n.comparators:
            return _module_of_classname(n.comparators[0], ctx)
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str) and "BatchNorm" in n.left.value:
            for comp in n.comparators:
                t = text_of(comp) or ""
                if "__class__" in t or "__name__" in t or "type(" in t:
                    return t.split(".")[0].replace("type(", "").rstrip(")")
    return None


def _module_of_classname(expr: ast.AST, ctx: Context) -> str | None:
    """``classname`` (= ``m.__class__.__name__``) or ``type(m).__name__`` -> ``m``."""
    for v in ctx.model.values(expr):
        t = text_of(v.node) or ""
        if ".__class__" in t:
            return t.split(".__class__")[0]
        if t.startswith("type(") and ")" in t:
            return t[5 : t.index(")")]
    return text_of(expr)


def _names_bn(test: ast.AST, ctx: Context) -> str | None:
    """``'bn' in name`` / ``name.startswith('bn')`` / ``'.bn' in n``: the variable holding the name."""
    for n in ast.walk(test):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("find", "startswith", "__contains__") and n.args:
            a = n.args[0]
            if isinstance(a, ast.Constant) and isinstance(a.value, str) and "BatchNorm" in a.value:
                return _module_of_classname(n.func.value, ctx)
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str) and "BatchNorm" in n.left.value and n.comparators:
            return _module_of_classname(n.comparators[0], ctx)
        if isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str) and any(isinstance(o, ast.In) for o in n.ops):
            if _bn_fragment(n.left.value) and isinstance(n.comparators[0], ast.Name):
                return n.comparators[0].id
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("startswith", "endswith", "__contains__") and n.args:
            a = n.args[0]
            vals = a.elts if isinstance(a, ast.Tuple) else [a]
            if any(isinstance(v, ast.Constant) and isinstance(v.value, str) and _bn_fragment(v.value) for v in vals) and isinstance(n.func.value, ast.Name):
                return n.func.value.id
    return None


def _bn_fragment(s: str) -> bool:
    s = s.lower().strip(".")
    return s in ("bn", "bn1", "bn2", "bn3", "batchnorm", "batch_norm", "norm", "bn.", "downsample.1") or s.startswith(("bn", "batchnorm", "batch_norm")) or s.endswith("bn")


def _freezes(node: ast.AST) -> ast.AST | None:
    """``x.requires_grad = False`` / ``x.requires_grad_(False)``: the node to report."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is False:
        if any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets):
            return node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
        a = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "requires_grad"), None)
        if isinstance(a, ast.Constant) and a.value is False:
            return node
    return None


def _converted_classes(m, fr: Freeze) -> set[str] | None:
    """Batch-norm classes that a converter called on the frozen module replaces (``FrozenBN.
    convert(self)``: a function whose body tests ``isinstance(x, <batch norm classes>)``);
    set() when no call passes the module on; None when a callee that may convert is unknown."""
    covered: set[str] = set()
    target = text_of(fr.target)
    funcs = {m.enclosing_function(fr.site), m.enclosing_function(fr.statement)} - {None}
    for func in funcs:
        for call in ast.walk(func):
            if not isinstance(call, ast.Call) or not any(text_of(a) == target or (m._is_self(a) and m._is_self(fr.target)) for a in call.args):
                continue
            if call is fr.site:
                continue
            callee = _converter(m, call)
            if callee is None:
                continue
            cm, body = callee
            if body is False:
                return None
            covered |= _isinstance_bn_classes(cm, body)
    return covered


def _converter(m, call: ast.Call):
    """(model, function) a call runs: a local function, or a method of a local or project class
    called on the class (``FrozenBN.convert(module)``); (m, False) when unknown, None when it is
    plainly not a converter (a torch call, the freezing helper itself)."""
    f = call.func
    q = m.call_name(call)
    if q is not None and q.startswith(("torch.", "builtins.")):
        return None
    if isinstance(f, ast.Name):
        bs = m.lookup(f.id, f)
        if len(bs) == 1 and bs[0].kind == "def":
            return m, bs[0].node
        return m, False
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        cls = m.local_class_of(f.value)
        em = m
        if cls is None:
            ext = m.external_class(f.value)
            if ext is None:
                return m, False
            em, cls = ext
        method = em.find_method(cls, f.attr)
        return (em, method) if method is not None else (m, False)
    return None


def _isinstance_bn_classes(m, func) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(func):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" and len(n.args) == 2:
            for v in m.values(n.args[1]):
                classes = v.node.elts if isinstance(v.node, ast.Tuple) else [v.node]
                for c in classes:
                    q = m.qualified_name(c)
                    if q in BN_CLASSES:
                        out.add(q)
    return out


def _runs_in_train_mode(m, target: ast.AST, objs: set[int]) -> bool:
    """The frozen module (or the module it is part of) is put in train mode, or run in a loop."""
    owners = set(objs)
    base = target.value if isinstance(target, ast.Attribute) else None
    if base is not None:
        owners |= {id(o.node) for o in (module_objects(m, base) or [])}
    texts = {text_of(target), text_of(base) if base is not None else None} - {None}
    for call in flow_of(m).nodes(ast.Call):
        f = call.func
        recv = f.value if isinstance(f, ast.Attribute) and f.attr in ("forward", "train", "__call__") else f
        if not isinstance(recv, (ast.Name, ast.Attribute)):
            continue
        if text_of(recv) not in texts and not any(id(o.node) in owners for o in (module_objects(m, recv) or [])):
            continue
        if (isinstance(f, ast.Attribute) and f.attr == "train") or m.enclosing_loops(call):
            return True
        if any(isinstance(a, COMPREHENSIONS) for a in ancestors(call)):
            return True
    return False


class BatchnormFrozenWithRequiresGrad(Rule):
    """
    ## What it does
    Checks for batch-norm layers "frozen" by turning off `requires_grad` on their parameters
    (`p.requires_grad = False`, `m.requires_grad_(False)`; on modules picked with
    `isinstance(m, nn.BatchNorm2d)`, on `named_parameters()` filtered by a name like `'bn'`, or
    in a function applied with `model.apply(...)`) when nothing in the file puts those layers in
    eval mode (`m.eval()`, or a `train()` override that does).

    Frozen means frozen: it also checks a whole module frozen (`for p in backbone.parameters():
    p.requires_grad = False`, `backbone.requires_grad_(False)`, or a helper function or method
    whose body does one of these, such as `_freeze_module(self.layer1)` in `__init__`) when the
    module's construction holds batch norm (BatchNorm1d/2d/3d, SyncBatchNorm; followed through
    `nn.Sequential(*layers)`, the `self.x` layers of its class, classes passed as arguments,
    helper methods that build it, torchvision models). It stays silent when the frozen module
    is put in eval mode and nothing puts it back in train mode, its class overrides `train()`, its batch norm does not track running
    statistics, a converter called on it replaces its batch-norm classes by a frozen batch norm
    (a function whose body tests `isinstance(m, (nn.BatchNorm2d, ...))`: the classes it tests
    are the ones replaced, so a BatchNorm1d left behind is still reported), or (outside a module
    class) it is never trained or run in a loop in the file (a conversion or export script). The
    finding is on the freezing statement (the helper's call).

    Known problems: worth a warning only where trained statistics can drift: a fresh model that
    nothing in its scope trains, loads or hands on (a unit test that checks on purpose that
    frozen batch norm still moves) is not reported, nor (above) a module never trained or run in
    a loop in the file.

    ## Why is this bad?
    `requires_grad = False` freezes the affine weight and bias only. The running mean and
    variance are buffers, updated by every forward pass in train mode, and `model.train()` puts
    the "frozen" layers back in train mode each epoch. Measured on torch 2.13 (CPU) and 2.11
    (H100): `running_mean` still changes on forward in train mode, even under
    `torch.no_grad()`; in eval mode it does not. So the statistics move away from the pretrained
    ones with every batch; and with a batch of 1 the forward fails with `ValueError: Expected more
    than 1 value per channel when training`.

    ## Example
    ```python
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            for p in m.parameters():
                p.requires_grad = False
    model.train()
    ```

    ## Use instead
    ```python
    def freeze_bn(model):
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False

    model.train()
    freeze_bn(model)  # again after every model.train()
    ```
    Or override `train()` in the model to put its batch-norm layers back in eval mode.

    ## Fix safety
    The suggestion (display-only, never applied) inserts `m.eval()` next to the freezing code;
    it must also run after every later `model.train()`, which the fix cannot place for you.

    ## References
    - [torch.nn.BatchNorm2d](https://pytorch.org/docs/stable/generated/torch.nn.BatchNorm2d.html)
    - [torch.nn.Module.train](https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.train)
    """

    code = "PIT302"
    name = "batchnorm-frozen-with-requires-grad"
    summary = "Batch norm frozen with requires_grad=False still updates its running statistics in train mode"
    severity = Severity.WARNING
    fix_availability = FixAvailability.SOMETIMES
    whole_file = True

    def check_file(self, ctx: Context) -> None:
        if "requires_grad" not in ctx.source.text:
            return  # cheap pre-check: nothing to find
        if self._evals_bn_somewhere(ctx):
            return
        seen: set[int] = set()
        for node in ctx.flow.nodes(ast.Assign, ast.Call):
            site = _freezes(node)
            if site is None or id(site) in seen:
                continue
            how = self._bn_evidence(site, ctx)
            if how is None:
                continue
            seen.add(id(site))
            kind, var, guard = how
            ctx.report(
                site,
                f"batch norm {kind} frozen with requires_grad=False only: its running statistics still update on every "
                f"forward in train mode (measured: running_mean changes even under torch.no_grad()). Also call .eval() on "
                f"these layers after every model.train()",
                fix=self._suggest(site, var, guard, ctx),
            )
        for fr in freezes(ctx.model):
            if id(fr.site) in seen or id(fr.statement) in seen:
                continue
            found = self._whole_module(fr, ctx)
            if found is None or untrained(ctx.model, fr.target):
                continue  # (a fresh model nothing trains or loads, as in a test of frozen batch norm: no statistics to keep)
            seen.add(id(fr.site))
            bn_model, bn, covered = found
            target = text_of(fr.target) or "the module"
            if ctx.model._is_self(fr.target):
                cls = ctx.model.enclosing_class(fr.target)
                target = f"{cls.name if cls else 'the module'} (self)"
            kind = (bn_model.call_name(bn) or "batch norm").rsplit(".", 1)[-1]
            partial = f" (the conversion replaces only {', '.join(sorted(c.rsplit('.', 1)[-1] for c in covered))}, not {kind})" if covered else ""
            related = []
            if fr.statement is not fr.site:
                related.append(ctx.related(fr.statement, "requires_grad = False is set here"))
            if bn_model is ctx.model:
                related.append(ctx.related(bn, "batch norm inside it, built here"))
            ctx.report(
                fr.site,
                f"{target} is frozen with requires_grad=False, but its batch norm layers{partial} stay in train mode: their running "
                f"statistics still update on every forward in train mode (measured: running_mean changes even under "
                f"torch.no_grad()). Put them in eval mode after every model.train() (or override train()), or replace "
                f"them with a frozen batch norm",
                related=related,
            )

    @staticmethod
    def _whole_module(fr: Freeze, ctx: Context):
        """(model, batch-norm construction) when ``fr`` freezes a module holding batch norm that
        nothing puts in eval mode."""
        m = ctx.model
        found = batch_norm_in(m, fr.target)
        if found is None:
            return None
        objs = {id(o.node) for o in (module_objects(m, fr.target) or [])}
        cls = m.enclosing_class(fr.site)
        evals = trains = 0
        for call in flow_of(m).nodes(ast.Call):
            f = call.func
            if not isinstance(f, ast.Attribute) or f.attr not in ("eval", "train"):
                continue
            off = f.attr == "eval" or (bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value is False)
            recv = f.value
            if text_of(recv) == text_of(fr.target) or any(id(o.node) in objs for o in (module_objects(m, recv) or [])):
                evals += off
                trains += not off
        if evals and not trains:
            return None  # the frozen module is put in eval mode, and nothing puts it back in train mode
        if cls is not None and m.find_method(cls, "train") is not None:
            return None  # the class decides its own train mode
        if cls is None and not _runs_in_train_mode(m, fr.target, objs):
            return None  # never trained or run in a loop here (a conversion script): no statistics drift
        covered = _converted_classes(m, fr)
        if covered is None or found[0].call_name(found[1]) in covered:
            return None  # replaced by a frozen batch norm (or by something we cannot see)
        return found[0], found[1], covered

    @staticmethod
    def _bn_evidence(site: ast.AST, ctx: Context):
        """(description, module variable or None, the guarding if) when ``site`` freezes batch norm."""
        for anc in ancestors(site):
            if isinstance(anc, ast.If):
                var = _isinstance_bn(anc.test, ctx)
                if var is not None:
                    return ("layers (picked by isinstance)", var, anc)
                nm = _names_bn(anc.test, ctx)
                if nm is not None:
                    return ("parameters (picked by name)", None, anc)
            if isinstance(anc, ast.comprehension) or isinstance(anc, (ast.For, ast.AsyncFor)):
                it = anc.iter
                if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("parameters", "named_parameters"):
                    owner = it.func.value
                    if isinstance(owner, ast.Attribute) and _bn_fragment(owner.attr):
                        return ("layer", text_of(owner), None)
            if isinstance(anc, FUNCTION_TYPES):
                break
        if isinstance(site, ast.Call):
            owner = site.func.value
            if isinstance(owner, ast.Attribute) and _bn_fragment(owner.attr) and not owner.attr.lower().startswith("norm"):
                return ("layer", text_of(owner), None)
        if isinstance(site, ast.Assign):
            t = next(t for t in site.targets if isinstance(t, ast.Attribute))
            owner = t.value
            if isinstance(owner, ast.Attribute) and owner.attr in ("weight", "bias") and isinstance(owner.value, ast.Attribute) and _bn_fragment(owner.value.attr):
                return ("layer", text_of(owner.value), None)
        return None

    @staticmethod
    def _evals_bn_somewhere(ctx: Context) -> bool:
        """Something in the file puts batch-norm layers in eval mode (then the freezing is done right)."""
        for n in ctx.flow.nodes(ast.FunctionDef, ast.If):
            if isinstance(n, FUNCTION_TYPES) and n.name == "train" and isinstance(parent(n), ast.ClassDef):
                if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in ("eval", "train") for c in ast.walk(n)):
                    return True
            if isinstance(n, ast.If) and (_isinstance_bn(n.test, ctx) is not None):
                for c in ast.walk(n):
                    if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and (
                        c.func.attr == "eval" or (c.func.attr == "train" and c.args and isinstance(c.args[0], ast.Constant) and c.args[0].value is False)
                    ):
                        return True
                    if isinstance(c, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in ("training", "momentum", "track_running_stats") for t in c.targets):
                        return True
        return False

    @staticmethod
    def _suggest(site: ast.AST, var: str | None, guard: ast.AST | None, ctx: Context) -> Fix | None:
        if var is None or guard is None:
            return None
        first = guard.body[0]
        if first.lineno == guard.lineno:
            return None
        return ctx.insert_fix(f"Also call {var}.eval() here, and again after every model.train()", Applicability.DISPLAY_ONLY, first, f"{var}.eval()")
