"""Probes for the loss-function rules (PIT101-PIT105)."""

from __future__ import annotations

import warnings
from typing import Any

from torchpit.probe.registry import Finding, ProbeContext, error_text, probe
from torchpit.probe.result import CONFIRMED, NOT_CONFIRMED


def _status(ok: bool) -> str:
    return CONFIRMED if ok else NOT_CONFIRMED


def _perfect_logits(ctx: ProbeContext, n: int = 4, classes: int = 10) -> tuple[Any, Any]:
    """Logits that put 100 on the right class of each row, and those classes."""
    torch = ctx.torch
    logits = torch.zeros(n, classes, device=ctx.device)
    logits[torch.arange(n), torch.arange(n)] = 100.0
    return logits, torch.arange(n, device=ctx.device)


@probe("softmax-before-cross-entropy", "PIT101", "softmax applied before cross_entropy")
def softmax_before_cross_entropy(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    logits = (torch.randn(256, 10, device=ctx.device) * 5).requires_grad_()
    target = torch.randint(0, 10, (256,), device=ctx.device)
    (grad_ok,) = torch.autograd.grad(F.cross_entropy(logits, target), logits)
    (grad_bad,) = torch.autograd.grad(F.cross_entropy(F.softmax(logits, 1), target), logits)
    ratio = (grad_bad.norm() / grad_ok.norm()).item()
    perfect, perfect_target = _perfect_logits(ctx)
    loss_bad = F.cross_entropy(F.softmax(perfect, 1), perfect_target).item()
    loss_ok = F.cross_entropy(perfect, perfect_target).item()
    obs = {
        "grad_norm_ratio_softmax_over_correct": round(ratio, 4),
        "perfect_prediction_loss_with_softmax": round(loss_bad, 4),
        "perfect_prediction_loss_correct": round(loss_ok, 6),
    }
    return Finding(
        _status(ratio < 0.5 and loss_bad > 1.0 and loss_ok < 1e-3),
        f"cross_entropy on softmax outputs gave a gradient {ratio:.1%} the size of the correct one, "
        f"and a perfect prediction still had loss {loss_bad:.4f} (correct: {loss_ok:.4f})",
        obs,
    )


@probe("nll-loss-without-log-softmax", "PIT102", "nll_loss on probabilities instead of log-probabilities")
def nll_loss_without_log_softmax(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    logits = torch.randn(64, 10, device=ctx.device) * 3
    target = torch.randint(0, 10, (64,), device=ctx.device)
    on_probs = F.nll_loss(F.softmax(logits, 1), target).item()
    on_log_probs = F.nll_loss(F.log_softmax(logits, 1), target).item()
    cross_entropy = F.cross_entropy(logits, target).item()
    perfect, perfect_target = _perfect_logits(ctx)
    perfect_on_probs = F.nll_loss(F.softmax(perfect, 1), perfect_target).item()
    obs = {
        "nll_loss_on_softmax": round(on_probs, 4),
        "nll_loss_on_log_softmax": round(on_log_probs, 4),
        "cross_entropy": round(cross_entropy, 4),
        "perfect_prediction_nll_loss_on_softmax": round(perfect_on_probs, 4),
    }
    return Finding(
        _status(on_probs < 0 and abs(on_log_probs - cross_entropy) < 1e-4),
        f"nll_loss on softmax probabilities gave {on_probs:.4f} (negative: not a log-likelihood) "
        f"where log_softmax gave {on_log_probs:.4f} (= cross_entropy)",
        obs,
    )


@probe("loss-target-requires-grad", "PIT103", "loss target that requires grad")
def loss_target_requires_grad(ctx: ProbeContext) -> Finding:
    torch, nn = ctx.torch, ctx.torch.nn
    losses = {
        "MSELoss": nn.MSELoss(),
        "L1Loss": nn.L1Loss(),
        "SmoothL1Loss": nn.SmoothL1Loss(),
        "BCELoss": nn.BCELoss(),
        "KLDivLoss": nn.KLDivLoss(reduction="batchmean"),
    }
    obs: dict[str, dict[str, object]] = {}
    for name, loss_fn in losses.items():
        prediction = torch.randn(8, 3, device=ctx.device, requires_grad=True)
        target = torch.randn(8, 3, device=ctx.device, requires_grad=True)
        if name == "BCELoss":
            prediction_in, target_in = prediction.sigmoid(), target.sigmoid()
        else:
            prediction_in, target_in = prediction, target
        try:
            loss_fn(prediction_in, target_in).backward()
            obs[name] = {"raised": False, "target_got_grad": target.grad is not None}
        except Exception as exc:  # noqa: BLE001 - the error is the observation
            obs[name] = {"raised": True, "error": error_text(exc)}
    silent = [name for name, o in obs.items() if not o["raised"] and o["target_got_grad"]]
    return Finding(
        _status(len(silent) == len(losses)),
        f"{len(silent)} of {len(losses)} losses ({', '.join(silent)}) raised no error "
        "and sent a gradient into a target that requires grad",
        obs,
    )


@probe("kl-div-input-not-log-probabilities", "PIT104", "kl_div given probabilities as input")
def kl_div_input_not_log_probabilities(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    logits = torch.randn(16, 10, device=ctx.device)
    p, log_p = F.softmax(logits, 1), F.log_softmax(logits, 1)
    self_correct = F.kl_div(log_p, p, reduction="batchmean").item()
    self_probs = F.kl_div(p, p, reduction="batchmean").item()
    obs = {
        "kl_of_distribution_from_itself_log_prob_input": round(self_correct, 6),
        "kl_of_distribution_from_itself_prob_input": round(self_probs, 4),
    }
    return Finding(
        _status(abs(self_correct) < 1e-5 and abs(self_probs) > 1e-3),
        f"kl_div of a distribution from itself came out at {self_probs:.4f} with probabilities "
        f"as input instead of {abs(self_correct):.4f} with log-probabilities",
        obs,
    )


@probe("kl-div-reduction-mean", "PIT105", "kl_div with reduction='mean'")
def kl_div_reduction_mean(ctx: ProbeContext) -> Finding:
    torch, F = ctx.torch, ctx.torch.nn.functional
    classes = 10
    log_p = F.log_softmax(torch.randn(16, classes, device=ctx.device), 1)
    q = F.softmax(torch.randn(16, classes, device=ctx.device), 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        mean = F.kl_div(log_p, q, reduction="mean").item()
    batchmean = F.kl_div(log_p, q, reduction="batchmean").item()
    texts = [str(w.message)[:300] for w in caught]
    obs = {"warnings": texts, "mean": round(mean, 6), "batchmean": round(batchmean, 6),
           "classes": classes}
    warned = any("batchmean" in text for text in texts)
    warning_part = f"warned {texts[0].split('.')[0] + '.'!r}" if texts else "emitted no warning"
    return Finding(
        _status(warned and abs(mean * classes - batchmean) < 1e-4),
        f"reduction='mean' {warning_part} and gave {mean:.4f}, "
        f"1/{classes} of the true KL (batchmean) {batchmean:.4f}",
        obs,
    )
