"""Does a tensor require grad? Evidence from the file: computed by a trainable module outside
``torch.no_grad()``, or created with ``requires_grad=True``. Stops at ``.detach()``, ``.data``,
``no_grad``/``inference_mode`` (blocks and decorators) and modules frozen in the file
(``requires_grad_(False)``, ``p.requires_grad = False`` over ``X.parameters()``, ``freeze(X)``).
"""

from __future__ import annotations

import ast

from .callsites import call_site_arguments, through_parameter
from .semantic import SemanticModel

MAX_DEPTH = 10

# Ops whose result never requires grad (integer results, Python values, detached copies).
_STOP_METHODS = {
    "detach", "detach_", "item", "numpy", "tolist", "argmax", "argmin", "argsort", "long", "int", "bool",
    "byte", "short", "char", "size", "dim", "numel", "nonzero", "eq", "ne", "lt", "gt", "le", "ge",
    "sign", "round", "floor", "ceil", "requires_grad_",
}
_STOP_FUNCS = {
    "torch.argmax", "torch.argmin", "torch.argsort", "torch.zeros_like", "torch.ones_like", "torch.empty_like",
    "torch.randn_like", "torch.rand_like", "torch.full_like", "torch.eq", "torch.sign", "torch.round", "torch.floor",
    "torch.ceil", "torch.nn.functional.one_hot", "torch.tensor", "torch.as_tensor", "torch.from_numpy",
}
# torch.nn layers with parameters: an instance's output requires grad unless frozen.
_PARAM_LAYERS = {
    "Linear", "LazyLinear", "Bilinear", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d",
    "ConvTranspose3d", "Embedding", "EmbeddingBag", "LSTM", "GRU", "RNN", "LSTMCell", "GRUCell", "RNNCell",
    "MultiheadAttention", "Transformer", "TransformerEncoder", "TransformerDecoder", "TransformerEncoderLayer",
    "TransformerDecoderLayer", "PReLU",
}
_MODEL_FACTORIES_PREFIXES = ("torchvision.models.", "timm.create_model", "timm.models.")


def _frozen(model: SemanticModel) -> tuple[set[int], set[str]]:
    """Ids of module constructions (and texts of module expressions) frozen in this file."""
    model.read_whole()  # a freeze anywhere in the file counts
    cached = model.file_memo.get("frozen")
    if cached is not None:
        return cached
    ids: set[int] = set()
    texts: set[str] = set()

    def mark(expr: ast.AST) -> None:
        while isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr in ("eval", "to", "cuda", "cpu", "train"):
            expr = expr.func.value
        for v in model.values(expr, module_identity=True):
            ids.add(id(v.node))
        if model.source is not None:
            texts.add(model.source.segment(expr))

    for node in model.nodes_of(ast.Call, ast.For, ast.AsyncFor, ast.ListComp, ast.GeneratorExp):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
            arg = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "requires_grad"), None)
            if isinstance(arg, ast.Constant) and arg.value is False:
                mark(node.func.value)
        elif isinstance(node, ast.Call):
            fname = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id if isinstance(node.func, ast.Name) else ""
            low = fname.lower()
            if ("freeze" in low and "unfreeze" not in low) or low in ("set_requires_grad", "requires_grad"):
                for a in node.args:
                    mark(a)
        elif isinstance(node, (ast.For, ast.AsyncFor)) and _body_freezes(node.body):
            for sub in ast.walk(node.iter):
                if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("parameters", "named_parameters"):
                    mark(sub.func.value)
        elif isinstance(node, (ast.ListComp, ast.GeneratorExp)) and _body_freezes([node.elt]):
            for gen in node.generators:
                for sub in ast.walk(gen.iter):
                    if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr in ("parameters", "named_parameters"):
                        mark(sub.func.value)
    model.file_memo["frozen"] = (ids, texts)
    return ids, texts


def _body_freezes(body: list[ast.AST]) -> bool:
    for stmt in body:
        for n in ast.walk(stmt):
            if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in n.targets):
                if isinstance(n.value, ast.Constant) and n.value.value is False:
                    return True
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "requires_grad_":
                if n.args and isinstance(n.args[0], ast.Constant) and n.args[0].value is False:
                    return True
    return False


def trainable_module_call(model: SemanticModel, call: ast.Call) -> str | None:
    """For ``net(x)``: a description of the trainable module when ``net`` provably is one (a
    local nn.Module class, a torch.nn layer with parameters, an nn.Sequential of them, a
    torchvision/timm model, ``copy.deepcopy`` of one) and the file does not freeze it."""
    return trainable_module(model, call.func, call)


def trainable_module(model: SemanticModel, func: ast.expr, call: ast.AST, _depth: int = 0) -> str | None:
    if model._is_self(func):
        cls = model.enclosing_class(call)
        return "self" if cls is not None and model.is_nn_module(cls) else None
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return None
    if isinstance(func, ast.Attribute) and model.qualified_name(func) is not None:
        return None  # torch.sigmoid, np.x ...: not a module instance
    vals = model.values(func, module_identity=True)
    if not vals:
        return None
    ids, texts = _frozen(model)
    text = model.source.segment(func) if model.source is not None else None
    if text in texts:
        return None
    if len(vals) == 1 and isinstance(vals[0].node, ast.arg) and _depth < 2:
        # def optimize(policy_net, target_net, ...): what every call site in the file passes
        sites = call_site_arguments(model, vals[0].node)
        if not sites or id(vals[0].node) in ids:
            return None
        for _, arg in sites:
            if not isinstance(arg, (ast.Name, ast.Attribute, ast.Call)) or trainable_module(model, arg, arg, _depth + 1) is None:
                return None
        return text
    for v in vals:
        if v.model is not model or id(v.node) in ids or not _is_trainable_ctor(model, v.node, 0):
            return None
    return text


def _is_trainable_ctor(model: SemanticModel, node: ast.AST, depth: int) -> bool:
    if not isinstance(node, ast.Call) or depth > 4:
        return False
    name = model.call_name(node)
    if name is not None:
        if name.startswith("torch.nn.") and name[9:] in _PARAM_LAYERS:
            return True
        if name == "torch.nn.Sequential":
            return any(_is_trainable_ctor(model, a, depth + 1) for a in node.args)
        if name.startswith(_MODEL_FACTORIES_PREFIXES):
            return True
        if name in ("copy.deepcopy",) and node.args:
            inner = model.values(node.args[0], module_identity=True)
            ids, _ = _frozen(model)
            return bool(inner) and all(id(v.node) not in ids and _is_trainable_ctor(model, v.node, depth + 1) for v in inner)
        return False
    cls = model.local_class_of(node.func)
    return cls is not None and model.is_nn_module(cls)


def grad_evidence(model: SemanticModel, expr: ast.AST, depth: int = 0) -> tuple[ast.AST, str] | None:
    """``(node, message)`` proving ``expr`` requires grad, or None."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(expr, (ast.Name,)) or (isinstance(expr, ast.Attribute) and model._is_self(expr.value)):
        for v in model.values(expr):
            if v.node is expr or v.model is not model:
                continue
            if isinstance(v.node, ast.arg) and depth < 4:
                site = through_parameter(model, v.node, lambda a: grad_evidence(model, a, depth + 4))
                if site is not None:
                    return site[2]  # type: ignore[return-value]
                continue
            found = grad_evidence(model, v.node, depth + 1) if not isinstance(v.node, ast.alias) else None
            if found is not None:
                return found
        return None
    if isinstance(expr, ast.Attribute):
        if expr.attr in ("data", "grad", "shape"):
            return None
        if expr.attr in ("T", "mT", "real", "values"):
            return grad_evidence(model, expr.value, depth + 1)
        return None
    if isinstance(expr, ast.Subscript):
        return grad_evidence(model, expr.value, depth + 1)
    if isinstance(expr, ast.BinOp):
        return grad_evidence(model, expr.left, depth + 1) or grad_evidence(model, expr.right, depth + 1)
    if isinstance(expr, ast.UnaryOp):
        return grad_evidence(model, expr.operand, depth + 1)
    if isinstance(expr, (ast.List, ast.Tuple)):
        for e in expr.elts:
            found = grad_evidence(model, e, depth + 1)
            if found:
                return found
        return None
    if isinstance(expr, ast.IfExp):
        return grad_evidence(model, expr.body, depth + 1) or grad_evidence(model, expr.orelse, depth + 1)
    if not isinstance(expr, ast.Call):
        return None
    if model.under_no_grad(expr):
        return None
    if model.call_name(expr) in ("torch.nn.Parameter", "torch.nn.parameter.Parameter"):
        rg = next((k.value for k in expr.keywords if k.arg == "requires_grad"), expr.args[1] if len(expr.args) > 1 else None)
        if isinstance(rg, ast.Constant) and rg.value is False:
            return None
        return expr, "an nn.Parameter"
    if any(k.arg == "requires_grad" and isinstance(k.value, ast.Constant) and k.value.value is True for k in expr.keywords):
        name = model.call_name(expr)
        if name and name.startswith("torch."):
            return expr, f"created with requires_grad=True by {name}"
    name = model.call_name(expr)
    func = expr.func
    if name is not None:
        if name in _STOP_FUNCS or not name.startswith("torch."):
            return None
        for a in expr.args:
            found = grad_evidence(model, a, depth + 1)
            if found:
                return found
        return None
    if isinstance(func, ast.Attribute) and not model._is_self(func.value):
        if func.attr in _STOP_METHODS:
            return None
        if func.attr == "requires_grad_":
            return None
        mod = trainable_module_call(model, expr) if isinstance(func.value, (ast.Name, ast.Attribute)) else None
        if mod is not None:
            return expr, f"computed with gradients by {mod}, outside torch.no_grad()"
        if func.attr == "forward" and isinstance(func.value, (ast.Name, ast.Attribute)):
            inner_mod = trainable_module(model, func.value, expr)  # net.forward(x)
            if inner_mod is not None:
                return expr, f"computed with gradients by {inner_mod}, outside torch.no_grad()"
            return None
        return grad_evidence(model, func.value, depth + 1)  # a tensor method: x.softmax(-1), x.max(1)
    returns = model.local_call_returns(expr)
    if returns is not None:
        for r in returns:
            found = grad_evidence(model, r, depth + 1)
            if found:
                return found
        return None
    mod = trainable_module_call(model, expr)
    if mod is not None:
        return expr, f"computed with gradients by {mod}, outside torch.no_grad()"
    return None
