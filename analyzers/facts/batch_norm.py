"""Batch norm frozen by ``requires_grad``: which statement freezes batch-norm parameters (picked
by ``isinstance``, by parameter name, or a whole module holding batch norm) and whether anything
puts those layers in eval mode. Queried by PIT302 (rules/pitfalls/batchnorm_frozen_with_requires_grad.py).
"""

from __future__ import annotations

import ast

from ..catalogue import torch_api
from ..semantic.model import COMPREHENSIONS, FUNCTION_TYPES, SemanticModel
from ..syntax.tree import ancestors, parent
from ..catalogue.torch_api import BN_CLASSES
from .flow import flow_of, text_of
from .freezing import Freeze
from .grad import module_objects
from .module_contents import batch_norm_in, batch_norm_names


def _isinstance_bn(test: ast.AST, m: SemanticModel) -> str | None:
    """``isinstance(m, nn.BatchNorm2d)`` / ``isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))`` /
    ``isinstance(m, _BatchNorm)`` / ``'BatchNorm' in m.__class__.__name__``: the variable tested."""
    for n in ast.walk(test):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" and len(n.args) == 2:
            classes = n.args[1].elts if isinstance(n.args[1], ast.Tuple) else [n.args[1]]
            if any(_is_batch_norm_class(m, c) for c in classes):
                return text_of(n.args[0])
        named = _class_name_test(n)
        if named is not None:
            return _module_of_classname(named, m)
    return None


def _is_batch_norm_class(m: SemanticModel, expr: ast.AST, depth: int = 0) -> bool:
    """``expr`` names a batch-norm class: torch's (or their private bases ``_BatchNorm``,
    ``_NormBase``), or a class of this file or the project whose bases are."""
    if depth > 4:
        return False
    q = m.qualified_name(expr)
    if q in BN_CLASSES or q in torch_api.BATCH_NORM_BASES:
        return True
    found = m.local_class_of(expr)
    owner = m
    if found is None and isinstance(expr, (ast.Name, ast.Attribute)):
        ext = m.external_class(expr)
        if ext is not None:
            owner, found = ext
    return found is not None and any(_is_batch_norm_class(owner, b, depth + 1) for b in found.node.bases)


def _module_of_classname(expr: ast.AST, m: SemanticModel) -> str | None:
    """``classname`` (= ``m.__class__.__name__``) or ``type(m).__name__`` -> ``m``."""
    for v in m.values(expr):
        t = text_of(v.node) or ""
        if ".__class__" in t:
            return t.split(".__class__")[0]
        if t.startswith("type(") and ")" in t:
            return t[5 : t.index(")")]
    return text_of(expr)


def _class_name_test(n: ast.AST) -> ast.AST | None:
    """``x.__class__.__name__.startswith('BatchNorm')`` / ``'BatchNorm' in type(x).__name__``:
    the expression whose class name is tested, else None."""
    if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in ("find", "startswith", "__contains__") and n.args:
        a = n.args[0]
        if isinstance(a, ast.Constant) and isinstance(a.value, str) and "BatchNorm" in a.value:
            return n.func.value
    if isinstance(n, ast.Compare) and isinstance(n.left, ast.Constant) and isinstance(n.left.value, str) and "BatchNorm" in n.left.value and n.comparators:
        return n.comparators[0]
    return None


def _picks_batch_norm_by_name(test: ast.AST, site: ast.AST, m: SemanticModel) -> bool:
    """``for name, p in X.named_parameters(): if <test on name>: <freeze p>`` where the test
    picks a batch-norm parameter of ``X``: it is true of ``<layer>.weight`` or ``<layer>.bias``
    for a batch-norm layer that ``X``'s construction proves (``module_contents.batch_norm_names``).
    What the name says proves nothing (``norm`` is also LayerNorm, which has no running
    statistics); a module whose layers are not known is unknown, and unknown is not batch norm."""
    loop = next((a for a in ancestors(test) if isinstance(a, (ast.For, ast.AsyncFor))), None)
    if loop is None or not isinstance(loop.target, ast.Tuple) or len(loop.target.elts) != 2:
        return False
    name_var, param_var = loop.target.elts
    it = loop.iter
    if not (isinstance(name_var, ast.Name) and isinstance(param_var, ast.Name) and isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute)):
        return False
    if it.func.attr != "named_parameters" or it.args or it.keywords:
        return False
    if not _is_var(frozen_owner(site), param_var.id):
        return False  # it freezes something else than the loop's parameter
    for layer in batch_norm_names(m, it.func.value):
        for suffix in ("weight", "bias"):
            if _name_test(test, name_var.id, f"{layer}.{suffix}" if layer else suffix) is True:
                return True
    return False


def frozen_owner(site: ast.AST) -> ast.expr | None:
    """What ``site`` (a ``freeze_site``) freezes: ``x`` of ``x.requires_grad = False`` /
    ``x.requires_grad_(False)``."""
    if isinstance(site, ast.Assign):
        target = next((t for t in site.targets if isinstance(t, ast.Attribute)), None)
        return target.value if target is not None else None
    if isinstance(site, ast.Call) and isinstance(site.func, ast.Attribute):
        return site.func.value
    return None


def _name_test(test: ast.AST, var: str, value: str) -> bool | None:
    """The value of ``test`` when ``var`` holds the string ``value``: string membership,
    ``startswith`` / ``endswith``, ``==`` / ``!=``, ``and`` / ``or`` / ``not``; None for anything else."""
    if isinstance(test, ast.BoolOp):
        parts = [_name_test(v, var, value) for v in test.values]
        if isinstance(test.op, ast.And):
            return False if False in parts else (None if None in parts else True)
        return True if True in parts else (None if None in parts else False)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _name_test(test.operand, var, value)
        return None if inner is None else not inner
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        lit = _string(left) if _is_var(right, var) else _string(right) if _is_var(left, var) else None
        if lit is None:
            return None
        if isinstance(op, (ast.In, ast.NotIn)) and _is_var(right, var):
            return (lit in value) == isinstance(op, ast.In)
        if isinstance(op, (ast.Eq, ast.NotEq)):
            return (lit == value) == isinstance(op, ast.Eq)
        return None
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute) and _is_var(test.func.value, var) and len(test.args) == 1 and not test.keywords:
        arg = test.args[0]
        lits = [_string(e) for e in arg.elts] if isinstance(arg, ast.Tuple) else [_string(arg)]
        if any(x is None for x in lits):
            return None
        if test.func.attr == "startswith":
            return any(value.startswith(x) for x in lits)  # type: ignore[arg-type]
        if test.func.attr == "endswith":
            return any(value.endswith(x) for x in lits)  # type: ignore[arg-type]
        if test.func.attr == "__contains__" and len(lits) == 1:
            return lits[0] in value  # type: ignore[operator]
    return None


def _is_var(node: ast.AST, var: str) -> bool:
    return isinstance(node, ast.Name) and node.id == var


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def freeze_site(node: ast.AST) -> ast.AST | None:
    """``x.requires_grad = False`` / ``x.requires_grad_(False)``: the node to report."""
    if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and node.value.value is False:
        if any(isinstance(t, ast.Attribute) and t.attr == "requires_grad" for t in node.targets):
            return node
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requires_grad_":
        a = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "requires_grad"), None)
        if isinstance(a, ast.Constant) and a.value is False:
            return node
    return None


def _converted_classes(m: SemanticModel, fr: Freeze) -> set[str] | None:
    """Batch-norm classes that a converter called on the frozen module replaces (``FrozenBN.
    convert(self)``: a function whose body tests ``isinstance(x, <batch norm classes>)``);
    set() when no call passes the module on; None when a callee that may convert is unknown."""
    covered: set[str] = set()
    target = text_of(fr.target)
    funcs = {m.enclosing_function(fr.site), m.enclosing_function(fr.statement)} - {None}
    for func in funcs:
        for call in ast.walk(func):
            if not isinstance(call, ast.Call) or not any(text_of(a) == target or (m._is_self(a) and m._is_self(fr.target)) for a in call.args):
                continue
            if call is fr.site:
                continue
            callee = _converter(m, call)
            if callee is None:
                continue
            cm, body = callee
            if body is False:
                return None
            covered |= _isinstance_bn_classes(cm, body)
    return covered


def _converter(m: SemanticModel, call: ast.Call):
    """(model, function) a call runs: a local function, or a method of a local or project class
    called on the class (``FrozenBN.convert(module)``); (m, False) when unknown, None when it is
    plainly not a converter (a torch call, the freezing helper itself)."""
    f = call.func
    q = m.call_name(call)
    if q is not None and q.startswith((torch_api.TORCH, "builtins.")):
        return None
    if isinstance(f, ast.Name):
        bs = m.lookup(f.id, f)
        if len(bs) == 1 and bs[0].kind == "def":
            return m, bs[0].node
        return m, False
    if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name):
        cls = m.local_class_of(f.value)
        em = m
        if cls is None:
            ext = m.external_class(f.value)
            if ext is None:
                return m, False
            em, cls = ext
        method = em.find_method(cls, f.attr)
        return (em, method) if method is not None else (m, False)
    return None


def _isinstance_bn_classes(m: SemanticModel, func) -> set[str]:
    out: set[str] = set()
    for n in ast.walk(func):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "isinstance" and len(n.args) == 2:
            for v in m.values(n.args[1]):
                classes = v.node.elts if isinstance(v.node, ast.Tuple) else [v.node]
                for c in classes:
                    q = m.qualified_name(c)
                    if q in BN_CLASSES:
                        out.add(q)
    return out


def _runs_in_train_mode(m: SemanticModel, target: ast.AST, objs: set[int]) -> bool:
    """The frozen module (or the module it is part of) is put in train mode, or run in a loop."""
    owners = set(objs)
    base = target.value if isinstance(target, ast.Attribute) else None
    if base is not None:
        owners |= {id(o.node) for o in (module_objects(m, base) or [])}
    texts = {text_of(target), text_of(base) if base is not None else None} - {None}
    for call in flow_of(m).nodes(ast.Call):
        f = call.func
        recv = f.value if isinstance(f, ast.Attribute) and f.attr in ("forward", "train", "__call__") else f
        if not isinstance(recv, (ast.Name, ast.Attribute)):
            continue
        if text_of(recv) not in texts and not any(id(o.node) in owners for o in (module_objects(m, recv) or [])):
            continue
        if (isinstance(f, ast.Attribute) and f.attr == "train") or m.enclosing_loops(call):
            return True
        if any(isinstance(a, COMPREHENSIONS) for a in ancestors(call)):
            return True
    return False


def unevaluated_frozen_module(fr: Freeze, m: SemanticModel):
    """(model, batch-norm construction) when ``fr`` freezes a module holding batch norm that
    nothing puts in eval mode."""
    m = m
    found = batch_norm_in(m, fr.target)
    if found is None:
        return None
    objs = {id(o.node) for o in (module_objects(m, fr.target) or [])}
    cls = m.enclosing_class(fr.site)
    evals = trains = 0
    for call in flow_of(m).nodes(ast.Call):
        f = call.func
        if not isinstance(f, ast.Attribute) or f.attr not in ("eval", "train"):
            continue
        off = f.attr == "eval" or (bool(call.args) and isinstance(call.args[0], ast.Constant) and call.args[0].value is False)
        recv = f.value
        if text_of(recv) == text_of(fr.target) or any(id(o.node) in objs for o in (module_objects(m, recv) or [])):
            evals += off
            trains += not off
    if evals and not trains:
        return None  # the frozen module is put in eval mode, and nothing puts it back in train mode
    if cls is not None and m.find_method(cls, "train") is not None:
        return None  # the class decides its own train mode
    if cls is None and not _runs_in_train_mode(m, fr.target, objs):
        return None  # never trained or run in a loop here (a conversion script): no statistics drift
    covered = _converted_classes(m, fr)
    if covered is None or found[0].call_name(found[1]) in covered:
        return None  # replaced by a frozen batch norm (or by something we cannot see)
    return found[0], found[1], covered


def freezes_batch_norm(site: ast.AST, m: SemanticModel):
    """(description, module variable or None, the guarding if) when ``site`` freezes batch norm."""
    for anc in ancestors(site):
        if isinstance(anc, ast.If):
            var = _isinstance_bn(anc.test, m)
            if var is not None:
                return ("layers (picked by isinstance)", var, anc)
            if _picks_batch_norm_by_name(anc.test, site, m):
                return ("parameters (picked by name)", None, anc)
        if isinstance(anc, ast.comprehension) or isinstance(anc, (ast.For, ast.AsyncFor)):
            it = anc.iter
            if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("parameters", "named_parameters"):
                owner = it.func.value
                if _is_batch_norm_layer(m, owner):
                    return ("layer", text_of(owner), None)
        if isinstance(anc, FUNCTION_TYPES):
            break
    owner = frozen_owner(site)
    if isinstance(site, ast.Call) and owner is not None and _is_batch_norm_layer(m, owner):
        return ("layer", text_of(owner), None)
    if isinstance(site, ast.Assign) and isinstance(owner, ast.Attribute) and owner.attr in ("weight", "bias") and _is_batch_norm_layer(m, owner.value):
        return ("layer", text_of(owner.value), None)
    return None


def _is_batch_norm_layer(m: SemanticModel, expr: ast.AST) -> bool:
    """``expr`` (``self.bn1``, ``layer``) is a batch-norm layer: every value the model finds for it
    is a construction of a batch-norm class. Its name proves nothing (``self.bn`` may be a
    Linear); no value found is unknown, and unknown is not batch norm."""
    values = m.values(expr)
    return bool(values) and all(isinstance(v.node, ast.Call) and v.model.call_name(v.node) in BN_CLASSES for v in values)


def evaluates_batch_norm_somewhere(m: SemanticModel) -> bool:
    """Something in the file puts batch-norm layers in eval mode (then the freezing is done right)."""
    for n in flow_of(m).nodes(ast.FunctionDef, ast.If):
        if isinstance(n, FUNCTION_TYPES) and n.name == "train" and isinstance(parent(n), ast.ClassDef):
            if any(isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and c.func.attr in ("eval", "train") for c in ast.walk(n)):
                return True
        if isinstance(n, ast.If) and (_isinstance_bn(n.test, m) is not None):
            for c in ast.walk(n):
                if isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute) and (
                    c.func.attr == "eval" or (c.func.attr == "train" and c.args and isinstance(c.args[0], ast.Constant) and c.args[0].value is False)
                ):
                    return True
                if isinstance(c, ast.Assign) and any(isinstance(t, ast.Attribute) and t.attr in ("training", "momentum", "track_running_stats") for t in c.targets):
                    return True
    return False
