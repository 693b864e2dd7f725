"""Recognisers shared by several rules: softmax outputs, loss calls, call arguments.

Each takes the semantic model and an expression and answers with evidence (the node that
proves it) or None. They are pure functions over the model; rules compose them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..catalogue import torch_api
from ..semantic.model import SemanticModel, Value
from ..syntax.tree import parent

SOFTMAX = "softmax"
LOG_SOFTMAX = "log_softmax"
SIGMOID = "sigmoid"
LOG_SIGMOID = "logsigmoid"
PROBABILITY_KINDS = {SOFTMAX, SIGMOID}


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


_ACTIVATION_FUNCS = (
    (torch_api.SOFTMAX_FUNCS, SOFTMAX),
    (torch_api.LOG_SOFTMAX_FUNCS, LOG_SOFTMAX),
    (torch_api.SIGMOID_FUNCS, SIGMOID),
    (torch_api.LOGSIGMOID_FUNCS, LOG_SIGMOID),
)
_ACTIVATION_MODULES = (
    (torch_api.SOFTMAX_MODULES, SOFTMAX),
    (torch_api.LOG_SOFTMAX_MODULES, LOG_SOFTMAX),
    (torch_api.SIGMOID_MODULES, SIGMOID),
    (torch_api.LOGSIGMOID_MODULES, LOG_SIGMOID),
)
_ACTIVATION_METHODS = {
    **dict.fromkeys(torch_api.SOFTMAX_METHODS, SOFTMAX),
    **dict.fromkeys(torch_api.LOG_SOFTMAX_METHODS, LOG_SOFTMAX),
    **dict.fromkeys(torch_api.SIGMOID_METHODS, SIGMOID),
}


def activation_kind_of_call(model: SemanticModel, node: ast.AST) -> tuple[str, ast.expr | None] | None:
    """If ``node`` is a softmax / log_softmax / sigmoid / logsigmoid call (function, tensor
    method, module instance call), its kind and operand."""
    if not isinstance(node, ast.Call):
        return None
    name = model.call_name(node)
    for names, kind in _ACTIVATION_FUNCS:
        if name in names:
            return kind, call_arg(node, 0, "input")
    func = node.func
    if name is not None:
        return None
    # self.softmax(x) / sm(x) where the callee is an nn.Softmax() instance
    kind = activation_module_instance(model, func)
    if kind is not None:
        return kind, node.args[0] if node.args else None
    if isinstance(func, ast.Attribute) and func.attr in _ACTIVATION_METHODS:
        # x.softmax(dim=1): a tensor method, unless the receiver is a known non-tensor or self.
        if model.qualified_name(func.value) is None and not model._is_self(func.value):
            return _ACTIVATION_METHODS[func.attr], func.value
    return None


def activation_module_instance(model: SemanticModel, func: ast.expr) -> str | None:
    """The kind of activation module that ``func`` (a callee) is an instance of, if all agree."""
    kinds = set()
    for v in model.values(func):
        kinds.add(activation_module_kind(v.model, v.node))
    if len(kinds) == 1 and None not in kinds:
        return kinds.pop()
    return None


def softmax_kind_of_call(model: SemanticModel, node: ast.AST) -> tuple[str, ast.expr | None] | None:
    """If ``node`` is a softmax / log_softmax call (function, tensor method, nn.Softmax module
    instance call), its kind and operand."""
    found = activation_kind_of_call(model, node)
    return found if found is not None and found[0] in (SOFTMAX, LOG_SOFTMAX) else None


def activation_module_kind(model: SemanticModel, node: ast.AST) -> str | None:
    """``nn.Softmax(dim=1)`` / ``nn.LogSoftmax`` / ``nn.Sigmoid()`` constructions."""
    if isinstance(node, ast.Call):
        name = model.call_name(node)
        for names, kind in _ACTIVATION_MODULES:
            if name in names:
                return kind
    return None


def softmax_module_kind(model: SemanticModel, node: ast.AST) -> str | None:
    """``nn.Softmax(dim=1)`` / ``nn.LogSoftmax(dim=1)`` constructions (a Sequential's last layer)."""
    kind = activation_module_kind(model, node)
    return kind if kind in (SOFTMAX, LOG_SOFTMAX) else None


def softmax_evidence(model: SemanticModel, expr: ast.AST) -> list[Evidence] | None:
    """Evidence that every value ``expr`` may hold is a softmax or log_softmax output.

    Sees through variables, ``self.x``, local function returns, and model calls whose forward
    (or whose ``nn.Sequential`` last layer) ends in a softmax. None unless *every* value is.
    """
    found = activation_evidence(model, expr)
    if found is None or any(e.kind not in (SOFTMAX, LOG_SOFTMAX) for e in found):
        return None
    return found


def rearranged_operand(model: SemanticModel, node: ast.AST) -> ast.expr | None:
    """``x.view(-1, C)`` / ``x[:, :-1]`` / ``torch.flatten(x, 1)`` -> ``x`` (same values, new layout)."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        return node.value
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in torch_api.REARRANGE_METHODS and model.qualified_name(func.value) is None and not model._is_self(func.value):
            return func.value
        if model.call_name(node) in torch_api.REARRANGE_FUNCS and node.args:
            return node.args[0]
    return None


# exp(log-probabilities) = probabilities; log(probabilities) = log-probabilities.
_EXP_OF = {LOG_SOFTMAX: SOFTMAX, LOG_SIGMOID: SIGMOID}
_LOG_OF = {SOFTMAX: LOG_SOFTMAX, SIGMOID: LOG_SIGMOID}


def _domain_transform(model: SemanticModel, node: ast.AST) -> tuple[dict[str, str], ast.expr] | None:
    """``torch.exp(x)`` / ``x.exp()`` / ``torch.log(x)`` / ``x.log()``: the kind mapping and ``x``."""
    if not isinstance(node, ast.Call):
        return None
    name = model.call_name(node)
    if name in torch_api.EXP_FUNCS and node.args and not node.keywords:
        return _EXP_OF, node.args[0]
    if name in torch_api.LOG_FUNCS and node.args and not node.keywords:
        return _LOG_OF, node.args[0]
    func = node.func
    if name is None and isinstance(func, ast.Attribute) and func.attr in ("exp", "log") and not node.args and not node.keywords:
        if model.qualified_name(func.value) is None and not model._is_self(func.value):
            return (_EXP_OF if func.attr == "exp" else _LOG_OF), func.value
    return None


def _int_constant(node: ast.AST | None) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub) and isinstance(node.operand, ast.Constant) and type(node.operand.value) is int:
        return -node.operand.value
    return None


def _mean_over(model: SemanticModel, node: ast.AST) -> tuple[ast.expr, int] | None:
    """``torch.mean(x, dim=d)`` / ``x.mean(d)``: ``x`` and the constant ``d``."""
    if not isinstance(node, ast.Call):
        return None
    name = model.call_name(node)
    if name in torch_api.MEAN_FUNCS and node.args:
        operand, dim = node.args[0], call_arg(node, 1, "dim")
    elif name is None and isinstance(node.func, ast.Attribute) and node.func.attr == "mean" and not model._is_self(node.func.value) and model.qualified_name(node.func.value) is None:
        operand, dim = node.func.value, call_arg(node, 0, "dim")
    else:
        return None
    d = _int_constant(dim)
    return (operand, d) if d is not None else None


def _softmax_dim(e: Evidence) -> int | None:
    """The dimension a softmax evidence normalises over, when written as a constant."""
    node, m = e.value.node, e.value.model
    if not isinstance(node, ast.Call):
        return None
    name = m.call_name(node)
    if name in torch_api.SOFTMAX_FUNCS:
        return _int_constant(call_arg(node, 1, "dim"))
    if name in torch_api.SOFTMAX_MODULES or (name is None and isinstance(node.func, ast.Attribute) and node.func.attr == "softmax"):
        return _int_constant(call_arg(node, 0, "dim"))
    return None


def _other_dim(a: int | None, b: int) -> bool:
    """Two dimensions that are provably different (same sign, different values)."""
    return a is not None and (a >= 0) == (b >= 0) and a != b


def _concatenated(model: SemanticModel, node: ast.AST) -> list[ast.expr] | None:
    """``torch.cat([a, b])`` / ``torch.stack((a, b), 1)``: the parts, when written out."""
    if not isinstance(node, ast.Call) or model.call_name(node) not in torch_api.CONCAT_FUNCS:
        return None
    seq = call_arg(node, 0, "tensors")
    if isinstance(seq, (ast.List, ast.Tuple)) and seq.elts and not any(isinstance(e, ast.Starred) for e in seq.elts):
        return list(seq.elts)
    if isinstance(seq, ast.Name):
        return _appended_parts(model, seq)
    return None


def _appended_parts(model: SemanticModel, name: ast.Name) -> list[ast.expr] | None:
    """``parts = []`` then ``parts.append(x)`` in the same function: the appended values. None
    when the list may hold anything else (another value reaches the name, or it is changed
    otherwise than by ``append``)."""
    vals = model.values(name)
    if len(vals) != 1 or vals[0].model is not model or not isinstance(vals[0].node, ast.List) or vals[0].node.elts:
        return None
    func = model.enclosing_function(vals[0].node)
    if func is None or model.enclosing_function(name) is not func:
        return None
    parts: list[ast.expr] = []
    for n in ast.walk(func):
        if isinstance(n, ast.Name) and n.id == name.id and n is not name:
            use = parent(n)
            if isinstance(use, ast.Attribute) and use.attr == "append" and isinstance(call := parent(use), ast.Call) and call.func is use and len(call.args) == 1 and not call.keywords:
                parts.append(call.args[0])
            elif isinstance(use, ast.Attribute) and use.attr in ("extend", "insert", "__setitem__", "__iadd__"):
                return None
            elif isinstance(use, ast.Subscript) and not isinstance(use.ctx, ast.Load):
                return None
            elif isinstance(use, ast.AugAssign):
                return None
    return parts or None


def activation_evidence(model: SemanticModel, expr: ast.AST, _depth: int = 0) -> list[Evidence] | None:
    """Evidence that every value ``expr`` may hold is the output of softmax, log_softmax,
    sigmoid or logsigmoid (directly, through variables and reshapes, or at the end of a
    model's forward)."""
    out: list[Evidence] = []
    for v in model.values(expr):
        ev = _activation_of_value(v)
        if ev is None and _depth < 4:
            ev = _derived_activation(v.model, v, _depth)
        if ev is None:
            return None
        out.extend(ev)
    return out or None


def _derived_activation(model: SemanticModel, v: Value, depth: int) -> list[Evidence] | None:
    """Activation evidence through an op that keeps or maps the value domain: a rearrangement
    (``view``, ``permute``, ``[..]``), ``exp``/``log`` (log-probabilities <-> probabilities), or
    a concatenation of parts that all carry evidence."""
    if (inner := rearranged_operand(model, v.node)) is not None:
        return activation_evidence(model, inner, depth + 1)
    if (tr := _domain_transform(model, v.node)) is not None:
        mapping, operand = tr
        found = activation_evidence(model, operand, depth + 1)
        if found is None or any(e.kind not in mapping for e in found):
            return None
        # exp(log_softmax(x)) is softmax(x): the evidence is the whole expression. Its operand is
        # x only when the log_softmax is right there (a fix may then replace the expression by x).
        if len(found) == 1 and found[0].via_model is None:
            return [Evidence(mapping[found[0].kind], v, operand=found[0].operand)]
        return [Evidence(mapping[e.kind], v) for e in found]
    if (mean := _mean_over(model, v.node)) is not None:
        # The mean of probability vectors over another dimension (the batch) is a probability vector.
        operand, dim = mean
        found = activation_evidence(model, operand, depth + 1)
        if found and all(e.kind == SIGMOID or (e.kind == SOFTMAX and _other_dim(_softmax_dim(e), dim)) for e in found):
            return [Evidence(e.kind, e.value, e.via_model) for e in found]  # no operand: no fix
        return None
    if (parts := _concatenated(model, v.node)) is not None:
        out: list[Evidence] = []
        for p in parts:
            found = activation_evidence(model, p, depth + 1)
            if found is None:
                return None
            out.extend(found)
        return out
    return None


def _activation_of_value(v: Value, depth: int = 0) -> list[Evidence] | None:
    direct = activation_kind_of_call(v.model, v.node)
    if direct is not None:
        return [Evidence(direct[0], v, operand=direct[1])]
    if isinstance(v.node, ast.Call) and depth <= 3:
        outputs = module_outputs(v.model, v.node)
        if outputs:
            found: list[Evidence] = []
            for o in outputs:
                kind = activation_module_kind(o.model, o.node)
                if kind is not None:
                    found.append(Evidence(kind, o, via_model=v))
                    continue
                inner = activation_kind_of_call(o.model, o.node)
                if inner is None:
                    nested = _activation_of_value(o, depth + 1)  # return self.net(x), net ending in a softmax
                    if nested is None:
                        # return softmax(x).squeeze(), exp(log_softmax(x)): through the ops that keep the domain
                        nested = _derived_activation(o.model, o, depth + 1)
                    if nested is None:
                        return None
                    found.extend(Evidence(e.kind, e.value, via_model=v, operand=e.operand) for e in nested)
                    continue
                found.append(Evidence(inner[0], o, via_model=v, operand=inner[1]))
            return found
    return None


RAW_SCORES = "raw_scores"


def raw_score_evidence(model: SemanticModel, expr: ast.AST, _depth: int = 0) -> list[Evidence] | None:
    """Evidence that every value ``expr`` may hold is a model output whose forward ends in a
    linear / convolution layer (raw, unnormalised scores). None unless every value is."""
    out: list[Evidence] = []
    for v in model.values(expr):
        if not isinstance(v.node, ast.Call) and not isinstance(v.node, ast.Subscript):
            return None
        found = _raw_scores_of_model_call(v, 0) if isinstance(v.node, ast.Call) else None
        if found is None and _depth < 4 and (inner := rearranged_operand(v.model, v.node)) is not None and v.model is model:
            found = raw_score_evidence(model, inner, _depth + 1)
        if found is None:
            return None
        out.extend(found)
    return out or None


def _raw_scores_of_model_call(v: Value, depth: int) -> list[Evidence] | None:
    if depth > 3 or not isinstance(v.node, ast.Call):
        return None
    outputs = module_outputs(v.model, v.node)
    if not outputs:
        return None
    found: list[Evidence] = []
    for o in outputs:
        if _is_raw_layer(o.model, o.node):  # an nn.Sequential's last layer
            found.append(Evidence(RAW_SCORES, o, via_model=v))
            continue
        if not isinstance(o.node, ast.Call):
            return None
        name = o.model.call_name(o.node)
        if name in torch_api.RAW_SCORE_FUNCS:
            found.append(Evidence(RAW_SCORES, o, via_model=v))
            continue
        if name is None and _callee_is_raw_layer(o.model, o.node.func):
            found.append(Evidence(RAW_SCORES, o, via_model=v))
            continue
        inner = _raw_scores_of_model_call(o, depth + 1)  # return self.head(x), head a local module
        if inner is None:
            return None
        found.append(Evidence(RAW_SCORES, o, via_model=v))
    return found


def _is_raw_layer(model: SemanticModel, node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and model.call_name(node) in torch_api.RAW_SCORE_MODULES


def _callee_is_raw_layer(model: SemanticModel, func: ast.expr) -> bool:
    vals = model.values(func, module_identity=True)
    return bool(vals) and all(_is_raw_layer(v.model, v.node) for v in vals)


@dataclass(frozen=True)
class LossCall:
    """A call of a loss: the functional form or an instance of the module."""

    call: ast.Call
    qualname: str  # the function, or the module class
    ctor: ast.Call | None  # the module's construction, when known (None for functions)
    functional: bool

    def arg(self, index: int, keyword: str) -> ast.expr | None:
        return call_arg(self.call, index, keyword)

    def option(self, keyword: str) -> tuple[bool, ast.expr | None]:
        """(found, value) of an option: in the functional call, or in the module's constructor."""
        where = self.call if self.functional else self.ctor
        if where is None:
            return False, None
        for kw in where.keywords:
            if kw.arg == keyword:
                return True, kw.value
        return False, None


def loss_call(model: SemanticModel, call: ast.Call, funcs: set[str] | dict[str, int], modules: set[str] | dict[str, int]) -> LossCall | None:
    """``F.kl_div(...)``, ``nn.KLDivLoss()(...)`` or ``criterion(...)`` where criterion is a
    KLDivLoss (through assignments, ``self.x``, a parameter's default or annotation)."""
    name = model.call_name(call)
    if name in funcs:
        return LossCall(call, name, None, True)
    if name is not None:
        return None
    func = call.func
    if isinstance(func, ast.Call):
        q = model.call_name(func)
        return LossCall(call, q, func, False) if q in modules else None
    if not isinstance(func, (ast.Name, ast.Attribute)):
        return None
    if len(call.args) + len(call.keywords) < 2:
        return None  # a loss module is called with an input and a target
    types = instance_types(model, func, jedi=False)  # asked of every call: local evidence only
    if not types or not types <= set(modules) or len(types) != 1:
        return None
    ctors = [v.node for v in model.values(func, module_identity=True) if isinstance(v.node, ast.Call)]
    ctors += [d for d in (_param_default(model, v.node) for v in model.values(func)) if isinstance(d, ast.Call)]
    ctor = ctors[0] if len(ctors) == 1 else None
    return LossCall(call, next(iter(types)), ctor, False)


def unnegated(expr: ast.expr) -> ast.expr:
    """``expr`` without the unary minus signs in front of it (``-(-x)`` -> ``x``)."""
    while isinstance(expr, ast.UnaryOp) and isinstance(expr.op, ast.USub):
        expr = expr.operand
    return expr


def all_activation(model: SemanticModel, expr: ast.expr, kind: str) -> bool:
    """Every value ``expr`` may hold is the output of the activation ``kind`` (``activation_evidence``)."""
    found = activation_evidence(model, expr)
    return bool(found) and all(e.kind == kind for e in found)


def project_loss_call(model: SemanticModel, call: ast.Call, modules: set[str] | dict[str, int]) -> LossCall | None:
    """``self.net.loss(a, b)`` where the net's class, in another module of the project, sets
    ``self.loss`` to an instance of one of the loss classes ``modules`` (``nn.MSELoss()``)."""
    func = call.func
    if model.inference is None:
        return None  # only jedi finds a class in another module
    if not isinstance(func, ast.Attribute) or len(call.args) != 2 or call.keywords or model.call_name(call) is not None:
        return None  # a loss module is called with (input, target); anything else is not worth a jedi query
    vals = model.values(func.value, module_identity=True)
    if len(vals) != 1 or not isinstance(vals[0].node, ast.Call):
        return None
    owner_model, ctor = vals[0].model, vals[0].node
    if owner_model.local_class_of(ctor.func) is not None:
        return None  # a local class: loss_call already follows its attributes
    ext = owner_model.external_class(ctor.func)
    if ext is None:
        return None
    em, cls = ext
    assigned = cls.attrs.get(func.attr) or []
    if len(assigned) != 1 or not isinstance(assigned[0], ast.Call):
        return None
    q = em.call_name(assigned[0])
    if q not in modules:
        return None
    return LossCall(call, q, None, False)


def _param_default(model: SemanticModel, node: ast.AST) -> ast.expr | None:
    """The default value of a parameter (``def train(..., criterion=nn.NLLLoss())``)."""
    if not isinstance(node, ast.arg):
        return None
    from ..semantic.model import parent

    func = parent(parent(node)) if parent(node) is not None else None
    args = getattr(func, "args", None)
    if not isinstance(args, ast.arguments):
        return None
    positional = [*args.posonlyargs, *args.args]
    if node in positional:
        i = positional.index(node) - (len(positional) - len(args.defaults))
        return args.defaults[i] if i >= 0 else None
    if node in args.kwonlyargs:
        return args.kw_defaults[args.kwonlyargs.index(node)]
    return None


def instance_types(model: SemanticModel, expr: ast.AST, _depth: int = 0, *, jedi: bool = True) -> set[str]:
    """Qualified class names of the object ``expr`` refers to (``criterion`` -> CrossEntropyLoss).

    Local evidence first (assignments, ``self.x``, a parameter's default or annotation, what
    the file's call sites pass to a parameter); jedi only when the local chain ends in
    something it cannot see through (an import from the user's other modules, a parameter).
    Empty when unknown. ``jedi=False`` keeps to local evidence: for callers that ask about
    every call of a file, where a jedi query each would cost more than the finding is worth.
    """
    if _depth == 0:
        key = ("instance_types" if jedi else "instance_types_local", expr)
        return set(model.remember(model.memo, key, lambda: frozenset(_instance_types(model, expr, 0, jedi))))
    return _instance_types(model, expr, _depth, jedi)


def _instance_types(model: SemanticModel, expr: ast.AST, _depth: int, jedi: bool) -> set[str]:
    names: set[str] = set()
    ask_jedi = False
    for v in model.values(expr, module_identity=True):
        node = v.node
        if isinstance(node, ast.Call):
            q = v.model.call_name(node)
            if torch_api.in_torch(q):
                names.add(q)
                continue
            if q is not None and not q.startswith((torch_api.TORCH_ROOT, "builtins")):
                ask_jedi = True  # built by a function imported from another module
                continue
        elif isinstance(node, ast.arg):
            declared: set[str] = set()
            default = _param_default(v.model, node)
            if default is not None:
                q = v.model.call_name(default) if isinstance(default, ast.Call) else None
                if q is None or not torch_api.in_torch(q):
                    return set()
                declared.add(q)  # def train(..., criterion=nn.CrossEntropyLoss())
            elif node.annotation is not None:
                q = v.model.qualified_name(node.annotation)
                if torch_api.nn_class(q):
                    declared.add(q)  # def train(..., criterion: nn.CrossEntropyLoss)
            passed = _types_passed_to(v.model, node, _depth)
            if passed is None and not declared:
                return set()  # annotations like Callable say nothing; jedi would be slow and no wiser
            names |= declared | (passed or set())
            continue
        elif isinstance(node, ast.alias):
            ask_jedi = True  # an object imported from the user's other modules
            continue
        return set()  # a chain we cannot follow and jedi would not either: claim nothing
    if ask_jedi:
        inferred = model.infer_types(expr) if jedi else []
        if not inferred:
            return set()
        names.update(inferred)
    return names


def _types_passed_to(model: SemanticModel, param: ast.arg, depth: int) -> set[str] | None:
    """The types the file's call sites pass to ``param``; None unless every site is known."""
    if depth >= 3:
        return None
    from ..semantic.callsites import call_site_arguments

    sites = call_site_arguments(model, param)
    if not sites:
        return None
    out: set[str] = set()
    for _, arg in sites:
        t = instance_types(model, arg, depth + 1, jedi=False)
        if not t:
            return None
        out |= t
    return out


def module_outputs(model: SemanticModel, call: ast.Call, depth: int = 0) -> list[Value] | None:
    """``module_call_outputs``, also for ``model(x)`` where ``model`` is a parameter and every
    call site in the file passes a known module (``train(Net(), ...)``)."""
    out = model.module_call_outputs(call)
    if out is not None or depth >= 2 or not isinstance(call.func, ast.Name):
        return out
    vals = model.values(call.func)
    if len(vals) != 1 or not isinstance(vals[0].node, ast.arg):
        return None
    from ..semantic.callsites import call_site_arguments

    sites = call_site_arguments(model, vals[0].node)
    if not sites:
        return None
    found: list[Value] = []
    for _, arg in sites:
        if not isinstance(arg, (ast.Name, ast.Attribute, ast.Call)):
            return None
        outs = _argument_outputs(model, arg, depth + 1)
        if not outs:
            return None
        found.extend(outs)
    return found or None


def _argument_outputs(model: SemanticModel, arg: ast.expr, depth: int) -> list[Value] | None:
    """What calling the module passed as ``arg`` returns; kept across versions with the call
    site (a keystroke in the function it is passed to does not ask again). The kept answer
    holds nodes, and the models of other modules, not this version's model."""

    def outputs() -> tuple[tuple[ast.AST, SemanticModel | None], ...] | None:
        synthetic = ast.Call(func=arg, args=[], keywords=[])  # "arg(...)": what calling it returns
        outs = module_outputs(model, synthetic, depth)
        return None if outs is None else tuple((o.node, None if o.model is model else o.model) for o in outs)

    cache = model.file_memo.setdefault(("argument_outputs", depth), {})
    kept = model.remember_across_versions(cache, f"argument_outputs{depth}", arg, outputs)
    return None if kept is None else [Value(node, other or model) for node, other in kept]


def is_instance_of(model: SemanticModel, expr: ast.AST, qualnames: set[str], *, jedi: bool = True) -> bool:
    """Every known type of ``expr`` is one of ``qualnames`` (and at least one is known)."""
    types = instance_types(model, expr, jedi=jedi)
    return bool(types) and types <= qualnames


def probabilities_via_parameter(model: SemanticModel, expr: ast.expr) -> tuple[SemanticModel, ast.Call, ast.expr, list[Evidence]] | None:
    """``def kd(p, q): F.kl_div(p, q)`` called as ``kd(F.softmax(s, 1), ...)``: the model of the
    call site, the call, the argument, and the evidence that it is a softmax or sigmoid output
    (PIT102, PIT104). Call sites are this file's, and, for a method, those of a base class in
    another module of the project that calls it through ``self``."""
    from ..semantic.callsites import inherited_call_sites, through_parameter

    def probabilities(m: SemanticModel, arg: ast.expr) -> list[Evidence] | None:
        ev = activation_evidence(m, arg)
        return ev if ev and {e.kind for e in ev} <= {SOFTMAX, SIGMOID} else None

    found = through_parameter(model, expr, lambda arg: probabilities(model, arg))
    if found is not None:
        return (model, *found)  # type: ignore[return-value]
    vals = model.values(expr)
    if len(vals) != 1 or vals[0].model is not model or not isinstance(vals[0].node, ast.arg):
        return None
    for other, call, arg in inherited_call_sites(model, vals[0].node):
        ev = probabilities(other, arg)
        if ev:
            return other, call, arg, ev
    return None
