"""Probes for the autograd and optimizer-step rules (PIT201, PIT202, PIT205-PIT208)."""

from __future__ import annotations

import warnings
from typing import Any

from torchpit.probe.registry import Finding, ProbeContext, error_text, probe
from torchpit.probe.result import CONFIRMED, NOT_CONFIRMED, SKIPPED

MIB = 2**20


def _status(ok: bool) -> str:
    return CONFIRMED if ok else NOT_CONFIRMED


def _mlp(ctx: ProbeContext, width: int, depth: int) -> Any:
    nn = ctx.torch.nn
    layers: list[Any] = []
    for _ in range(depth):
        layers += [nn.Linear(width, width), nn.GELU()]
    return nn.Sequential(*layers).to(ctx.device)


def _saved_for_backward_mib(ctx: ProbeContext, model: Any, x: Any, grad_mode: bool) -> float:
    """MiB of tensors autograd saves for backward during one forward (measurable on any device)."""
    torch = ctx.torch
    saved_bytes = 0

    def pack(tensor: Any) -> Any:
        nonlocal saved_bytes
        saved_bytes += tensor.numel() * tensor.element_size()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), torch.set_grad_enabled(grad_mode):
        model(x)
    return round(saved_bytes / MIB, 2)


def _cuda_peak_extra_mib(ctx: ProbeContext, model: Any, x: Any, mode: str) -> float:
    torch = ctx.torch
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    if mode == "no_grad":
        with torch.no_grad():
            out = model(x)
    elif mode == "inference_mode":
        with torch.inference_mode():
            out = model(x)
    else:
        out = model(x)
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated() - base
    del out
    return round(peak / MIB, 1)


@probe("eval-without-no-grad", "PIT201", "evaluation forward without torch.no_grad()", needs_cuda=True)
def eval_without_no_grad(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    if ctx.is_cuda:
        model = _mlp(ctx, width=1024, depth=8).eval()
        x = torch.randn(2048, 1024, device=ctx.device)
        with torch.no_grad():  # warm-up: cuBLAS workspaces must not count against the first mode
            model(x)
        peaks = {mode: _cuda_peak_extra_mib(ctx, model, x, mode)
                 for mode in ("autograd", "no_grad", "inference_mode")}
        obs = {f"{mode}_peak_extra_MiB": mib for mode, mib in peaks.items()}
        obs["model"] = "8 x (Linear(1024, 1024) + GELU), batch 2048, eval mode"
        ratio = peaks["autograd"] / max(peaks["no_grad"], 1e-9)
        return Finding(
            _status(peaks["autograd"] > 2 * peaks["no_grad"]),
            f"an eval-mode forward took {peaks['autograd']:.0f} MiB peak extra memory with autograd "
            f"vs {peaks['no_grad']:.0f} MiB under no_grad ({ratio:.1f}x)",
            obs,
        )
    model = _mlp(ctx, width=256, depth=4).eval()
    x = torch.randn(512, 256, device=ctx.device)
    out = model(x)
    with torch.no_grad():
        out_no_grad = model(x)
    obs = {
        "output_grad_fn": type(out.grad_fn).__name__ if out.grad_fn is not None else None,
        "output_grad_fn_under_no_grad": (
            type(out_no_grad.grad_fn).__name__ if out_no_grad.grad_fn is not None else None),
        "saved_for_backward_MiB_autograd": _saved_for_backward_mib(ctx, model, x, grad_mode=True),
        "saved_for_backward_MiB_no_grad": _saved_for_backward_mib(ctx, model, x, grad_mode=False),
        "model": "4 x (Linear(256, 256) + GELU), batch 512, eval mode",
    }
    return Finding(
        SKIPPED,
        f"peak-memory figures need CUDA (skipped); measured instead: autograd saved "
        f"{obs['saved_for_backward_MiB_autograd']} MiB of tensors for backward in an eval forward, "
        f"{obs['saved_for_backward_MiB_no_grad']} MiB under no_grad",
        obs,
    )


@probe("volatile-variable", "PIT202", "Variable(volatile=True)")
def volatile_variable(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    weight = torch.randn(3, device=ctx.device, requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        v = torch.autograd.Variable(torch.randn(3, device=ctx.device), volatile=True)
    texts = [str(w.message)[:300] for w in caught]
    out_requires_grad = bool((v * weight).requires_grad)
    obs = {"warnings": texts, "output_of_volatile_input_requires_grad": out_requires_grad}
    warned = any("volatile was removed" in text for text in texts)
    return Finding(
        _status(warned and out_requires_grad),
        (f"Variable(volatile=True) warned {texts[0]!r}" if texts else "Variable(volatile=True) did not warn")
        + f"; an op on it still built a graph (requires_grad={out_requires_grad})",
        obs,
    )


@probe("backward-twice-without-retain-graph", "PIT205", "backward twice without retain_graph")
def backward_twice(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    x = torch.randn(4, 4, device=ctx.device, requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward()
    try:
        loss.backward()
    except RuntimeError as exc:
        text = error_text(exc)
        return Finding(CONFIRMED, f"a second backward() raised {text[:110]}...",
                       {"raised": True, "error": text})
    return Finding(NOT_CONFIRMED, "a second backward() through the same graph raised no error",
                   {"raised": False})


def _cuda_allocated_over_iterations(ctx: ProbeContext, retain_graph: bool, iterations: int) -> list[float]:
    torch = ctx.torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(1024, 4096), torch.nn.ReLU(),
                                torch.nn.Linear(4096, 1024)).to(ctx.device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    allocated = []
    for _ in range(iterations):
        loss = model(torch.randn(512, 1024, device=ctx.device)).pow(2).mean()
        opt.zero_grad()
        loss.backward(retain_graph=retain_graph)
        opt.step()
        torch.cuda.synchronize()
        allocated.append(round(torch.cuda.memory_allocated() / MIB, 1))
    return allocated


@probe("retain-graph-without-reuse", "PIT206", "retain_graph=True with no second backward", needs_cuda=True)
def retain_graph_without_reuse(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    if ctx.is_cuda:
        plain = _cuda_allocated_over_iterations(ctx, retain_graph=False, iterations=10)
        retained = _cuda_allocated_over_iterations(ctx, retain_graph=True, iterations=10)
        obs = {"allocated_MiB_per_iteration_plain": plain,
               "allocated_MiB_per_iteration_retain_graph": retained,
               "model": "Linear(1024, 4096) + ReLU + Linear(4096, 1024), batch 512, SGD"}
        return Finding(
            _status(retained[-1] > plain[-1]),
            f"retain_graph=True kept {retained[-1]:.0f} MiB allocated after each step vs "
            f"{plain[-1]:.0f} MiB without it (iteration 1: {retained[0]:.0f} vs {plain[0]:.0f} MiB)",
            obs,
        )
    x = torch.randn(64, 32, device=ctx.device, requires_grad=True)
    loss = (x.exp() * 2).sum()
    loss.backward(retain_graph=True)
    try:
        loss.backward()
        second = "ok"
    except RuntimeError as exc:
        second = error_text(exc)
    obs = {"second_backward_after_retain_graph": second}
    return Finding(
        SKIPPED,
        "memory figures need CUDA (skipped); measured instead: after backward(retain_graph=True) "
        f"a second backward {'worked' if second == 'ok' else 'failed'}, so the graph's buffers were kept alive",
        obs,
    )


@probe("missing-zero-grad", "PIT207", "no zero_grad between steps")
def missing_zero_grad(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    w = torch.ones(3, device=ctx.device, requires_grad=True)
    (w * 2).sum().backward()
    single = w.grad.clone()
    w.grad = None
    for _ in range(3):
        (w * 2).sum().backward()
    factor = (w.grad / single).mean().item()
    obs = {"grad_after_one_backward": single.tolist(), "grad_after_three_backward": w.grad.tolist()}
    return Finding(
        _status(abs(factor - 3.0) < 1e-6),
        f"without zero_grad the gradient after 3 backward passes was {factor:g}x the gradient of one",
        obs,
    )


@probe("zero-grad-between-backward-and-step", "PIT208", "zero_grad between backward and step")
def zero_grad_between_backward_and_step(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    model = torch.nn.Linear(4, 1).to(ctx.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    before = model.weight.detach().clone()
    model(torch.randn(8, 4, device=ctx.device)).pow(2).mean().backward()
    grad_norm = model.weight.grad.norm().item()
    opt.zero_grad()
    opt.step()
    unchanged = bool(torch.equal(before, model.weight.detach()))
    obs = {"grad_norm_before_zero_grad": round(grad_norm, 6), "weight_unchanged_after_step": unchanged}
    return Finding(
        _status(unchanged and grad_norm > 0),
        f"with zero_grad() between backward() and step() the weight did not change "
        f"(unchanged={unchanged}) although backward had produced a gradient of norm {grad_norm:.4f}",
        obs,
    )
