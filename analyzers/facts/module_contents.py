"""Which batch-norm layers a module object holds, computed from how it is built.

Follows the construction of a module: a torch.nn batch-norm layer itself; ``nn.Sequential`` /
``nn.ModuleList`` arguments, also ``*layers`` where ``layers`` is a list literal or is filled by
``layers.append(...)``; the ``self.x = ...`` attributes of a local or project ``nn.Module``
class (and its local bases); a helper method or function that returns one of these; a class
passed as a parameter (``block`` in ``ResNet(BasicBlock, ...)``), through what the file's call
sites pass. Answers the construction node of one batch-norm layer that proves it, or None
(none found, or unknown). ``batch_norm_names`` answers the dotted names (as
``named_parameters()`` gives them) of the batch-norm layers the construction proves, from
the same paths plus the catalogue's layer names of zoo models (PIT302's name tests).
"""

from __future__ import annotations

import ast

from ..catalogue import torch_api
from ..semantic.callsites import UNKNOWN, argument_for, call_site_arguments, calls_named, constructor_calls, parameter_slot
from .flow import flow_of
from ..semantic.model import ClassInfo, SemanticModel
from ..syntax.tree import parent

MAX_DEPTH = 6


def batch_norm_in(model: SemanticModel, expr: ast.AST, depth: int = 0) -> tuple[SemanticModel, ast.Call] | None:
    """A batch-norm layer inside the module ``expr`` holds: (its model, its construction)."""
    if depth > MAX_DEPTH:
        return None
    if model._is_self(expr):
        cls = model.enclosing_class(expr)
        return _in_class(model, cls, depth + 1) if cls is not None else None
    for v in model.values(expr, module_identity=True):
        found = _in_node(v.model, v.node, depth + 1)
        if found is not None:
            return found
    return None


def _in_node(model: SemanticModel, node: ast.AST, depth: int) -> tuple[SemanticModel, ast.Call] | None:
    if depth > MAX_DEPTH:
        return None
    if isinstance(node, ast.arg):
        for _, arg in _param_arguments(model, node) or ():
            found = batch_norm_in(model, arg, depth + 1)
            if found is not None:
                return found
        return None
    if not isinstance(node, ast.Call):
        return None
    name = model.call_name(node)
    if name in torch_api.BN_CLASSES:
        if any(k.arg == "track_running_stats" and isinstance(k.value, ast.Constant) and k.value.value is False for k in node.keywords):
            return None
        return model, node
    if name in torch_api.CONTAINERS:
        for a in node.args:
            items = _list_items(model, a.value) if isinstance(a, ast.Starred) else [a]
            if isinstance(a, (ast.List, ast.Tuple)):
                items = list(a.elts)
            for item in items:
                found = batch_norm_in(model, item, depth + 1) if not isinstance(item, ast.Call) else _in_node(model, item, depth + 1)
                if found is not None:
                    return found
        return None
    cls = _class_called(model, node.func)
    if cls is not None:
        return _in_class(cls[0], cls[1], depth + 1)
    if name is not None and not torch_api.in_nn(name):
        facts = flow_of(model).model_class_facts(node)  # zoo models (torchvision) known to hold batch norm
        if facts is not None and facts[0]:
            return model, node
    return None


def _class_called(model: SemanticModel, func: ast.AST) -> tuple[SemanticModel, ClassInfo] | None:
    """The module class a constructor call runs: local, from the project, or a class parameter."""
    cls = model.local_class_of(func)
    if cls is not None:
        return model, cls
    if isinstance(func, ast.Name):
        for b in model.lookup(func.id, func):
            if b.kind == "param" and isinstance(b.node, ast.arg):
                for _, arg in _param_arguments(model, b.node) or ():
                    found = _class_called(model, arg)
                    if found is not None:
                        return found
                return None
    if isinstance(func, (ast.Name, ast.Attribute)):
        return model.external_class(func)
    return None


def _in_class(model: SemanticModel, cls: ClassInfo, depth: int) -> tuple[SemanticModel, ast.Call] | None:
    if depth > MAX_DEPTH or not model.is_nn_module(cls):
        return None
    for values in cls.attrs.values():
        for value in values:
            found = _in_node(model, value, depth + 1) if isinstance(value, ast.Call) else None
            if found is None and isinstance(value, ast.Call):
                returns = model.local_call_returns(value)
                for r in returns or ():
                    for v in model.values(r, module_identity=True):
                        found = found or _in_node(v.model, v.node, depth + 1)
            if found is not None:
                return found
    for base in model.base_classes(cls):
        found = _in_class(model, base, depth + 1)
        if found is not None:
            return found
    return None


def _list_items(model: SemanticModel, name: ast.AST) -> list[ast.expr]:
    """The items of a list built in one function: its literal and what ``.append`` adds."""
    if not isinstance(name, ast.Name):
        return []
    items: list[ast.expr] = []
    func = model.enclosing_function(name)
    for b in model.lookup(name.id, name):
        if isinstance(b.value, (ast.List, ast.Tuple)):
            items.extend(b.value.elts)
    for call in calls_named(model, "append"):
        f = call.func
        if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == name.id and call.args:
            if model.enclosing_function(call) is func:
                items.append(call.args[0])
    return items


def _param_arguments(model: SemanticModel, param: ast.arg) -> list[tuple[ast.Call, ast.expr]] | None:
    """What call sites pass to ``param``: of a function or method, or of a class's ``__init__``
    (the calls that construct the class)."""
    slot = parameter_slot(param)
    if slot is None:
        return None
    func, index = slot
    if func.name == "__init__" and isinstance(parent(func), ast.ClassDef):
        out = []
        for call in constructor_calls(model, parent(func)):  # type: ignore[arg-type]
            arg = argument_for(call, param, index)
            if arg is not UNKNOWN and arg is not None:
                out.append((call, arg))
        return out
    return call_site_arguments(model, param)


def batch_norm_names(model: SemanticModel, expr: ast.AST, depth: int = 0) -> list[str]:
    """Dotted names of batch-norm layers inside the module ``expr`` holds, as
    ``named_parameters()`` calls them (before ``.weight`` / ``.bias``; "" for a batch-norm
    layer itself): those its construction proves (``self.x`` attributes, ``nn.Sequential``
    positions, what the catalogue knows of zoo models). Some, not all: a name not listed may
    still be one."""
    if depth > MAX_DEPTH:
        return []
    if model._is_self(expr):
        cls = model.enclosing_class(expr)
        return _names_in_class(model, cls, depth + 1) if cls is not None else []
    out: list[str] = []
    for v in model.values(expr, module_identity=True):
        out.extend(_names_in_node(v.model, v.node, depth + 1))
    return out


def _names_in_node(model: SemanticModel, node: ast.AST, depth: int) -> list[str]:
    if depth > MAX_DEPTH:
        return []
    if isinstance(node, ast.arg):
        return [n for _, arg in _param_arguments(model, node) or () for n in batch_norm_names(model, arg, depth + 1)]
    if not isinstance(node, ast.Call):
        return []
    name = model.call_name(node)
    if name in torch_api.BN_CLASSES:
        tracks = not any(k.arg == "track_running_stats" and isinstance(k.value, ast.Constant) and k.value.value is False for k in node.keywords)
        return [""] if tracks else []
    if name in torch_api.CONTAINERS:
        items = node.args[0].elts if name != torch_api.SEQUENTIAL and len(node.args) == 1 and isinstance(node.args[0], (ast.List, ast.Tuple)) else node.args
        if any(isinstance(a, ast.Starred) for a in items):
            return []  # positions not known
        out = []
        for i, item in enumerate(items):
            inner = _names_in_node(model, item, depth + 1) if isinstance(item, ast.Call) else batch_norm_names(model, item, depth + 1)
            out.extend(f"{i}.{n}" if n else str(i) for n in inner)
        return out
    cls = _class_called(model, node.func)
    if cls is not None:
        return _names_in_class(cls[0], cls[1], depth + 1)
    zoo = torch_api.zoo_model(name)
    return list(zoo.batch_norm_names) if zoo is not None else []


def _names_in_class(model: SemanticModel, cls: ClassInfo, depth: int) -> list[str]:
    if depth > MAX_DEPTH or not model.is_nn_module(cls):
        return []
    out: list[str] = []
    for attr, values in cls.attrs.items():
        for value in values:
            if isinstance(value, ast.Call):
                out.extend(f"{attr}.{n}" if n else attr for n in _names_in_node(model, value, depth + 1))
    for base in model.base_classes(cls):
        out.extend(_names_in_class(model, base, depth + 1))
    return out
