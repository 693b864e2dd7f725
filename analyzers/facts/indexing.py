"""Where a tensor is used as an index: index_select/gather/scatter/index_add/take (function
and method forms), ``nn.Embedding`` / ``F.embedding`` lookups, and subscripts of a tensor."""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..catalogue import torch_api
from .patterns import call_arg
from ..semantic.model import SemanticModel
from .shapes import TensorFact, int_value, tensor_fact


@dataclass(frozen=True)
class IndexUse:
    node: ast.AST  # the call or subscript
    op: str  # "index_select", "gather", "embedding", "subscript", ...
    qualname: str  # for probes: torch.index_select / torch.Tensor.gather / torch.nn.Embedding / ...
    index: ast.expr
    receiver: ast.expr | None = None  # the indexed tensor (the weight, for F.embedding)
    dim: int | None = None  # the dimension indexed, when known
    num_embeddings: int | None = None  # for nn.Embedding
    ctor: ast.Call | None = None  # the nn.Embedding construction


def index_use(model: SemanticModel, node: ast.AST) -> IndexUse | None:
    """Memoised per node: PIT401 and PIT402 both ask."""
    return model.remember(model.memo, ("index_use", node), lambda: _index_use(model, node))


def _index_use(model: SemanticModel, node: ast.AST) -> IndexUse | None:
    if isinstance(node, ast.Subscript):
        return _subscript_use(model, node)
    if not isinstance(node, ast.Call):
        return None
    if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
        return None
    name = model.call_name(node)
    if name is not None:
        if name in torch_api.EMBEDDING_FUNCS:
            idx = call_arg(node, 0, "input")
            weight = call_arg(node, 1, "weight")
            return IndexUse(node, "embedding", name, idx, receiver=weight, dim=0) if idx is not None else None
        if (op := torch_api.top_level_torch(name)) is not None:
            spec = torch_api.INDEX_OPS.get(op)
            if spec is None or spec[0] is None:
                return None
            idx = call_arg(node, spec[0], spec[2])
            recv = call_arg(node, 0, "input")
            dim = int_value(model, call_arg(node, 1, "dim")) if spec[3] is not None else None
            return IndexUse(node, op, name, idx, receiver=recv, dim=dim) if idx is not None else None
        return None
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in torch_api.INDEX_OPS and model.qualified_name(func.value) is None and not model._is_self(func.value):
        spec = torch_api.INDEX_OPS[func.attr]
        idx = call_arg(node, spec[1], spec[2])
        dim = int_value(model, call_arg(node, spec[3], "dim")) if spec[3] is not None else None
        return IndexUse(node, func.attr, torch_api.tensor_method(func.attr), idx, receiver=func.value, dim=dim) if idx is not None else None
    if isinstance(func, (ast.Name, ast.Attribute, ast.Call)) and node.args and _file_builds_embeddings(model):
        ctors = [func] if isinstance(func, ast.Call) else [v.node for v in model.values(func, module_identity=True)]
        if ctors and all(isinstance(c, ast.Call) and model.call_name(c) in torch_api.EMBEDDING_MODULES for c in ctors):
            nums = {int_value(model, call_arg(c, 0, "num_embeddings")) for c in ctors}  # type: ignore[arg-type]
            n = nums.pop() if len(nums) == 1 else None
            return IndexUse(node, "embedding", torch_api.EMBEDDING, node.args[0], dim=0, num_embeddings=n, ctor=ctors[0] if len(ctors) == 1 else None)  # type: ignore[arg-type]
    return None


def _file_builds_embeddings(model: SemanticModel) -> bool:
    """An ``nn.Embedding`` lookup needs the module built in this file: skip the value chase otherwise."""
    return model.text_contains("Embedding")


def _subscript_use(model: SemanticModel, node: ast.Subscript) -> IndexUse | None:
    if not isinstance(node.ctx, (ast.Load, ast.Store)):
        return None
    recv = tensor_fact(model, node.value)
    if recv is None or recv.shape is None:
        return None  # not known to be a tensor
    sl = node.slice
    if isinstance(sl, (ast.Slice, ast.Tuple)) or (isinstance(sl, ast.Constant) and sl.value in (None, Ellipsis)):
        return None
    return IndexUse(node, "subscript", torch_api.TENSOR_GETITEM, sl, receiver=node.value, dim=0)


def receiver_size(model: SemanticModel, use: IndexUse) -> tuple[int, TensorFact | None] | None:
    """The size of the indexed dimension, and the receiver's fact."""
    if use.op == "embedding" and use.num_embeddings is not None:
        return use.num_embeddings, None
    if use.receiver is None or use.dim is None:
        return None
    fact = tensor_fact(model, use.receiver)
    if fact is None or fact.shape is None:
        return None
    d = use.dim + len(fact.shape) if use.dim < 0 else use.dim
    if not 0 <= d < len(fact.shape) or fact.shape[d] is None:
        return None
    return fact.shape[d], fact  # type: ignore[return-value]
