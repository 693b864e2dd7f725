"""Definitions in the other modules of the user's project, found by their imports.

``import utils`` next to ``train.py``, ``from .tools import tidy``, ``from models.net import
Net``: the module is looked up as a file beside the importing one (or one or two folders up,
where a script imports its package by name), read once with its own semantic model
(:func:`load_module_model`, cached by path and modification time), and the top-level function
or class of that name is returned. No jedi: it answers the plain cases even when jedi is off
or its time budget is spent; anything else is None (unknown).
"""

from __future__ import annotations

import ast
import os

from .semantic import ClassInfo, SemanticModel, load_module_model, parent

FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef

_NOT_PROJECT = ("torch.", "torchvision.", "builtins.", "numpy.", "timm.", "transformers.")


def _module_of(m: SemanticModel, expr: ast.AST) -> tuple[SemanticModel, str] | None:
    """The other module of the project that defines ``expr`` (a name or ``module.name``), and the name."""
    if not m.path or not getattr(m, "_external", False) or not isinstance(expr, (ast.Name, ast.Attribute)):
        return None
    qual = m.qualified_name(expr)
    if qual is None or qual.startswith(_NOT_PROJECT):
        return None
    m.read_whole()  # the answer depends on the imports, and on another file
    level = len(qual) - len(qual.lstrip("."))
    parts = qual.lstrip(".").split(".")
    if len(parts) < 2 or not all(p.isidentifier() for p in parts):
        return None
    mod, name = parts[:-1], parts[-1]
    here = os.path.dirname(os.path.abspath(m.path))
    if level:
        for _ in range(level - 1):
            here = os.path.dirname(here)
        bases = [here]
    else:
        bases = [here, os.path.dirname(here), os.path.dirname(os.path.dirname(here))]
    for base in bases:
        for cand in (os.path.join(base, *mod) + ".py", os.path.join(base, *mod, "__init__.py")):
            if not os.path.isfile(cand) or os.path.abspath(cand) == os.path.abspath(m.path):
                continue
            other = load_module_model(cand)
            return (other, name) if other is not None else None
    return None


def project_function(m: SemanticModel, expr: ast.AST) -> tuple[SemanticModel, FunctionNode] | None:
    """The top-level function ``expr`` names in another module of the project."""
    found = _module_of(m, expr)
    if found is None:
        return None
    other, name = found
    fs = [f for f in other.functions.get(name, []) if isinstance(parent(f), ast.Module)]
    return (other, fs[0]) if len(fs) == 1 else None


def project_class(m: SemanticModel, expr: ast.AST) -> tuple[SemanticModel, ClassInfo] | None:
    """The top-level class ``expr`` names in another module of the project."""
    found = _module_of(m, expr)
    if found is None:
        return None
    other, name = found
    info = other.class_named(name)
    return (other, info) if info is not None and isinstance(parent(info.node), ast.Module) else None
