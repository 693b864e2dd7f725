"""Recognisers shared by several rules: softmax outputs, loss calls, call arguments.

Each takes the semantic model and an expression and answers with evidence (the node that
proves it) or None. They are pure functions over the model; rules compose them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from . import torch_api
from .semantic import SemanticModel, Value

SOFTMAX = "softmax"
LOG_SOFTMAX = "log_softmax"


@dataclass(frozen=True)
class Evidence:
    kind: str  # SOFTMAX | LOG_SOFTMAX | ...
    value: Value  # the expression that proves it (a call, a module construction...)
    via_model: Value | None = None  # the model call when the evidence is in a forward()
    # The expression the operation was applied to (the softmax's input), when it is a call.
    operand: ast.expr | None = None


def call_arg(call: ast.Call, index: int, keyword: str) -> ast.expr | None:
    """The argument at ``index`` or passed as ``keyword=``."""
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    return None


def has_keyword(call: ast.Call, keyword: str) -> bool:
    return any(kw.arg == keyword for kw in call.keywords)


def softmax_kind_of_call(model: SemanticModel, node: ast.AST) -> tuple[str, ast.expr | None] | None:
    """If ``node`` is a softmax / log_softmax call (function, tensor method, nn.Softmax module
    instance call), its kind and operand."""
    if not isinstance(node, ast.Call):
        return None
    name = model.call_name(node)
    if name in torch_api.SOFTMAX_FUNCS:
        return SOFTMAX, call_arg(node, 0, "input")
    if name in torch_api.LOG_SOFTMAX_FUNCS:
        return LOG_SOFTMAX, call_arg(node, 0, "input")
    func = node.func
    if name is None and isinstance(func, ast.Attribute) and func.attr in ("softmax", "log_softmax"):
        # x.softmax(dim=1): a tensor method, unless the receiver is a known non-tensor.
        if model.qualified_name(func.value) is None:
            return (SOFTMAX if func.attr == "softmax" else LOG_SOFTMAX), func.value
    # self.softmax(x) / sm(x) where the callee is an nn.Softmax() instance
    if name is None:
        kinds = set()
        for v in model.values(func):
            ctor = v.model.call_name(v.node) if isinstance(v.node, ast.Call) else None
            if ctor in torch_api.SOFTMAX_MODULES:
                kinds.add(SOFTMAX)
            elif ctor in torch_api.LOG_SOFTMAX_MODULES:
                kinds.add(LOG_SOFTMAX)
            else:
                kinds.add(None)
        if len(kinds) == 1 and None not in kinds:
            return kinds.pop(), node.args[0] if node.args else None
    return None


def softmax_module_kind(model: SemanticModel, node: ast.AST) -> str | None:
    """``nn.Softmax(dim=1)`` / ``nn.LogSoftmax(dim=1)`` constructions (a Sequential's last layer)."""
    if isinstance(node, ast.Call):
        name = model.call_name(node)
        if name in torch_api.SOFTMAX_MODULES:
            return SOFTMAX
        if name in torch_api.LOG_SOFTMAX_MODULES:
            return LOG_SOFTMAX
    return None


def softmax_evidence(model: SemanticModel, expr: ast.AST) -> list[Evidence] | None:
    """Evidence that every value ``expr`` may hold is a softmax or log_softmax output.

    Sees through variables, ``self.x``, local function returns, and model calls whose forward
    (or whose ``nn.Sequential`` last layer) ends in a softmax. None unless *every* value is.
    """
    out: list[Evidence] = []
    for v in model.values(expr):
        ev = _softmax_of_value(v)
        if ev is None:
            return None
        out.extend(ev)
    return out or None


def _softmax_of_value(v: Value) -> list[Evidence] | None:
    direct = softmax_kind_of_call(v.model, v.node)
    if direct is not None:
        return [Evidence(direct[0], v, operand=direct[1])]
    if isinstance(v.node, ast.Call):
        outputs = v.model.module_call_outputs(v.node)
        if outputs:
            found: list[Evidence] = []
            for o in outputs:
                kind = softmax_module_kind(o.model, o.node)
                if kind is not None:
                    found.append(Evidence(kind, o, via_model=v))
                    continue
                inner = softmax_kind_of_call(o.model, o.node)
                if inner is None:
                    return None
                found.append(Evidence(inner[0], o, via_model=v, operand=inner[1]))
            return found
    return None


def instance_types(model: SemanticModel, expr: ast.AST) -> set[str]:
    """Qualified class names of the object ``expr`` refers to (``criterion`` -> CrossEntropyLoss).

    Local evidence first (assignments, ``self.x``); jedi only when the local chain ends in
    something it cannot see through (an import from the user's other modules, a parameter).
    Empty when unknown.
    """
    names: set[str] = set()
    ask_jedi = False
    for v in model.values(expr, module_identity=True):
        node = v.node
        if isinstance(node, ast.Call):
            q = v.model.call_name(node)
            if q is not None and q.startswith("torch."):
                names.add(q)
                continue
            if q is not None and not q.startswith(("torch", "builtins")):
                ask_jedi = True  # built by a function imported from another module
                continue
        elif isinstance(node, ast.alias):
            ask_jedi = True  # an object imported from the user's other modules
            continue
        return set()  # a chain we cannot follow and jedi would not either: claim nothing
    if ask_jedi:
        inferred = model.infer_types(expr)
        if not inferred:
            return set()
        names.update(inferred)
    return names


def is_instance_of(model: SemanticModel, expr: ast.AST, qualnames: set[str]) -> bool:
    """Every known type of ``expr`` is one of ``qualnames`` (and at least one is known)."""
    types = instance_types(model, expr)
    return bool(types) and types <= qualnames
