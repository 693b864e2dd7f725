from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Edit, Fix, FixAvailability, Range, Severity
from ...facts.patterns import call_arg
from ...facts.probes import arg_spec, call_kwargs, call_spec, tensor_spec
from ..rewrites import with_method
from ..rule import CallRule, Context
from ...facts.shapes import tensor_fact

_RAISING_MODES = {"bilinear": "4D", "bicubic": "4D", "trilinear": "5D"}


class InterpolateUnbatchedInput(CallRule):
    """
    ## What it does
    Checks for `F.interpolate` (and `nn.Upsample` modules) applied to a tensor that is provably
    a single image in `(C, H, W)` layout: the result of `torchvision.io.read_image`,
    `ToTensor()(img)` / `TF.to_tensor(img)`, `.permute(2, 0, 1)` of an H x W x C array, or one
    image indexed out of a 4-D batch. For any provably 3-D tensor (`torch.randn(3, H, W)`) it
    reports the calls that cannot work: a 2-element `size` or `scale_factor`, or a 2-D mode
    (`bilinear`, `bicubic`).

    Known problems: worth a warning wherever it is written: with a 2-element size or a 2-D mode
    the call raises, and with an integer size it silently resizes only the last axis (measured).

    ## Why is this bad?
    `interpolate` reads its input as `(N, C, d1, ..., dK)`: a 3-D tensor is one batch of 1-D
    signals, so `C` is taken as the batch and `H` as channels. Measured on torch 2.13 (CPU) and
    2.11 (H100) with a (3, 64, 64) tensor: `size=(h, w)` raises `ValueError: Input and output
    must have the same number of spatial dimensions`; `mode='bilinear'` raises `Got 3D input,
    but bilinear mode needs 4D input`; and an int `size=32` raises nothing and returns shape
    (3, 64, 32): only the last axis was resized.

    ## Example
    ```python
    img = read_image("cat.jpg").float()
    small = F.interpolate(img, size=(224, 224), mode="bilinear")
    ```

    ## Use instead
    ```python
    img = read_image("cat.jpg").float()
    small = F.interpolate(img.unsqueeze(0), size=(224, 224), mode="bilinear").squeeze(0)
    ```

    ## Fix safety
    The fix adds the batch dimension for the call and removes it after:
    `F.interpolate(x.unsqueeze(0), ...).squeeze(0)`. It is safe: where the call raised it now
    runs, and where it silently resized only the last axis it now resizes the image as intended.

    ## References
    - [torch.nn.functional.interpolate](https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html)
    - [torch.nn.Upsample](https://pytorch.org/docs/stable/generated/torch.nn.Upsample.html)
    """

    code = "PIT403"
    name = "interpolate-unbatched-input"
    summary = "F.interpolate on a single (C, H, W) image: it needs a batch dimension"
    severity = Severity.ERROR
    fix_availability = FixAvailability.ALWAYS

    def check(self, node: ast.Call, ctx: Context) -> None:
        model = ctx.model
        name = model.call_name(node)
        if name in torch_api.INTERPOLATE_FUNCS:
            options = node
            inp = call_arg(node, 0, "input")
            size, scale = call_arg(node, 1, "size"), call_arg(node, 2, "scale_factor")
            mode = call_arg(node, 3, "mode")
            if name.endswith("upsample_bilinear"):
                mode = ast.Constant("bilinear")
        elif name is None and node.args and (ctor := _upsample_ctor(model, node.func)) is not None:
            options = ctor
            inp = node.args[0]
            size, scale = call_arg(ctor, 0, "size"), call_arg(ctor, 1, "scale_factor")
            mode = call_arg(ctor, 2, "mode")
            if model.call_name(ctor) == torch_api.UPSAMPLING_BILINEAR:
                mode = ast.Constant("bilinear")
        else:
            return
        if inp is None or isinstance(inp, ast.Starred):
            return
        fact = tensor_fact(model, inp)
        if fact is None or fact.rank != 3:
            return
        mode_s = mode.value if isinstance(mode, ast.Constant) and isinstance(mode.value, str) else ("nearest" if mode is None else None)
        two = lambda e: isinstance(e, (ast.Tuple, ast.List)) and len(e.elts) == 2  # noqa: E731
        if two(size):
            outcome = "raises `ValueError: Input and output must have the same number of spatial dimensions` (measured)"
        elif two(scale):
            outcome = "raises `ValueError: Input and scale_factor must have the same number of spatial dimensions`"
        elif mode_s in _RAISING_MODES:
            outcome = f"raises `Got 3D input, but {mode_s} mode needs {_RAISING_MODES[mode_s]} input` (measured for bilinear)"
        elif fact.image and mode_s is not None:
            outcome = (
                "silently resizes only the last axis, treating C as the batch and H as channels "
                "(measured: size=32 on a (3, 64, 64) image gave (3, 64, 32))"
            )
        else:
            return
        where = "interpolate" if options is node else "nn.Upsample"
        message = (
            f"{where} expects a batch (N, C, H, W) but gets a single image of shape {fact.shape_text() if not fact.image else '(C, H, W)'}: "
            f"it {outcome}. Add the batch dimension: .unsqueeze(0), then .squeeze(0)"
        )
        related = [ctx.related(n, m) for n, m in fact.evidence[-3:]]
        end = ctx.range(node).end
        fix = Fix(
            "Add a batch dimension for the call (unsqueeze(0) ... squeeze(0))",
            Applicability.SAFE,
            (ctx.replace(inp, with_method(ctx, inp, "unsqueeze").replace("unsqueeze()", "unsqueeze(0)")), Edit(Range(end, end), ".squeeze(0)")),
        )
        if options is node:
            probe = call_spec(self.code, torch_api.INTERPOLATE, [tensor_spec(fact, default_dtype="float32")] + [arg_spec(model, a) for a in node.args[1:]], call_kwargs(model, node, skip=("input",)))
        else:
            probe = call_spec(self.code, torch_api.INTERPOLATE, [tensor_spec(fact, default_dtype="float32")], call_kwargs(model, options))
        ctx.report(node, message, fix=fix, related=related, probe=probe)


def _upsample_ctor(model, func: ast.expr) -> ast.Call | None:
    if isinstance(func, ast.Call):
        return func if model.call_name(func) in torch_api.UPSAMPLE_MODULES else None
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return None
    vals = model.values(func, module_identity=True)
    if len(vals) == 1 and isinstance(vals[0].node, ast.Call) and vals[0].model is model and model.call_name(vals[0].node) in torch_api.UPSAMPLE_MODULES:
        return vals[0].node
    return None
