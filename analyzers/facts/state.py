"""Optimizer and gradient state along one iteration of a training loop.

Built on the loop model (:mod:`analyzers.flow`): its events say, in order, which backward,
``step``, ``zero_grad`` and ``p.grad = None`` run in one iteration of a loop (helpers of the
file inlined, parameters renamed into the caller's words). This module adds the objects behind
them, computed through the semantic model:

- which optimizer a ``step()`` or ``zero_grad()`` acts on: the ``torch.optim.X(...)``
  construction(s) its receiver may hold, followed through helper parameters to the call site,
  assignments, ``self`` attributes set in any method (``__init__``);
- which modules' parameters an optimizer holds: ``X(model.parameters())``, param groups
  (``[{"params": a.parameters()}, ...]``), ``itertools.chain``, ``list(...) + list(...)``,
  ``filter(...)`` and comprehensions over them;
- whether a clear covers a given optimizer: the same object, one of its modules (or a module
  that contains one), or something that cannot be told apart (then it covers: an unknown never
  produces a finding);
- what a function of another module of the project does with an optimizer handed to it
  (``utils.clip_gradient(optimizer, ...)``): found by its import (:mod:`analyzers.project`),
  read with its own loop model.

Everything answers "unknown" where the chain of evidence breaks.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from .flow import _is_kind, _param_sites, BACKWARD, GRAD, MODE, OPTIMIZER, SCALER, STEP, ZERO_GRAD, Event, Flow, FunctionNode, flow_of, project_function, text_of
from ..catalogue.torch_api import NO_MODEL_PACKAGES
from ..semantic.model import FUNCTION_TYPES, SemanticModel, Value
from ..syntax.tree import ancestors, parent
from ..catalogue import torch_api

MAX_DEPTH = 6

_PARAM_METHODS = ("parameters", "named_parameters")
_PASS_THROUGH_CALLS = {"builtins.list", "builtins.tuple", "builtins.filter", "itertools.chain", "builtins.iter"}


@dataclass(frozen=True)
class Optimizer:
    """What one ``step()`` / ``zero_grad()`` receiver may hold: the constructions, or None."""

    constructions: tuple[Value, ...]

    def same(self, other: "Optimizer") -> bool:
        mine = {id(v.node) for v in self.constructions}
        return any(id(v.node) in mine for v in other.constructions)


def receiver(e: Event, flow: Flow) -> ast.expr | None:
    """The object a step / zero_grad event acts on, as written at its node."""
    n = e.node
    if not isinstance(n, ast.Call) or not isinstance(n.func, ast.Attribute):
        return None
    if e.kind == STEP and n.args and not isinstance(n.args[0], ast.Starred):
        if n.func.attr == "optimizer_step" or flow.object_fact(n.func.value, SCALER) is True or flow.object_fact(n.args[0], OPTIMIZER) is True:
            return n.args[0]  # scaler.step(optimizer), accelerator.optimizer_step(optimizer)
    return n.func.value


def step_known(flow: Flow, e: Event) -> bool:
    """The step ``e`` is proven an optimizer's (by its values or its protocol, through the call
    sites of the helpers it runs in), not a bare ``x.step()`` on an object nothing describes."""
    r = receiver(e, flow)
    if r is None:
        return False
    if isinstance(e.node, ast.Call) and isinstance(e.node.func, ast.Attribute) and r is not e.node.func.value:
        return True  # handed to a scaler / an accelerator hook as the optimizer
    if flow.object_fact(r, OPTIMIZER) is True:
        return True
    expr, m = origin(flow, r, e.chain)
    return expr is not r and flow_of(m).object_fact(expr, OPTIMIZER) is True


def origin(flow: Flow, expr: ast.expr, chain: tuple[ast.Call, ...]) -> tuple[ast.expr, SemanticModel]:
    """``expr`` (written in the function the chain reaches) followed back through parameters
    to the argument at each call site, as far as it goes."""
    m = flow.model
    for site in reversed(chain):
        if not isinstance(expr, ast.Name):
            break
        f = flow.callee(site)
        if f is None:
            break
        arg = _argument_for(f, site, expr.id)
        if arg is None:
            break
        bindings = m.lookup(expr.id, expr)
        if not bindings or any(b.kind != "param" for b in bindings):
            break
        expr = arg
    return expr, m


def _argument_for(f: FunctionNode, call: ast.Call, name: str) -> ast.expr | None:
    params = [a.arg for a in (*f.args.posonlyargs, *f.args.args)]
    if isinstance(parent(f), ast.ClassDef) and params and not any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in f.decorator_list):
        if params[0] == name:
            return call.func.value if isinstance(call.func, ast.Attribute) else None
        params = params[1:]
    for k in call.keywords:
        if k.arg == name:
            return k.value
    for p, a in zip(params, call.args):
        if isinstance(a, ast.Starred):
            return None
        if p == name:
            return a
    return None


def optimizer_of(flow: Flow, expr: ast.expr, chain: tuple[ast.Call, ...] = ()) -> Optimizer | None:
    """The ``torch.optim`` constructions ``expr`` may hold; None when any value is something else."""
    e, m = origin(flow, expr, chain)
    vals = _constructions(m, e, 0)
    if not vals:
        return None
    return Optimizer(tuple(vals))


def _constructions(m: SemanticModel, e: ast.AST, depth: int) -> list[Value] | None:
    """The optimizer constructions ``e`` may hold, parameters followed to their call sites
    (``Trainer(model, torch.optim.Adam(...))`` for ``self.opt = opt`` in ``__init__``); None
    when some value is something else or cannot be followed."""
    out: list[Value] = []
    for v in m.values(e):
        if isinstance(v.node, ast.Constant) and v.node.value is None:
            continue
        if isinstance(v.node, ast.arg) and depth < MAX_DEPTH:
            sites = _param_sites(v.model, v.node)
            if not sites:
                return None
            for sm, arg in sites:
                sub = _constructions(sm, arg, depth + 1)
                if sub is None:
                    return None
                out.extend(sub)
            continue
        if not _is_optimizer_construction(v):
            return None
        out.append(v)
    return out or None


def _is_optimizer_construction(v: Value) -> bool:
    """A construction of an optimizer whose parameters can be read (the catalogue's optimizer classes)."""
    if not isinstance(v.node, ast.Call):
        return False
    return _is_kind(v.model.call_name(v.node) or "", OPTIMIZER)


def held_modules(opt: Optimizer) -> list[Value] | None:
    """The module expressions whose ``.parameters()`` the optimizer holds (None: unknown)."""
    out: list[Value] = []
    for v in opt.constructions:
        call = v.node
        assert isinstance(call, ast.Call)
        arg = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "params"), None)
        if arg is None:
            return None
        mods = _modules_in(arg, v.model, 0)
        if mods is None:
            return None
        out.extend(mods)
    return out


def _modules_in(expr: ast.expr, m: SemanticModel, depth: int) -> list[Value] | None:
    if depth > MAX_DEPTH:
        return None
    if isinstance(expr, ast.Call):
        f = expr.func
        if isinstance(f, ast.Attribute) and f.attr in _PARAM_METHODS:
            return [Value(f.value, m)]
        q = m.call_name(expr) or ""
        if q in _PASS_THROUGH_CALLS or q.endswith(".chain"):
            args = expr.args[1:] if q == "builtins.filter" else expr.args
            return _all(args, m, depth)
        return None
    if isinstance(expr, (ast.List, ast.Tuple)):
        return _all(expr.elts, m, depth)
    if isinstance(expr, ast.Dict):
        for k, val in zip(expr.keys, expr.values):
            if isinstance(k, ast.Constant) and k.value == "params":
                return _modules_in(val, m, depth + 1)
        return None
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
        return _all([expr.left, expr.right], m, depth)
    if isinstance(expr, (ast.ListComp, ast.GeneratorExp)) and len(expr.generators) == 1:
        return _modules_in(expr.generators[0].iter, m, depth + 1)
    if isinstance(expr, ast.Name):
        vals = m.values(expr)
        if not vals or any(v.node is expr or not isinstance(v.node, ast.expr) for v in vals):
            return None
        out: list[Value] = []
        for v in vals:
            sub = _modules_in(v.node, v.model, depth + 1)  # type: ignore[arg-type]
            if sub is None:
                return None
            out.extend(sub)
        return out
    return None


def _all(exprs, m: SemanticModel, depth: int) -> list[Value] | None:
    out: list[Value] = []
    for a in exprs:
        sub = _modules_in(a, m, depth + 1)
        if sub is None:
            return None
        out.extend(sub)
    return out


def _module_identity(v: Value) -> set[int]:
    return _identities(v.model, v.node, 0)


def _identities(m: SemanticModel, expr: ast.AST, depth: int) -> set[int]:
    """The values ``expr`` may hold, as node ids: a parameter, and what its call sites pass."""
    out: set[int] = set()
    for x in m.values(expr, module_identity=True):
        out.add(id(x.node))
        if isinstance(x.node, ast.arg) and depth < MAX_DEPTH:
            for sm, arg in _param_sites(x.model, x.node) or ():
                out |= _identities(sm, arg, depth + 1)
    return out


def _share_modules(a: list[Value] | None, b: list[Value] | None) -> bool:
    """Two optimizers may hold some of the same parameters (unknown holdings: they may)."""
    if a is None or b is None:
        return True
    ids_a = set().union(*(_module_identity(v) for v in a)) if a else set()
    return any(_module_identity(v) & ids_a for v in b) or bool({text_of(v.node) for v in a} & {text_of(v.node) for v in b})


def _contains(outer: str | None, inner: str | None) -> bool:
    """``model`` contains ``model.encoder``'s parameters (as written in one scope)."""
    return outer is not None and inner is not None and (inner == outer or inner.startswith(outer + "."))


def clear_covers(flow: Flow, z: Event, s: Event) -> bool:
    """The clear ``z`` may clear the gradients of the optimizer stepped by ``s`` (False only
    when it is proven to touch something else: another optimizer, or a module none of whose
    parameters the optimizer holds)."""
    return clears(flow, z, s) is not False


def clears(flow: Flow, z: Event, s: Event) -> bool | None:
    """Whether the clear ``z`` clears (some of) the gradients that the step ``s`` applies:
    True when proven (the same optimizer, or a module whose parameters it holds), False when
    proven not, None when it cannot tell."""
    if z.subject is not None and z.subject == s.subject and not z.subject.startswith("<"):
        return True
    zr, sr = receiver(z, flow), receiver(s, flow)
    if zr is None or sr is None or not (isinstance(z.node, ast.Call) and isinstance(z.node.func, ast.Attribute) and z.node.func.attr == "zero_grad"):
        return None  # p.grad = None, reset_grads(model), ...: cannot tell what it clears
    opt_s = optimizer_of(flow, sr, s.chain)
    if opt_s is None:
        return None
    opt_z = optimizer_of(flow, zr, z.chain)
    if opt_z is not None:
        if opt_z.same(opt_s):
            return True
        return None if _share_modules(held_modules(opt_z), held_modules(opt_s)) else False
    # model.zero_grad(): a module; does the optimizer hold its parameters (or some of them)?
    mods = held_modules(opt_s)
    if mods is None:
        return None
    ze, zm = origin(flow, zr, z.chain)
    zvals = zm.values(ze, module_identity=True)
    zids = _identities(zm, ze, 0)
    unknown = not zvals or not all(isinstance(v.node, ast.Call) for v in zvals)
    for mv in mods:
        mids = _module_identity(mv)
        if mids & zids or _contains(text_of(ze), text_of(mv.node)) or _contains(text_of(mv.node), text_of(ze)):
            return True
        mvals = mv.model.values(mv.node, module_identity=True)
        if unknown or not mvals or not all(isinstance(v.node, ast.Call) for v in mvals):
            unknown = True
            continue
        # one built from the other (Wrapper(model), nn.Sequential(backbone, head)), or put in
        # the other later (wrapper.net = model, add_module): related, as far as we can tell
        for a in (*zvals, *mvals):
            for arg in ast.walk(a.node):
                if isinstance(arg, (ast.Name, ast.Attribute)) and arg is not a.node:
                    ids = {id(x.node) for x in a.model.values(arg, module_identity=True)}
                    if ids & (mids | zids):
                        unknown = True
        if not unknown and _attached(flow, zids | mids):
            unknown = True
    return None if unknown else False


def _attached(flow: Flow, ids: set[int]) -> bool:
    """Some module of ``ids`` is stored into another after its construction
    (``outer.attr = inner``, ``setattr``, ``add_module``/``register_module``)."""
    m = flow.model
    for n in flow.nodes(ast.Assign):
        if isinstance(n, ast.Assign) and any(isinstance(t, ast.Attribute) and not m._is_self(t.value) for t in n.targets):
            if isinstance(n.value, (ast.Name, ast.Attribute)) and {id(v.node) for v in m.values(n.value, module_identity=True)} & ids:
                return True
    for n in flow.nodes(ast.Call):
        if isinstance(n, ast.Call) and (
            (isinstance(n.func, ast.Attribute) and n.func.attr in ("add_module", "register_module"))
            or (isinstance(n.func, ast.Name) and n.func.id == "setattr")
        ):
            return True
    return False


# ---------------------------------------------------------------------- external helpers
def may_clear_gradients(m: SemanticModel, f: FunctionNode, names: set[str]) -> bool:
    """``f`` (of model ``m``) may clear the gradients of what its parameters ``names`` hold: it
    has a clear, a grad, a step or a backward of its own, or hands one of ``names`` on to a
    function its loop model cannot see."""
    flow = flow_of(m)
    if any(e.kind in (ZERO_GRAD, GRAD, STEP, BACKWARD) for e in flow.events(f)):
        return True
    for n in ast.walk(f):
        if isinstance(n, ast.Call) and flow.callee(n) is None and flow.classify(n, {}) is None:
            if torch_api.in_torch(m.call_name(n)):
                continue
            if any(isinstance(a, ast.Name) and a.id in names for a in [*n.args, *(k.value for k in n.keywords)]):
                return True
    return False


def opaque_use(flow: Flow, root: ast.AST, names: set[str]) -> bool:
    """Something of ``names`` (an optimizer, as written), or a module, is handed to a function
    the loop model cannot follow, which may clear its gradients: unless that function is found
    in another module of the project and clears nothing."""
    m = flow.model
    for n in ast.walk(root):
        if not (isinstance(n, ast.Call) and flow.callee(n) is None):
            continue
        k = flow.classify(n, {})
        if k is not None and k[0] != MODE:
            continue  # (MODE: a module handed to code nothing reads)
        q = m.call_name(n) or ""
        if q.startswith((torch_api.TORCH, "builtins.")) or q.split(".")[0] in NO_MODEL_PACKAGES:
            continue
        args = [*n.args, *(k.value for k in n.keywords)]
        handed = {text_of(a) for a in args if text_of(a) in names}
        handed |= {text_of(a) for a in args if isinstance(a, (ast.Name, ast.Attribute)) and flow.is_module_object(a)}
        if not handed:
            continue
        ext = project_function(m, n.func)
        if ext is not None and not isinstance(parent(ext[1]), ast.ClassDef):
            f = ext[1]
            params = {a.arg for a in (*f.args.posonlyargs, *f.args.args, *f.args.kwonlyargs) if text_of(_argument_for(f, n, a.arg)) in handed}
            if params and not may_clear_gradients(ext[0], ext[1], params):
                continue
        return True
    return False


# ---------------------------------------------------------------------- branches
def cleared_on_some_paths_only(root: ast.AST, clears: list[Event]) -> bool:
    """Every clear is written in ``root``'s own body (no helper) under an ``if``, and some path
    through the body runs none of them: the iteration may skip the clear."""
    if any(e.chain for e in clears):
        return False
    targets = {id(e.node) for e in clears}
    for e in clears:
        for anc in ancestors(e.node):
            if anc is root:
                break
            if isinstance(anc, (ast.Try, ast.While, ast.For, ast.AsyncFor, *FUNCTION_TYPES, ast.BoolOp, ast.IfExp, ast.comprehension)):
                return False  # a handler, an inner loop, a short-circuit: not a plain branch
    return not _block_runs(getattr(root, "body", []), targets)


def _block_runs(stmts: list[ast.stmt], targets: set[int]) -> bool:
    """Every path through ``stmts`` runs one of ``targets``."""
    return any(_stmt_runs(st, targets) for st in stmts)


def _stmt_runs(st: ast.stmt, targets: set[int]) -> bool:
    if isinstance(st, ast.If):
        return _block_runs(st.body, targets) and _block_runs(st.orelse, targets)
    if isinstance(st, (ast.With, ast.AsyncWith)):
        return _block_runs(st.body, targets)
    if isinstance(st, (ast.Try, ast.For, ast.AsyncFor, ast.While, *FUNCTION_TYPES, ast.ClassDef)) or type(st).__name__ == "Match":
        return False
    return any(id(n) in targets for n in ast.walk(st))


def has_jump(root: ast.AST) -> bool:
    """``root``'s body may leave an iteration early (continue / break / return / raise)."""
    stack: list[ast.AST] = list(getattr(root, "body", []))
    while stack:
        n = stack.pop()
        if isinstance(n, (ast.Continue, ast.Break, ast.Return, ast.Raise)):
            return True
        if isinstance(n, (*FUNCTION_TYPES, ast.ClassDef, ast.Lambda)):
            continue
        stack.extend(ast.iter_child_nodes(n))
    return False
