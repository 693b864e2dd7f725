"""Roles of module objects in a file: which one is a copy of another, which one is loaded from a
checkpoint, which optimizers hold whose parameters.

These answer "is this network trained by this loss, or is it the constant side (a target
network, a teacher, an EMA / momentum copy)?" from objects, never from names:

- ``copy.deepcopy(m)``: a copy of ``m``;
- ``t.load_state_dict(s.state_dict())``: ``t`` is kept a copy of ``s`` (a DQN target network);
- ``for pt, ps in zip(t.parameters(), s.parameters()): pt.data.mul_(m).add_(...)`` (or ``copy_``,
  ``lerp_``, an assignment to ``pt.data``): ``t`` follows ``s`` (an EMA / momentum encoder);
- ``t.load_state_dict(torch.load(...))`` (any state that is not another module's): pretrained;
- ``torch.optim.X(params)``: the module objects whose ``.parameters()`` it holds (an optimizer
  whose parameters cannot be followed makes the file's answer "unknown").

Module objects are construction nodes, as in analyzers/facts/grad.py. Each index is a read of the
whole file.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field

from ..catalogue import torch_api
from .grad import module_objects
from ..semantic.model import SemanticModel, Value
from ..syntax.tree import parent

_EMA_METHODS = torch_api.EMA_UPDATE_METHODS


@dataclass
class Roles:
    copies: dict[int, tuple[ast.AST, str]] = field(default_factory=dict)  # id(obj) -> (evidence, what)
    sources: dict[int, set[int]] = field(default_factory=dict)  # id(copy) -> ids of what it copies
    loaded: dict[int, ast.AST] = field(default_factory=dict)  # id(obj) -> load_state_dict call
    optimized: dict[int, ast.AST] = field(default_factory=dict)  # id(obj) -> optimizer construction
    optimizers: int = 0
    opaque: bool = False  # an optimizer whose parameters we could not follow


def _objects(model: SemanticModel, expr: ast.AST) -> list[Value]:
    if model._is_self(expr):
        cls = model.enclosing_class(expr)
        return [Value(cls.node, model)] if cls is not None else []
    return module_objects(model, expr) or []


def _param_owners(expr: ast.AST) -> list[ast.expr]:
    out = []
    for n in ast.walk(expr):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("parameters", "named_parameters"):
            out.append(n.func.value)
    return out


def roles(model: SemanticModel) -> Roles:
    model.read_whole()
    cached = model.file_memo.get("network_roles")
    if cached is not None:
        return cached
    r = Roles()
    for call in model.nodes_of(ast.Call):
        assert isinstance(call, ast.Call)
        name = model.call_name(call)
        f = call.func
        if name == "copy.deepcopy" and call.args:
            srcs = _objects(model, call.args[0])
            if srcs:
                r.copies.setdefault(id(call), (call, f"a copy.deepcopy of {ast.unparse(call.args[0])}"))
                r.sources.setdefault(id(call), set()).update(id(s.node) for s in srcs)
        elif isinstance(f, ast.Attribute) and f.attr == "load_state_dict" and call.args:
            arg = call.args[0]
            src = arg.func.value if isinstance(arg, ast.Call) and isinstance(arg.func, ast.Attribute) and arg.func.attr == "state_dict" else None
            for t in _objects(model, f.value):
                if src is not None:
                    srcs = [s for s in _objects(model, src) if s.node is not t.node]
                    if srcs:
                        r.copies.setdefault(id(t.node), (call, f"kept a copy of {ast.unparse(src)} by load_state_dict"))
                        r.sources.setdefault(id(t.node), set()).update(id(s.node) for s in srcs)
                else:
                    r.loaded.setdefault(id(t.node), call)
        elif torch_api.optimizer_class_named(name):
            r.optimizers += 1
            params = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
            owners = _param_owners(params) if params is not None else []
            if not owners and isinstance(params, ast.Name):
                for v in model.values(params):
                    if v.node is not params:
                        owners.extend(_param_owners(v.node))
            objs = [o for e in owners for o in _objects(model, e)]
            if not objs:
                r.opaque = True
            for o in objs:
                r.optimized.setdefault(id(o.node), call)
    for loop in model.nodes_of(ast.For):
        assert isinstance(loop, ast.For)
        _ema_loop(model, loop, r)
    model.file_memo["network_roles"] = r
    return r


def _ema_loop(model: SemanticModel, loop: ast.For, r: Roles) -> None:
    it = loop.iter
    if not (isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and it.func.id == "zip" and len(it.args) == 2):
        return
    if not isinstance(loop.target, ast.Tuple) or len(loop.target.elts) != 2 or not all(isinstance(e, ast.Name) for e in loop.target.elts):
        return
    owners = [_param_owners(a) for a in it.args]
    if not all(len(o) == 1 for o in owners):
        return
    names = [e.id for e in loop.target.elts]  # type: ignore[attr-defined]
    for i in (0, 1):
        written = names[i]
        for n in ast.walk(loop):
            hit = False
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _EMA_METHODS:
                recv = n.func.value
                while isinstance(recv, (ast.Attribute, ast.Call)):
                    recv = recv.func.value if isinstance(recv, ast.Call) and isinstance(recv.func, ast.Attribute) else getattr(recv, "value", None)
                hit = isinstance(recv, ast.Name) and recv.id == written
            elif isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr == "data" and isinstance(t.value, ast.Name) and t.value.id == written for t in n.targets):
                hit = True
            if hit:
                tgt, src = owners[i][0], owners[1 - i][0]
                for t in _objects(model, tgt):
                    srcs = [s for s in _objects(model, src) if s.node is not t.node]
                    if srcs:
                        r.copies.setdefault(id(t.node), (loop, f"updated from the parameters of {ast.unparse(src)}"))
                        r.sources.setdefault(id(t.node), set()).update(id(s.node) for s in srcs)
                return


def _inside_optimized(obj: Value, r: Roles) -> bool:
    """``obj`` is part of a module an optimizer holds: a ``self.x`` layer of a class whose
    instance (or ``self``) is optimized, or an argument of an optimized module's constructor."""
    m = obj.model
    cls = m.enclosing_class(obj.node) if not isinstance(obj.node, ast.ClassDef) else None
    for key, opt in r.optimized.items():
        for held in _held_nodes(m, opt):
            if cls is not None and (held is cls.node or (isinstance(held, ast.Call) and _class_is(m, held, cls))):
                return True
            if isinstance(held, ast.Call):
                for a in (*held.args, *(k.value for k in held.keywords)):
                    if any(v.node is obj.node for v in m.values(a, module_identity=True)):
                        return True
    return False


def _held_nodes(m: SemanticModel, opt: ast.AST) -> list[ast.AST]:
    r = roles(m)
    return [o.node for e in _param_owners(opt) for o in _objects(m, e) if id(o.node) in r.optimized]


def _class_is(m: SemanticModel, call: ast.Call, cls) -> bool:
    own = m.local_class_of(call.func)
    seen = 0
    while own is not None and seen < 8:
        if own is cls:
            return True
        bases = m.base_classes(own)
        own = bases[0] if bases else None
        seen += 1
    return False


def constant_side(model: SemanticModel, objs: frozenset, others: frozenset) -> tuple[ast.AST, str] | None:
    """Why the networks in ``objs`` are the constant side of a loss against ``others`` (a copy of
    another network, a pretrained network that no optimizer of the file holds, or one that no
    optimizer holds while one holds the other side's): (evidence, reason); None when not proven."""
    if not objs or objs & others:
        return None
    other_ids = {id(o.node) for o in others}
    for obj in objs:
        r = roles(obj.model)
        oid = id(obj.node)
        if oid in r.copies:
            srcs = r.sources.get(oid, set())
            if not other_ids or srcs & other_ids or not (other_ids & set(r.copies)):
                return r.copies[oid]
        if oid in r.optimized or r.opaque or _inside_optimized(obj, r):
            continue
        others_loaded = any(id(o.node) in roles(o.model).loaded for o in others)
        if oid in r.loaded and obj.model is model and not others_loaded:  # both resumed: which one is the teacher?
            return r.loaded[oid], "loaded from a checkpoint, and no optimizer of this file holds its parameters"
        held = [o for o in others if id(o.node) in roles(o.model).optimized]
        if held and r.optimizers:
            return roles(held[0].model).optimized[id(held[0].node)], "no optimizer holds its parameters, while this one holds the other side's"
    return None


# Methods of a module that neither train it nor give it weights, nor let it escape.
_INERT_METHODS = {"eval", "train", "to", "cuda", "cpu", "float", "half", "double", "bfloat16", "modules", "children", "named_modules", "requires_grad_", "zero_grad", "forward", "__call__", "apply", "parameters", "named_parameters", "buffers"}
_TRAINING_CALLS = {"backward", "step", "grad", "load_state_dict", "from_pretrained", "load"}


def untrained(model: SemanticModel, expr: ast.AST) -> bool:
    """Proven: every module object ``expr`` may hold is built in this file by a construction
    (a torch.nn layer, or a class of the file that loads nothing) bound to one name, and its weights stay the initial ones there: no optimizer of the file
    holds its parameters, nothing loads a state into it, it copies no module, the scope that
    binds it calls no ``backward()`` / ``step()`` / ``autograd.grad`` / ``load_state_dict``, and its
    name is only called, read (``model.bn``, ``model[1]``) or used through the methods above
    (never handed to a call, returned or stored elsewhere). A smoke test's or a unit test's fresh
    model.

    Its batch-norm statistics and dropout then act on weights nobody trained: nothing that the
    mode rules warn about (corrupted statistics, noisy metrics of a trained model) can happen."""
    objs = module_objects(model, expr)
    if not objs:
        return False
    r = roles(model)
    if r.opaque:
        return False
    for o in objs:
        node = o.node
        if o.model is not model or not isinstance(node, ast.Call) or any(id(node) in d for d in (r.loaded, r.optimized, r.copies)):
            return False
        name_called = model.call_name(node)
        cls = model.local_class_of(node.func)
        if cls is not None:
            if any(isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _TRAINING_CALLS for n in ast.walk(cls.node)):
                return False  # it may load weights itself
        elif not (torch_api.in_nn(name_called) and not node.keywords):
            return False  # a zoo or project model may come with pretrained weights
        stmt = parent(node)
        if not (isinstance(stmt, ast.Assign) and stmt.value is node and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name)):
            return False
        name = stmt.targets[0].id
        scope = model.enclosing_function(stmt) or model.tree
        for n in ast.walk(scope):
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _TRAINING_CALLS:
                return False
            if not (isinstance(n, ast.Name) and n.id == name):
                continue
            if isinstance(n.ctx, ast.Store):
                if n is not stmt.targets[0]:
                    return False  # bound again: another object
                continue
            up = parent(n)
            if isinstance(up, ast.Call) and up.func is n:
                continue  # its forward
            if isinstance(up, ast.Attribute) and up.value is n and up.attr in _INERT_METHODS:
                continue
            if isinstance(up, (ast.Attribute, ast.Subscript)) and up.value is n and isinstance(up.ctx, ast.Load) and not (isinstance(parent(up), ast.Call) and parent(up).func is up):
                continue  # model.bn, model[1] (a layer), model.training: a read
            return False
    return True
