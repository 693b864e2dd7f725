"""Probes for the train/eval mode rules (PIT203, PIT204, PIT301-PIT303)."""

from __future__ import annotations

from typing import Any, Callable

from torchpit.probe.registry import Finding, ProbeContext, probe
from torchpit.probe.result import CONFIRMED, NOT_CONFIRMED


def _status(ok: bool) -> str:
    return CONFIRMED if ok else NOT_CONFIRMED


def _zero_fraction(y: Any) -> float:
    return round((y == 0).float().mean().item(), 4)


def _dropout_bn_model(ctx: ProbeContext) -> Any:
    nn = ctx.torch.nn
    return nn.Sequential(nn.BatchNorm1d(8), nn.Dropout(0.5)).to(ctx.device)


def _running_mean_changed(ctx: ProbeContext, bn: Any, x: Any) -> bool:
    before = bn.running_mean.clone()
    with ctx.torch.no_grad():
        bn(x)
    return not bool(ctx.torch.equal(before, bn.running_mean))


@probe("missing-eval-mode", "PIT203", "evaluation without model.eval()")
def missing_eval_mode(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    model = _dropout_bn_model(ctx)  # left in train mode, as the flagged code does
    eval_batch = torch.randn(50000, 8, device=ctx.device) + 5.0
    with torch.no_grad():
        zeroed = _zero_fraction(model(eval_batch))
    stats_changed = _running_mean_changed(ctx, model[0], eval_batch)
    obs = {"dropout_zero_fraction_during_evaluation": zeroed,
           "batchnorm_running_mean_overwritten_by_eval_batch": stats_changed}
    return Finding(
        _status(zeroed > 0.3 and stats_changed),
        f"without model.eval() Dropout zeroed {zeroed:.1%} of activations during evaluation "
        f"and BatchNorm's running mean was updated by the eval batch ({stats_changed})",
        obs,
    )


@probe("missing-train-mode", "PIT204", "training while the model is in eval mode")
def missing_train_mode(ctx: ProbeContext) -> Finding:
    torch = ctx.torch
    model = _dropout_bn_model(ctx).eval()  # left in eval mode after validation
    batch = torch.randn(50000, 8, device=ctx.device) + 5.0
    zeroed = _zero_fraction(model(batch))
    stats_changed = _running_mean_changed(ctx, model[0], batch)
    obs = {"dropout_zero_fraction_during_training_step": zeroed,
           "batchnorm_running_mean_updated": stats_changed}
    return Finding(
        _status(zeroed == 0.0 and not stats_changed),
        f"with the model left in eval mode Dropout zeroed {zeroed:.1%} of activations during a "
        f"training step and BatchNorm's running mean was not updated (updated={stats_changed})",
        obs,
    )


@probe("functional-dropout-without-training", "PIT301", "F.dropout without training=self.training")
def functional_dropout_without_training(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional

    class Model(torch.nn.Module):  # type: ignore[misc, name-defined]
        def forward(self, x: Any) -> Any:
            return F.dropout(x, p=0.5)

    model = Model().to(ctx.device).eval()
    y = model(torch.ones(100000, device=ctx.device))
    zeroed = _zero_fraction(y)
    obs = {"zero_fraction_in_eval_mode": zeroed, "max_value": y.max().item()}
    return Finding(
        _status(zeroed > 0.3),
        f"F.dropout without training= zeroed {zeroed:.1%} of activations in eval mode "
        f"(survivors scaled to {y.max().item():g})",
        obs,
    )


def _frozen_bn_observations(ctx: ProbeContext) -> dict[str, Any]:
    torch = ctx.torch
    bn = torch.nn.BatchNorm1d(4).to(ctx.device)
    for param in bn.parameters():
        param.requires_grad = False
    batch = torch.randn(64, 4, device=ctx.device) + 5.0
    changed_train = _running_mean_changed(ctx, bn, batch)
    bn.eval()
    changed_eval = _running_mean_changed(ctx, bn, batch)
    return {"running_mean_changed_train_mode_no_grad_requires_grad_false": changed_train,
            "running_mean_changed_eval_mode": changed_eval}


def _frozen_bn_finding(ctx: ProbeContext, describe: Callable[[bool, bool], str]) -> Finding:
    """PIT302 and PIT303 observe the same thing: running_mean moves in train mode (under
    no_grad, with requires_grad=False) and not in eval mode."""
    obs = _frozen_bn_observations(ctx)
    changed_train = obs["running_mean_changed_train_mode_no_grad_requires_grad_false"]
    changed_eval = obs["running_mean_changed_eval_mode"]
    return Finding(_status(changed_train and not changed_eval), describe(changed_train, changed_eval), obs)


@probe("batchnorm-frozen-with-requires-grad", "PIT302", "BatchNorm 'frozen' with requires_grad=False")
def batchnorm_frozen_with_requires_grad(ctx: ProbeContext) -> Finding:
    return _frozen_bn_finding(
        ctx,
        lambda train, ev: f"BatchNorm with requires_grad=False still updated running_mean in train mode "
        f"({train}); only eval mode froze it (changed in eval: {ev})",
    )


@probe("forward-in-train-mode-under-no-grad", "PIT303", "forward in train mode under torch.no_grad()")
def forward_in_train_mode_under_no_grad(ctx: ProbeContext) -> Finding:
    return _frozen_bn_finding(
        ctx,
        lambda train, ev: f"under torch.no_grad() a train-mode forward still updated BatchNorm's running_mean "
        f"({train}); in eval mode it did not (changed: {ev})",
    )
