"""Does a tensor require grad, and through which module objects? A fact computed from the file.

``requires_grad(model, expr)`` answers yes (with the module objects whose forward puts the value
in the autograd graph, and the node that proves it), no, or unknown:

- yes: the output of a trainable module (a torch.nn layer with parameters, an ``nn.Sequential`` of
  them, a local or project ``nn.Module`` class, a torchvision/timm model, a ``copy.deepcopy`` of
  one) called outside ``torch.no_grad()``; ``self(x)`` in a module's method; an ``nn.Parameter``;
  a torch factory with ``requires_grad=True``;
- no: anything under ``no_grad``/``inference_mode`` (block or decorator, also in the helper that
  produced it; the grad mode as semantic/grad_mode.py computes it, a project's own no_grad
  wrappers included), ``.detach()``, ``.data``, ``.item()``, integer and comparison results, constants,
  ``torch.tensor(...)``/``from_numpy``, the output of a module whose parameters are all frozen
  (analyzers/facts/freezing.py) when its inputs do not require grad;
- unknown, among others: a call under a context manager or decorator whose grad mode nothing
  tells (``with amp_autocast():`` of a parameter, a library's the catalogue does not describe);
- followed through names, ``self.x`` attributes, arithmetic, indexing, tensor methods
  (``.max(1)[0]``, ``.gather``, ``.view``), torch functions, tuples returned and unpacked,
  parameters of local functions (what every call site passes), and functions and methods that
  return a module's output (``self.helper(x)``, ``agent.evaluate(x)``), across the project's
  modules where the semantic model resolves the class.

Module objects are identified by the node that constructs them (what ``SemanticModel.values``
ends at with ``module_identity``), or by the class for ``self``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from ..catalogue import torch_api
from ..semantic.callsites import call_site_arguments
from .freezing import class_freezes_itself, frozen_objects
from ..semantic.model import ClassInfo, SemanticModel, Value
from ..syntax.tree import parent

MAX_DEPTH = 14

YES, NO, UNKNOWN = "yes", "no", "unknown"

# Ops whose result never requires grad (integer results, Python values, detached copies).
_STOP_METHODS = torch_api.GRAD_FREE_METHODS
_NO_BUILTINS = {"len", "int", "float", "bool", "str", "range", "isinstance", "round"}
_TENSOR_ATTRS = torch_api.VIEW_ATTRIBUTES


@dataclass(frozen=True)
class Grad:
    """Whether a value requires grad; when yes, through which module objects, and the proof."""

    state: str
    modules: frozenset = frozenset()  # Value(construction node or class node, its model)
    node: ast.AST | None = None  # the forward call / creation that proves it
    why: str = ""

    @property
    def yes(self) -> bool:
        return self.state == YES

    @property
    def no(self) -> bool:
        return self.state == NO


_NO = Grad(NO)
_UNKNOWN = Grad(UNKNOWN)


def any_of(facts) -> Grad:
    """The fact of a value that may be any of these (or depends on all of them, as ``a + b``)."""
    yes = [f for f in facts if f.state == YES]
    if yes:
        mods = frozenset().union(*(f.modules for f in yes))
        return Grad(YES, mods, yes[0].node, yes[0].why)
    facts = list(facts)
    if facts and all(f.state == NO for f in facts):
        return _NO
    return _UNKNOWN if facts else _NO


def requires_grad(model: SemanticModel, expr: ast.AST) -> Grad:
    """The requires-grad fact of ``expr`` (memoised per node)."""
    return model.remember(model.memo, ("requires_grad", expr), lambda: _grad(model, expr, 0))


def in_grad_free_hook(model: SemanticModel, node: ast.AST) -> bool:
    """``node`` is in a hook of an ``nn.Module`` class (a LightningModule) that the trainer runs
    per batch with gradients off (``validation_step``, ``test_step``, ``predict_step``)."""
    func = model.enclosing_function(node)
    if func is None or func.name not in torch_api.LIGHTNING_GRAD_FREE_HOOKS:
        return False
    cls = model.enclosing_class(func)
    return cls is not None and model.is_nn_module(cls)


def grad_evidence(model: SemanticModel, expr: ast.AST) -> tuple[ast.AST, str] | None:
    """``(node, message)`` proving ``expr`` requires grad, or None."""
    g = requires_grad(model, expr)
    return (g.node, g.why) if g.yes and g.node is not None else None


def _grad(model: SemanticModel, expr: ast.AST, depth: int) -> Grad:
    if depth > MAX_DEPTH:
        return _UNKNOWN
    if isinstance(expr, ast.Constant):
        return _NO
    if isinstance(expr, ast.Name) or (isinstance(expr, ast.Attribute) and model._is_self(expr.value)):
        return _through_values(model, expr, depth)
    if isinstance(expr, ast.Attribute):
        if expr.attr in ("data", "grad", "shape", "device", "dtype", "requires_grad"):
            return _NO
        if expr.attr in _TENSOR_ATTRS:
            return _grad(model, expr.value, depth + 1)
        return _UNKNOWN
    if isinstance(expr, ast.Subscript):
        return _grad(model, expr.value, depth + 1)
    if isinstance(expr, ast.BinOp):
        return any_of((_grad(model, expr.left, depth + 1), _grad(model, expr.right, depth + 1)))
    if isinstance(expr, ast.UnaryOp):
        return _NO if isinstance(expr.op, ast.Not) else _grad(model, expr.operand, depth + 1)
    if isinstance(expr, ast.Compare):
        return _NO
    if isinstance(expr, (ast.List, ast.Tuple)):
        return any_of([_grad(model, e, depth + 1) for e in expr.elts])
    if isinstance(expr, ast.IfExp):
        return any_of((_grad(model, expr.body, depth + 1), _grad(model, expr.orelse, depth + 1)))
    if isinstance(expr, ast.NamedExpr):
        return _grad(model, expr.value, depth + 1)
    if isinstance(expr, ast.Call):
        return _call(model, expr, depth)
    return _UNKNOWN


def _through_values(model: SemanticModel, expr: ast.AST, depth: int) -> Grad:
    facts = []
    for v in model.values(expr):
        node = v.node
        if node is expr:
            facts.append(_UNKNOWN)
        elif v.model is not model:
            facts.append(_grad(v.model, node, depth + 1))
        elif isinstance(node, ast.arg):
            facts.append(_through_parameter(model, node, depth))
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            facts.append(_unpacked(model, node, depth))
        elif isinstance(node, ast.alias):
            facts.append(_UNKNOWN)
        else:
            facts.append(_grad(model, node, depth + 1))
    return any_of(facts) if facts else _UNKNOWN


def _through_parameter(model: SemanticModel, param: ast.arg, depth: int) -> Grad:
    """A parameter of a local function: what its call sites in the file pass."""
    if depth > MAX_DEPTH - 4:
        return _UNKNOWN
    sites = call_site_arguments(model, param)
    if not sites:
        return _UNKNOWN
    return any_of([_grad(model, arg, depth + 4) for _, arg in sites])


def _unpack_path(target: ast.Name) -> tuple[ast.Assign, list[int]] | None:
    """``a, (b, c) = value``: the assignment and the element indices that lead to ``target``."""
    path: list[int] = []
    child: ast.AST = target
    cur = parent(target)
    while isinstance(cur, (ast.Tuple, ast.List)):
        if any(isinstance(e, ast.Starred) for e in cur.elts):
            return _UNKNOWN
        path.append(cur.elts.index(child))  # type: ignore[arg-type]
        child, cur = cur, parent(cur)
    if not isinstance(cur, ast.Assign) or not path or cur.value is None:
        return None
    return cur, list(reversed(path))


def _unpacked(model: SemanticModel, target: ast.Name, depth: int) -> Grad:
    """``a, b = f(...)``: the element of what ``f`` returns (a tuple) bound to ``target``."""
    found = _unpack_path(target)
    if found is None:
        return _UNKNOWN
    return _element(model, found[0].value, found[1], depth + 1)


def _unpacked_objects(model: SemanticModel, target: ast.Name, depth: int = 0) -> list[Value] | None:
    """``big, small = build()``: the module objects of the element bound to ``target``."""
    found = _unpack_path(target)
    if found is None or depth > 3:
        return None
    value, path = found[0].value, found[1]
    if not isinstance(value, ast.Call) or len(path) != 1:
        return None
    returns = _call_returns(model, value)
    if not returns:
        return None
    out: list[Value] = []
    for m, r in returns:
        if not isinstance(r, (ast.Tuple, ast.List)) or len(r.elts) <= path[0]:
            return None
        inner = module_objects(m, r.elts[path[0]], depth + 1)
        if inner is None:
            return None
        out.extend(inner)
    return out


def _element(model: SemanticModel, value: ast.AST, path: list[int], depth: int) -> Grad:
    if not path:
        return _grad(model, value, depth)
    if depth > MAX_DEPTH:
        return _UNKNOWN
    if isinstance(value, (ast.Tuple, ast.List)):
        if len(value.elts) <= path[0] or any(isinstance(e, ast.Starred) for e in value.elts):
            return _UNKNOWN
        return _element(model, value.elts[path[0]], path[1:], depth + 1)
    if isinstance(value, ast.Name):
        vals = model.values(value)
        if any(v.node is value for v in vals):
            return _UNKNOWN
        return any_of([_element(v.model, v.node, path, depth + 1) for v in vals])
    if isinstance(value, ast.Call):
        if model.under_no_grad(value):
            return _NO
        if not model.grad_not_off(value):
            return _UNKNOWN  # under a context whose grad mode nothing tells
        returns = _call_returns(model, value)
        if returns is not None:
            return any_of([_element(m, r, path, depth + 1) for m, r in returns]) if returns else _UNKNOWN
        # the output of a module: every element of a trainable module's output requires grad
        return _module_fact(model, value, depth)
    return _UNKNOWN


def _call_returns(model: SemanticModel, call: ast.Call) -> list[tuple[SemanticModel, ast.expr]] | None:
    """What a call of a local function or of a method (on ``self`` or a module object whose class
    the model knows, not ``forward``) returns, with the model each return belongs to."""
    func = call.func
    if isinstance(func, ast.Name) or (isinstance(func, ast.Attribute) and model._is_self(func.value)):
        returns = model.local_call_returns(call)
        if returns is not None:
            return [(model, r) for r in returns]
        return None
    if isinstance(func, ast.Attribute) and func.attr not in ("forward", "__call__"):
        found = _class_of_object(model, func.value)
        if found is None:
            return None
        m, cls = found
        method = m.find_method(cls, func.attr)
        if method is None:
            return None
        return [(m, r) for r in m.function_returns(method)]
    return None


def _class_of_object(model: SemanticModel, expr: ast.AST) -> tuple[SemanticModel, ClassInfo] | None:
    """The class (local or from the project, via the model) of the one object ``expr`` holds."""
    vals = model.values(expr, module_identity=True)
    if len(vals) != 1 or not isinstance(vals[0].node, ast.Call):
        return None
    m, node = vals[0].model, vals[0].node
    cls = m.local_class_of(node.func)
    if cls is not None:
        return m, cls
    return m.external_class(node.func)


def _call(model: SemanticModel, expr: ast.Call, depth: int) -> Grad:
    if model.under_no_grad(expr):
        return _NO
    if not model.grad_not_off(expr):
        return _UNKNOWN  # under a context whose grad mode nothing tells
    name = model.call_name(expr)
    if name in torch_api.PARAMETER:
        rg = next((k.value for k in expr.keywords if k.arg == "requires_grad"), expr.args[1] if len(expr.args) > 1 else None)
        if isinstance(rg, ast.Constant) and rg.value is False:
            return _NO
        return Grad(YES, frozenset(), expr, "an nn.Parameter")
    rg = next((k.value for k in expr.keywords if k.arg == "requires_grad"), None)
    if torch_api.in_torch(name) and isinstance(rg, ast.Constant):
        return Grad(YES, frozenset(), expr, f"created with requires_grad=True by {name}") if rg.value is True else _NO
    func = expr.func
    if name is not None:
        if name in torch_api.GRAD_FREE_FUNCS:
            return _NO
        if torch_api.in_torch(name) and not name[len(torch_api.TORCH) :][:1].isupper() and not name.startswith((torch_api.NN, torch_api.OPTIM)):
            return any_of([_grad(model, a, depth + 1) for a in (*expr.args, *(k.value for k in expr.keywords)) if not isinstance(a, ast.Starred)])
        if torch_api.in_functional(name):
            return any_of([_grad(model, a, depth + 1) for a in (*expr.args, *(k.value for k in expr.keywords)) if not isinstance(a, ast.Starred)])
        if name.startswith("builtins.") and name[9:] in _NO_BUILTINS:
            return _NO
        if name in ("copy.deepcopy",) and expr.args:
            return _grad(model, expr.args[0], depth + 1)
        if not isinstance(func, ast.Name):
            return _UNKNOWN  # np.x, an imported function: not a tensor we can follow
    if isinstance(func, ast.Name) and func.id in _NO_BUILTINS and not model.lookup(func.id, func):
        return _NO
    if isinstance(func, ast.Attribute) and func.attr in _STOP_METHODS:
        return _NO
    # a module's forward: m(x), m.forward(x), self(x), self.net(x)
    if _is_module_call(model, expr):
        return _module_fact(model, expr, depth)
    returns = _call_returns(model, expr)
    if returns is not None:
        return any_of([_grad(m, r, depth + 1) for m, r in returns]) if returns else _UNKNOWN
    if isinstance(func, ast.Attribute) and not model._is_self(func.value):
        return _grad(model, func.value, depth + 1)  # a tensor method: x.softmax(-1), x.max(1), x.gather(...)
    return _UNKNOWN


def _module_target(model: SemanticModel, call: ast.Call) -> ast.AST:
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("forward", "__call__"):
        return func.value
    return func


def _is_module_call(model: SemanticModel, call: ast.Call) -> bool:
    target = _module_target(model, call)
    if model._is_self(target):
        cls = model.enclosing_class(call)
        return cls is not None and model.is_nn_module(cls)
    if not isinstance(target, (ast.Name, ast.Attribute)):
        return False
    if isinstance(target, ast.Attribute) and model.qualified_name(target) is not None:
        return False
    objs = module_objects(model, target)
    return bool(objs) and all(trainable(o) is not None for o in objs)


def module_objects(model: SemanticModel, expr: ast.AST, depth: int = 0) -> list[Value] | None:
    """The module objects ``expr`` may hold (construction nodes; the class node for ``self``);
    None when one of them is unknown."""
    if model._is_self(expr):
        cls = model.enclosing_class(expr)
        return [Value(cls.node, model)] if cls is not None and model.is_nn_module(cls) else None
    out: list[Value] = []
    for v in model.values(expr, module_identity=True):
        if v.node is expr:
            return None
        if isinstance(v.node, ast.Name) and isinstance(v.node.ctx, ast.Store):
            inner = _unpacked_objects(v.model, v.node, depth)
            if inner is None:
                return None
            out.extend(inner)
            continue
        if isinstance(v.node, ast.arg) and v.model is model:
            if depth >= 2:
                return None
            sites = call_site_arguments(model, v.node)
            if not sites:
                return None
            for _, arg in sites:
                inner = module_objects(model, arg, depth + 1)
                if inner is None:
                    return None
                out.extend(inner)
            continue
        if not isinstance(v.node, ast.Call):
            return None
        out.append(v)
    return out or None


def trainable(obj: Value) -> bool | None:
    """True: a module with trainable parameters; False: all of them frozen; None: not known to be a module."""
    m, node = obj.model, obj.node
    if isinstance(node, ast.ClassDef):
        cls = m._class_of_node.get(node)
        return None if cls is None else class_freezes_itself(m, cls) is None
    if id(node) in frozen_objects(m):
        return False
    kind = _ctor_kind(m, node, 0)
    if kind is None:
        return None
    if isinstance(kind, ClassInfo):
        return class_freezes_itself(_kind_model(m, node), kind) is None
    return kind


def _kind_model(m: SemanticModel, node: ast.Call) -> SemanticModel:
    if m.local_class_of(node.func) is not None:
        return m
    ext = m.external_class(node.func)
    return ext[0] if ext is not None else m


def _ctor_kind(m: SemanticModel, node: ast.AST, depth: int):
    """True for a trainable torch/zoo module construction, its ClassInfo for a module class, else None."""
    if not isinstance(node, ast.Call) or depth > 4:
        return None
    name = m.call_name(node)
    if name is not None:
        if name in torch_api.JIT_INFERENCE_MODULES:
            return False  # no parameters: nothing it computes requires grad (catalogue, measured)
        if name in torch_api.JIT_LOAD_FUNCS:
            return True  # its parameters require grad (measured)
        if name in torch_api.JIT_TRACE_FUNCS and node.args:
            # the traced module's own parameters (measured: shared): as trainable as it is
            inner = m.values(node.args[0], module_identity=True)
            if not inner or any(v.node is node.args[0] for v in inner):
                return None
            kinds = [trainable(v) for v in inner]
            return None if any(k is None for k in kinds) else any(kinds)
        if name in torch_api.PARAMETER_LAYERS:
            return True
        if name in torch_api.CONTAINERS:
            return True if any(_ctor_kind(m, a, depth + 1) for a in node.args) else None
        if name.startswith(torch_api.MODEL_FACTORY_PREFIXES):
            return True
        if name == "copy.deepcopy" and node.args:
            inner = m.values(node.args[0], module_identity=True)
            if not inner or any(v.node is node.args[0] for v in inner):
                return None
            kinds = [trainable(v) for v in inner]
            return True if kinds and all(kinds) else None
    cls = m.local_class_of(node.func)
    if cls is None:
        if name is None or not isinstance(node.func, (ast.Name, ast.Attribute)):
            return None
        ext = m.external_class(node.func)
        if ext is None:
            return None
        em, cls = ext
        return cls if em.is_nn_module(cls) else None
    return cls if m.is_nn_module(cls) else None


def _describe(model: SemanticModel, target: ast.AST) -> str:
    return model.source.segment(target) if model.source is not None else "a module"


def _module_fact(model: SemanticModel, call: ast.Call, depth: int) -> Grad:
    target = _module_target(model, call)
    objs = module_objects(model, target)
    if not objs:
        return _UNKNOWN
    kinds = [trainable(o) for o in objs]
    if any(k is None for k in kinds):
        return _UNKNOWN
    live = frozenset(o for o, k in zip(objs, kinds) if k)
    if live:
        return Grad(YES, live, call, f"computed with gradients by {_describe(model, target)}, outside torch.no_grad()")
    # every parameter frozen: the output requires grad only through its inputs
    args = [a for a in (*call.args, *(k.value for k in call.keywords)) if not isinstance(a, ast.Starred)]
    return any_of([_grad(model, a, depth + 1) for a in args]) if args else _NO
