from __future__ import annotations

import ast

from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.batch_norm import evaluates_batch_norm_somewhere, freeze_site, freezes_batch_norm, unevaluated_frozen_module
from ...facts.flow import text_of
from ...facts.freezing import freezes
from ...facts.networks import untrained
from ..rule import Context, Rule


class BatchnormFrozenWithRequiresGrad(Rule):
    """
    ## What it does
    Checks for batch-norm layers "frozen" by turning off `requires_grad` on their parameters
    (`p.requires_grad = False`, `m.requires_grad_(False)`; on modules picked with
    `isinstance(m, nn.BatchNorm2d)`, on `named_parameters()` filtered by a name test that picks
    a batch-norm layer's weight or bias, or in a function applied with `model.apply(...)`) when
    nothing in the file puts those layers in eval mode (`m.eval()`, or a `train()` override that
    does). A name test counts only against the layer names the model's construction proves (its
    `self.x` attributes, `nn.Sequential` positions, the batch-norm layers every torchvision
    ResNet, DenseNet or VGG-BN has): `'norm' in name` on a model of LayerNorms, or
    `'bn' in name` where `self.bn` is a Linear or the model is not known, is not reported.

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
        if not ctx.model.text_contains("requires_grad"):
            return  # cheap pre-check: nothing to find
        if evaluates_batch_norm_somewhere(ctx.model):
            return
        seen: set[int] = set()
        for node in ctx.flow.nodes(ast.Assign, ast.Call):
            site = freeze_site(node)
            if site is None or id(site) in seen:
                continue
            how = freezes_batch_norm(site, ctx.model)
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
            found = unevaluated_frozen_module(fr, ctx.model)
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
    def _suggest(site: ast.AST, var: str | None, guard: ast.AST | None, ctx: Context) -> Fix | None:
        if var is None or guard is None:
            return None
        first = guard.body[0]
        if first.lineno == guard.lineno:
            return None
        return ctx.insert_fix(f"Also call {var}.eval() here, and again after every model.train()", Applicability.DISPLAY_ONLY, first, f"{var}.eval()")
