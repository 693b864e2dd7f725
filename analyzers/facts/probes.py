"""Call-site probe specifications: how to rebuild a flagged call on synthetic tensors.

Rules attach one to a diagnostic (``probe=``); the probe (``torchpit.probe``) runs it. The
format::

    {"rule": "PIT403", "op": "torch.nn.functional.interpolate",
     "args": [{"tensor": {"shape": [3, 64, 64], "dtype": "float32"}}],
     "kwargs": {"size": {"value": [32, 32]}, "mode": {"value": "bilinear"}}}

An argument is ``{"tensor": {"shape": [...], "dtype": "..."}}`` (optionally with ``"values"``,
the literal integer values, or ``"low"``/``"high"``, bounds of integer values, high inclusive),
``{"value": <python literal>}``, or ``{"unknown": "<why>"}``. When ``op`` is a module class
(``torch.nn.Embedding``), the spec also has ``"init": {"args": [...], "kwargs": {...}}``, the
constructor's arguments in the same form, and ``args``/``kwargs`` are those of the call. A shape holds only integers
unless the argument is unknown.
"""

from __future__ import annotations

import ast
from typing import Any

from ..semantic.model import SemanticModel
from .shapes import TensorFact, int_value, tensor_fact


def unknown(why: str) -> dict[str, Any]:
    return {"unknown": why}


def tensor_spec(fact: TensorFact | None, *, default_dtype: str | None = None) -> dict[str, Any]:
    if fact is None or fact.shape is None:
        return unknown("shape not known statically")
    if any(d is None for d in fact.shape):
        return unknown(f"shape {fact.shape_text()} has sizes not known statically")
    dtype = fact.dtype or default_dtype
    if dtype is None:
        return unknown("dtype not known statically")
    spec: dict[str, Any] = {"shape": list(fact.shape), "dtype": dtype}
    if fact.values is not None:
        spec["values"] = list(fact.values)
    elif fact.vmin is not None and fact.vmax is not None:
        spec["low"], spec["high"] = fact.vmin, fact.vmax
    return {"tensor": spec}


def literal_spec(expr: ast.AST | None) -> dict[str, Any]:
    if expr is None:
        return unknown("argument missing")
    try:
        return {"value": _jsonable(ast.literal_eval(expr))}
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return unknown("not a literal")


def arg_spec(model: SemanticModel, expr: ast.AST | None, *, default_dtype: str | None = None) -> dict[str, Any]:
    """A tensor when the file proves its shape and dtype, a literal when it is one, else unknown."""
    if expr is None:
        return unknown("argument missing")
    lit = literal_spec(expr)
    if "value" in lit:
        return lit
    n = int_value(model, expr)
    if n is not None:
        return {"value": n}
    return tensor_spec(tensor_fact(model, expr), default_dtype=default_dtype)


def call_spec(rule: str, op: str, args: list[dict[str, Any]], kwargs: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"rule": rule, "op": op, "args": args, "kwargs": kwargs or {}}


def call_kwargs(model: SemanticModel, call: ast.Call, skip: tuple[str, ...] = ()) -> dict[str, dict[str, Any]]:
    return {k.arg: arg_spec(model, k.value) for k in call.keywords if k.arg is not None and k.arg not in skip}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    raise ValueError(f"not JSON: {type(v)}")
