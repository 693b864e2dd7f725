from __future__ import annotations

import ast

from ...catalogue import torch_api
from ...core.diagnostics import Applicability, Fix, FixAvailability, Severity
from ...facts.patterns import call_arg
from ...facts.probes import arg_spec, call_spec, unknown
from ..rule import CallRule, Context
from ...semantic.model import SemanticModel

MAX_DEPTH = 6


class InterpolateSizeFromPil(CallRule):
    """
    ## What it does
    Checks for a `size` taken from a PIL image's `.size` and passed where PyTorch expects
    `(height, width)`: `F.interpolate(..., size=img.size)`, `nn.Upsample(size=img.size)`,
    `transforms.Resize(img.size)`, `TF.resize(x, img.size)`; also `w, h = img.size` followed by
    `size=(w, h)`.

    Known problems: a square image gives the same result either way, which the file cannot
    prove: reported. Elsewhere the output's height and width are swapped, in a test as in
    training.

    ## Why is this bad?
    PIL's `Image.size` is `(width, height)`; `interpolate`, `Upsample` and torchvision's
    `Resize` take `(height, width)`. Nothing raises: for a non-square image the output has its
    height and width swapped, the image is stretched, and masks or predictions resized back
    "to the original size" no longer line up with it. Square test images hide the bug.

    ## Example
    ```python
    img = Image.open(path)
    mask = F.interpolate(logits, size=img.size, mode="bilinear")
    ```

    ## Use instead
    ```python
    img = Image.open(path)
    mask = F.interpolate(logits, size=img.size[::-1], mode="bilinear")  # (H, W)
    ```

    ## Fix safety
    The fix reverses the size (`img.size[::-1]`, or `(h, w)` for unpacked names). It is safe:
    the output then has the image's height and width.

    ## References
    - [PIL Image.size](https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.Image.size)
    - [torch.nn.functional.interpolate](https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html)
    - [torchvision.transforms.Resize](https://pytorch.org/vision/stable/generated/torchvision.transforms.Resize.html)
    """

    code = "PIT404"
    name = "interpolate-size-from-pil"
    summary = "size taken from PIL's Image.size (W, H) where (H, W) is expected"
    severity = Severity.WARNING
    fix_availability = FixAvailability.ALWAYS

    def check(self, node: ast.Call, ctx: Context) -> None:
        model = ctx.model
        name = model.call_name(node)
        pos = torch_api.RESIZE_SIZE_CALLS.get(name or "")
        if pos is None:
            return
        size = call_arg(node, pos, "size")
        if size is None:
            return
        short = torch_api.short(name)  # type: ignore[arg-type]
        found = _pil_size(model, size)
        if found is not None:
            src, img_node = found
            message = (
                f"{short} takes size=(height, width), but PIL's Image.size is (width, height): non-square images "
                f"come out with height and width swapped. Use {ctx.text(size) if len(ctx.text(size)) < 40 else 'the size'}[::-1]"
            )
            text = ctx.text(size)
            if not isinstance(size, (ast.Name, ast.Attribute, ast.Subscript, ast.Call)):
                text = f"({text})"
            fix = Fix("Reverse to (height, width)", Applicability.SAFE, (ctx.replace(size, f"{text}[::-1]"),))
            related = [ctx.related(src, "(width, height) from PIL's Image.size here"), ctx.related(img_node, "a PIL image, opened here")]
        else:
            swapped = _unpacked_wh(model, size)
            if swapped is None:
                return
            stmt, img_node = swapped
            a, b = size.elts  # type: ignore[attr-defined]
            message = (
                f"{short} takes size=(height, width), but ({ctx.text(a)}, {ctx.text(b)}) is (width, height) of a "
                f"PIL image: non-square images come out with height and width swapped"
            )
            fix = Fix("Swap to (height, width)", Applicability.SAFE, (ctx.replace(a, ctx.text(b)), ctx.replace(b, ctx.text(a))))
            related = [ctx.related(stmt, "the PIL image's width and height, in that order, here"), ctx.related(img_node, "a PIL image, opened here")]
        probe_args = [arg_spec(model, call_arg(node, 0, "input"))] if pos == 1 else []
        probe = call_spec(self.code, name, probe_args, {"size": unknown("from a PIL image's size at run time")})  # type: ignore[arg-type]
        ctx.report(size, message, fix=fix, related=related, probe=probe)


def pil_image(model: SemanticModel, expr: ast.AST, depth: int = 0) -> ast.AST | None:
    """The node proving ``expr`` is a PIL image (``Image.open(...)`` and its conversions)."""
    if depth > MAX_DEPTH:
        return None
    vals = model.values(expr)
    if not vals:
        return None
    proof = None
    for v in vals:
        node = v.node
        if v.model is not model or not isinstance(node, ast.Call):
            return None
        name = model.call_name(node)
        if name in torch_api.PIL_IMAGE_MAKERS:
            proof = proof or node
            continue
        func = node.func
        if name is None and isinstance(func, ast.Attribute) and func.attr in torch_api.PIL_IMAGE_METHODS:
            inner = pil_image(model, func.value, depth + 1)
            if inner is None:
                return None
            proof = proof or inner
            continue
        return None
    return proof


def _pil_size(model: SemanticModel, size: ast.expr) -> tuple[ast.AST, ast.AST] | None:
    if isinstance(size, ast.Call) and isinstance(size.func, ast.Name) and size.func.id in ("tuple", "list") and len(size.args) == 1:
        size = size.args[0]
    vals = model.values(size)
    if len(vals) != 1:
        return None
    node = vals[0].node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("tuple", "list") and len(node.args) == 1:
        node = node.args[0]
    if isinstance(node, ast.Attribute) and node.attr == "size":
        img = pil_image(model, node.value)
        if img is not None:
            return node, img
    return None


def _pil_axis(model: SemanticModel, expr: ast.expr) -> tuple[str, ast.AST, ast.AST] | None:
    """``img.width`` / ``img.size[0]`` -> ("w", node, image proof); ``img.height`` / ``img.size[1]`` -> "h"."""
    vals = model.values(expr)
    if len(vals) != 1:
        return None
    node = vals[0].node
    axis, recv = None, None
    if isinstance(node, ast.Attribute) and node.attr in ("width", "height"):
        axis, recv = ("w" if node.attr == "width" else "h"), node.value
    elif (
        isinstance(node, ast.Subscript) and isinstance(node.value, ast.Attribute) and node.value.attr == "size"
        and isinstance(node.slice, ast.Constant) and node.slice.value in (0, 1)
    ):
        axis, recv = ("w" if node.slice.value == 0 else "h"), node.value.value
    if axis is None:
        return None
    img = pil_image(model, recv)
    return (axis, node, img) if img is not None else None


def _unpacked_wh(model: SemanticModel, size: ast.expr) -> tuple[ast.AST, ast.AST] | None:
    """``size=(w, h)`` where ``w, h = img.size`` (same order: wrong); ``(img.width, img.height)``."""
    if not isinstance(size, (ast.Tuple, ast.List)) or len(size.elts) != 2:
        return None
    a, b = size.elts
    pa, pb = _pil_axis(model, a), _pil_axis(model, b)
    if pa is not None and pb is not None and pa[0] == "w" and pb[0] == "h":
        return pa[1], pa[2]
    if not (isinstance(a, ast.Name) and isinstance(b, ast.Name)) or a.id == b.id:
        return None
    ba, bb = model.lookup(a.id, a), model.lookup(b.id, b)
    if len(ba) != 1 or len(bb) != 1 or ba[0].stmt is not bb[0].stmt:
        return None
    stmt = ba[0].stmt
    if not isinstance(stmt, ast.Assign) or len(stmt.targets) != 1 or not isinstance(stmt.targets[0], ast.Tuple):
        return None
    names = [e.id if isinstance(e, ast.Name) else None for e in stmt.targets[0].elts]
    if len(names) != 2 or names.index(a.id) != 0 or names.index(b.id) != 1:
        return None
    value = stmt.value
    if not (isinstance(value, ast.Attribute) and value.attr == "size"):
        return None
    img = pil_image(model, value.value)
    return (stmt, img) if img is not None else None
