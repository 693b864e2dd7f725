"""The related locations that several rules attach to their findings: where a softmax, sigmoid
or raw score that a loss receives was produced, and the call site that passed it in."""

from __future__ import annotations

import ast

from ..core.diagnostics import Related
from ..facts.patterns import (
    LOG_SIGMOID,
    LOG_SOFTMAX,
    RAW_SCORES,
    SIGMOID,
    SOFTMAX,
    Evidence,
    activation_evidence,
    probabilities_via_parameter,
)
from ..semantic.model import SemanticModel
from .rule import Context

ACTIVATION_NAMES = {SOFTMAX: "softmax", SIGMOID: "sigmoid", LOG_SOFTMAX: "log_softmax", LOG_SIGMOID: "logsigmoid"}

# What a probabilities_via_parameter answer holds: the call site's model, the call, the argument, the evidence.
Via = tuple[SemanticModel, ast.Call, ast.expr, list[Evidence]]


def activation_related(ctx: Context, e: Evidence) -> Related:
    """Where the activation (or the raw-score layer) of ``e`` is, in this file or another module."""
    what = ACTIVATION_NAMES.get(e.kind, e.kind)
    node, where = e.value.node, e.value.model
    if e.kind == RAW_SCORES:
        message = "the model's forward returns this layer's raw output"
    elif e.via_model is not None and where is ctx.model:
        message = f"the model's forward ends in {what} here"
    else:
        message = f"{what} applied here"
    if where is not ctx.model:
        return Related(where.source.node_range(node), message, path=where.path)
    return Related(ctx.range(node), message)


def passed_here(ctx: Context, where: SemanticModel, arg: ast.expr, message: str) -> Related:
    """The related location of an argument at a call site, in this file or another module."""
    if where is ctx.model:
        return ctx.related(arg, message)
    return Related(where.source.node_range(arg), message, path=where.path)


def input_activation(ctx: Context, inp: ast.expr) -> tuple[list[Evidence] | None, Via | None]:
    """The activation evidence of a loss's input: of ``inp`` itself, or else, when ``inp`` is a
    parameter, of what a call site passes for it (PIT102, PIT104), with that site."""
    evidence = activation_evidence(ctx.model, inp)
    via = None
    if evidence is None and (via := probabilities_via_parameter(ctx.model, inp)) is not None:
        evidence = via[3]
    return evidence, via


def input_related(ctx: Context, inp: ast.expr, evidence: list[Evidence], via: Via | None) -> list[Related]:
    """The related locations of ``input_activation``'s answer: the call site first, then each
    activation."""
    related = [activation_related(ctx, e) for e in evidence]
    if via is not None:
        related.insert(0, passed_here(ctx, via[0], via[2], f"passed as `{ctx.text(inp)}` here"))
    return related
