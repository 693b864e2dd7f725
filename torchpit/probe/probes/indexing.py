"""Probes for the indexing and shape rules (PIT401-PIT404)."""

from __future__ import annotations

from typing import Any, Callable

from torchpit.probe.registry import Finding, ProbeContext, error_text, probe
from torchpit.probe.result import CONFIRMED, NOT_CONFIRMED


def _status(ok: bool) -> str:
    return CONFIRMED if ok else NOT_CONFIRMED


def _attempt(call: Callable[[], Any]) -> dict[str, Any]:
    """Run ``call``; the outcome as observations: the error, or the output shape."""
    try:
        out = call()
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        return {"raised": True, "error": error_text(exc)}
    return {"raised": False, "shape": list(out.shape)}


@probe("index-with-float-tensor", "PIT401", "indexing with a float tensor")
def index_with_float_tensor(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    x = torch.randn(10, 3, device=ctx.device)
    float_index = torch.tensor([1.0, 2.0], device=ctx.device)
    int32_index = torch.tensor([1, 2], dtype=torch.int32, device=ctx.device)
    obs = {
        "index_select_float_index": _attempt(lambda: torch.index_select(x, 0, float_index)),
        "subscript_float_index": _attempt(lambda: x[float_index]),
        "index_select_int32_index": _attempt(lambda: torch.index_select(x, 0, int32_index)),
    }
    float_result = obs["index_select_float_index"]
    if not float_result["raised"]:
        return Finding(NOT_CONFIRMED, "index_select with a float index raised no error", obs)
    return Finding(CONFIRMED, f"index_select with a float index raised {float_result['error']}", obs)


@probe("index-out-of-bounds", "PIT402", "index out of bounds", cuda_only_variants=("launch-blocking",))
def index_out_of_bounds(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    x = torch.randn(1000, 10, device=ctx.device)
    index = torch.tensor([0, 5, 1000], device=ctx.device)
    obs: dict[str, Any] = {"cuda_launch_blocking": ctx.variant == "launch-blocking"}
    try:
        y = torch.index_select(x, 0, index)
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        obs.update(raised_at="call", error=error_text(exc))
        return Finding(CONFIRMED, f"index_select out of bounds raised {obs['error']} at the call", obs)
    obs["call_returned"] = True
    stage = "later_op"
    try:
        z = (y * 2).sum()  # a later op, before any sync
        obs["later_op_returned"] = True
        stage = "sync"
        z.item()  # sync point
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        obs.update(raised_at=stage, error=error_text(exc))
        where = "at the next sync (.item())" if stage == "sync" else "at the next op"
        return Finding(
            CONFIRMED,
            f"index_select out of bounds raised nothing at the call; {obs['error']} surfaced only {where}",
            obs,
        )
    obs["raised_at"] = None
    return Finding(NOT_CONFIRMED, "index_select out of bounds raised no error, not even at the next sync", obs)


@probe("interpolate-unbatched-input", "PIT403", "F.interpolate on an unbatched (C, H, W) tensor")
def interpolate_unbatched_input(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    image = torch.randn(3, 64, 64, device=ctx.device)
    obs = {
        "size_tuple": _attempt(lambda: F.interpolate(image, size=(32, 32))),
        "size_int": _attempt(lambda: F.interpolate(image, size=32)),
        "bilinear": _attempt(lambda: F.interpolate(image, scale_factor=2, mode="bilinear")),
        "input_shape": [3, 64, 64],
    }
    silent = obs["size_int"]
    confirmed = (obs["size_tuple"]["raised"] and obs["bilinear"]["raised"]
                 and not silent["raised"] and silent["shape"][:2] == [3, 64])
    silent_part = (f"raised {silent['error']}" if silent["raised"]
                   else f"silently gave shape {tuple(silent['shape'])}, resizing only the last axis")
    return Finding(
        _status(confirmed),
        f"F.interpolate on a (3, 64, 64) tensor: size=(32, 32) raised "
        f"{'an error' if obs['size_tuple']['raised'] else 'nothing'}, size=32 {silent_part}, "
        f"mode='bilinear' raised {'an error' if obs['bilinear']['raised'] else 'nothing'}",
        obs,
    )


@probe("interpolate-size-from-pil", "PIT404", "F.interpolate size taken from PIL's (W, H)")
def interpolate_size_from_pil(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    height, width = 48, 64
    batch = torch.randn(1, 3, height, width, device=ctx.device)
    pil_size = (width, height)  # what PIL.Image.size returns
    from_pil = list(F.interpolate(batch, size=pil_size).shape)
    from_hw = list(F.interpolate(batch, size=(height, width)).shape)
    obs = {"input_shape": list(batch.shape), "output_shape_size_from_pil_wh": from_pil,
           "output_shape_size_hw": from_hw}
    return Finding(
        _status(from_pil[2:] == [width, height] and from_pil != from_hw),
        f"resizing a {height}x{width} (HxW) image with size=(W, H) from PIL gave shape "
        f"{tuple(from_pil)}, transposed from {tuple(from_hw)}",
        obs,
    )
