"""Worker side of call-site probes: rebuild a validated call spec on synthetic tensors, run
it, and judge the outcome against the rule's claim. torch comes in through the context."""

from __future__ import annotations

from typing import Any, Callable

from torchpit.probe.registry import Finding, ProbeContext, error_text
from torchpit.probe.result import CONFIRMED, NOT_CONFIRMED
from torchpit.probe.spec import (
    ALLOWED_OPS, Arg, CallArg, CallSpec, DtypeArg, TensorArg, ValueArg, describe_call,
)


class BuildError(Exception):
    """An argument could not be built from the spec (e.g. values that do not fit the dtype)."""


def resolve_op(torch: Any, op: str) -> Callable[..., Any]:
    """Look up an allowlisted dotted name (``torch.nn.functional.interpolate``) by attribute."""
    if op not in ALLOWED_OPS:
        raise ValueError(f"{op!r} is not an allowed callable")
    target = torch
    for part in op.split(".")[1:]:
        target = getattr(target, part)
    return target  # type: ignore[no-any-return]


def build_tensor(ctx: ProbeContext, arg: TensorArg) -> Any:
    torch = ctx.torch
    dtype = getattr(torch, arg.dtype)
    if arg.values is not None:
        tensor = torch.tensor(arg.values, dtype=dtype, device=ctx.device)
    else:
        shape = arg.shape or ()
        fill = arg.fill or ("randn" if dtype.is_floating_point else "zeros")
        if fill == "arange":
            numel = 1
            for dim in shape:
                numel *= dim
            tensor = torch.arange(numel, device=ctx.device).reshape(shape).to(dtype)
        else:
            tensor = getattr(torch, fill)(shape, dtype=dtype, device=ctx.device)
    return tensor.requires_grad_() if arg.requires_grad else tensor


def build_arg(ctx: ProbeContext, arg: Arg, path: str) -> Any:
    try:
        if isinstance(arg, TensorArg):
            return build_tensor(ctx, arg)
        if isinstance(arg, ValueArg):
            return arg.value
        if isinstance(arg, DtypeArg):
            return getattr(ctx.torch, arg.name)
    except Exception as exc:  # noqa: BLE001 - reported as a spec problem
        raise BuildError(f"could not build {path}: {error_text(exc)}") from None
    if isinstance(arg, CallArg):
        return call(ctx, arg.call, path + ".call")
    raise BuildError(f"{path} cannot be synthesized")


def call(ctx: ProbeContext, spec: CallSpec, path: str = "") -> Any:
    fn = resolve_op(ctx.torch, spec.op)
    prefix = f"{path}." if path else ""
    args = [build_arg(ctx, a, f"{prefix}args[{i}]") for i, a in enumerate(spec.args)]
    kwargs = {name: build_arg(ctx, a, f"{prefix}kwargs.{name}") for name, a in spec.kwargs}
    return fn(*args, **kwargs)


def _describe_output(out: Any) -> dict[str, Any]:
    shape = getattr(out, "shape", None)
    if shape is None:
        return {"type": type(out).__name__}
    desc: dict[str, Any] = {"shape": list(shape), "dtype": str(out.dtype).replace("torch.", "")}
    if out.numel() == 1 and out.dtype.is_floating_point:
        desc["value"] = round(out.item(), 6)
    return desc


def invoke(ctx: ProbeContext, spec: CallSpec) -> dict[str, Any]:
    """Run the call; where it raised (the call itself, or the next sync on CUDA) or what it returned."""
    try:
        out = call(ctx, spec)
    except BuildError:
        raise
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        return {"raised": True, "raised_at": "call", "error": error_text(exc)}
    try:
        ctx.sync()
        output = _describe_output(out)
    except Exception as exc:  # noqa: BLE001 - an asynchronous CUDA error surfaces here
        return {"raised": True, "raised_at": "sync", "error": error_text(exc)}
    return {"raised": False, "output": output}


def run_call_spec(ctx: ProbeContext, spec: CallSpec) -> Finding:
    """Run the call and judge the outcome against ``spec.rule``'s claim."""
    text = describe_call(spec)
    if spec.rule == "PIT101":
        return _judge_softmax_cross_entropy(ctx, spec, text)
    outcome = invoke(ctx, spec)
    obs = {"call": text, "outcome": outcome}
    if spec.rule in ("PIT401", "PIT402"):
        return _judge_raises(outcome, text, obs)
    if spec.rule == "PIT403":
        return _judge_unbatched_interpolate(spec, outcome, text, obs)
    return _judge_size_order(spec, outcome, text, obs)


def _ran(outcome: dict[str, Any]) -> str:
    output = outcome["output"]
    return f"ran without error and returned shape {tuple(output.get('shape', ()))}"


def _judge_raises(outcome: dict[str, Any], text: str, obs: dict[str, Any]) -> Finding:
    if not outcome["raised"]:
        return Finding(NOT_CONFIRMED, f"{text} {_ran(outcome)}", obs)
    where = "at the call" if outcome["raised_at"] == "call" else "only at the next sync, not at the call"
    return Finding(CONFIRMED, f"{text} raised {outcome['error']} {where}", obs)


def _judge_unbatched_interpolate(spec: CallSpec, outcome: dict[str, Any], text: str,
                                 obs: dict[str, Any]) -> Finding:
    if outcome["raised"]:
        return Finding(CONFIRMED, f"{text} raised {outcome['error']}", obs)
    first = spec.args[0]
    in_shape = list(first.shape or ()) if isinstance(first, TensorArg) else []
    out_shape = outcome["output"].get("shape", [])
    if len(in_shape) == 3 and out_shape[:2] == in_shape[:2] and out_shape != in_shape:
        return Finding(CONFIRMED, f"{text} silently returned shape {tuple(out_shape)}: "
                                  "it resized only the last axis (C was taken as the batch, H as channels)", obs)
    return Finding(NOT_CONFIRMED, f"{text} {_ran(outcome)}", obs)


def _size_argument(spec: CallSpec) -> Any:
    for name, arg in spec.kwargs:
        if name == "size" and isinstance(arg, ValueArg):
            return arg.value
    if len(spec.args) > 1 and isinstance(spec.args[1], ValueArg):
        return spec.args[1].value
    return None


def _judge_size_order(spec: CallSpec, outcome: dict[str, Any], text: str, obs: dict[str, Any]) -> Finding:
    if outcome["raised"]:
        return Finding(NOT_CONFIRMED, f"{text} raised {outcome['error']}", obs)
    size = _size_argument(spec)
    out_shape = outcome["output"].get("shape", [])
    if not (isinstance(size, list) and len(size) == 2) or size[0] == size[1]:
        return Finding(NOT_CONFIRMED, f"{text} {_ran(outcome)}; with a square or non-pair size "
                                      "the order of (W, H) does not matter", obs)
    return Finding(
        CONFIRMED,
        f"{text} returned shape {tuple(out_shape)}: size is read as (H, W) = ({size[0]}, {size[1]}), "
        f"so a PIL (W, H) size gives an image {size[0]} high and {size[1]} wide, transposed",
        obs,
    )


def _judge_softmax_cross_entropy(ctx: ProbeContext, spec: CallSpec, text: str) -> Finding:
    torch = ctx.torch
    softmax = spec.args[0]
    assert isinstance(softmax, CallArg)  # checked by parse_call_spec
    logits_arg = softmax.call.args[0]
    assert isinstance(logits_arg, TensorArg)
    logits = build_tensor(ctx, logits_arg).detach().float().requires_grad_()
    soft_fn = resolve_op(torch, softmax.call.op)
    soft_args = [build_arg(ctx, a, f"args[0].call.args[{i}]") for i, a in enumerate(softmax.call.args[1:], 1)]
    soft_kwargs = {n: build_arg(ctx, a, f"args[0].call.kwargs.{n}") for n, a in softmax.call.kwargs}
    rest = [build_arg(ctx, a, f"args[{i}]") for i, a in enumerate(spec.args[1:], 1)]
    kwargs = {n: build_arg(ctx, a, f"kwargs.{n}") for n, a in spec.kwargs}
    loss_fn = resolve_op(torch, spec.op)
    try:
        loss_softmax = loss_fn(soft_fn(logits, *soft_args, **soft_kwargs), *rest, **kwargs)
        (grad_softmax,) = torch.autograd.grad(loss_softmax.sum(), logits)
        loss_logits = loss_fn(logits, *rest, **kwargs)
        (grad_logits,) = torch.autograd.grad(loss_logits.sum(), logits)
    except Exception as exc:  # noqa: BLE001 - the error is the observation
        return Finding(NOT_CONFIRMED, f"{text} raised {error_text(exc)}",
                       {"call": text, "outcome": {"raised": True, "error": error_text(exc)}})
    ratio = (grad_softmax.norm() / grad_logits.norm().clamp_min(1e-12)).item()
    obs = {"call": text, "loss_with_softmax": round(loss_softmax.sum().item(), 6),
           "loss_on_logits": round(loss_logits.sum().item(), 6),
           "grad_norm_ratio_softmax_over_logits": round(ratio, 4)}
    return Finding(
        CONFIRMED if ratio < 1.0 else NOT_CONFIRMED,
        f"{text} on random logits of this shape gave a gradient {ratio:.1%} the size of "
        "cross_entropy on the logits themselves",
        obs,
    )
