"""The user's project: where its root is, and which file a module name of it refers to.

The root is found as build tools find it: the nearest ancestor directory holding
``pyproject.toml``, ``setup.cfg``, ``setup.py`` or ``.git`` (with or without a
``[tool.torchpit]`` table). The semantic model resolves imports of the project's own modules
through :func:`module_file` before it asks jedi, which then serves only installed packages:

- a relative import (``from .resnet import ResNet``) against the importing file's package;
- an absolute one (``from models.net import Net``) against the root (and its ``src/``); with no
  root marker, against the importing file's directory and its ancestors, nearest first, as
  running the script from there (``python -m training.train``) would.

Only files that exist are returned; anything else is unknown (None), and an unknown never
produces a finding. Nothing is cached here: a language server runs for hours while modules are
added and removed, and a lookup is a few ``stat`` calls (the models of the files found are
cached by path and mtime in ``semantic.load_module_model``).
"""

from __future__ import annotations

import ast
import os
from typing import Any, Callable

from ..catalogue import torch_api
from ..syntax.tree import parent

ROOT_MARKERS = ("pyproject.toml", "setup.cfg", "setup.py", ".git")
MAX_ANCESTORS = 4  # how far up an absolute import is looked for when there is no root marker


def project_root(directory: str) -> str | None:
    """The nearest ancestor of ``directory`` (itself included) that holds a root marker."""
    cur = os.path.abspath(directory)
    while True:
        if any(os.path.exists(os.path.join(cur, m)) for m in ROOT_MARKERS):
            return cur
        up = os.path.dirname(cur)
        if up == cur:
            return None
        cur = up


def _as_file(base: str, parts: list[str]) -> str | None:
    stem = os.path.join(base, *parts)
    for candidate in (stem + ".py", os.path.join(stem, "__init__.py")):
        if os.path.isfile(candidate):
            return candidate
    return None


def _module_file(directory: str, dotted: str) -> str | None:
    level = len(dotted) - len(dotted.lstrip("."))
    parts = [p for p in dotted[level:].split(".") if p]
    if level:
        base = directory
        for _ in range(level - 1):
            base = os.path.dirname(base)
        if not parts:  # ``from . import x``: the package itself
            init = os.path.join(base, "__init__.py")
            return init if os.path.isfile(init) else None
        return _as_file(base, parts)
    if not parts:
        return None
    root = project_root(directory)
    if root is not None:
        bases = [root, os.path.join(root, "src")]
        # A script run from its own folder inside the project imports its siblings.
        if directory != root:
            bases.insert(0, directory)
    else:
        bases, cur = [], directory
        for _ in range(MAX_ANCESTORS + 1):
            bases.append(cur)
            up = os.path.dirname(cur)
            if up == cur:
                break
            cur = up
    for base in bases:
        found = _as_file(base, parts)
        if found is not None:
            return found
    return None


def module_file(importer: str | None, dotted: str) -> str | None:
    """The file of the project's module ``dotted`` (``"models.net"``, ``".resnet"``, ``"..utils"``)
    as imported from the file ``importer``; None when it is not a file of the project."""
    if not importer or not dotted:
        return None
    return _module_file(os.path.dirname(os.path.abspath(importer)), dotted)


def project_function(m: Any, func: ast.AST, load: "Callable[[str], Any] | None" = None, _qual: str | None = None, _depth: int = 0) -> "tuple[Any, ast.FunctionDef | ast.AsyncFunctionDef] | None":
    """The top-level function ``func`` (a name or attribute in the semantic model ``m``) names in
    another module of the project (found through the project's module index, also re-exported
    by a package), as ``(that module's model, the def)``, or None. ``load`` gives a module's
    model by path (the model's own loader when not given)."""
    if not getattr(m, "_external", False):
        return None
    load = load if load is not None else getattr(m, "loader", None)
    if load is None:
        return None
    if _qual is None:
        if not isinstance(func, (ast.Name, ast.Attribute)):
            return None
        _qual = m.qualified_name(func)
        if _qual is None or _qual.startswith((torch_api.TORCH, torch_api.TORCHVISION, "builtins.", torch_api.NUMPY)):
            return None
        m.read_outside()  # the answer depends on the imports, and on another module
    stripped = _qual.lstrip(".")
    dots = _qual[: len(_qual) - len(stripped)]
    if _depth > 3 or not ("." in stripped or dots):
        return None
    head, _, name = stripped.rpartition(".")
    path = module_file(m.path, dots + head)
    other = load(path) if path else None
    if other is None:
        return None
    fs = [f for f in other.functions.get(name, []) if isinstance(parent(f), ast.Module)]
    if len(fs) == 1:
        return other, fs[0]
    bindings = other.module_scope.bindings.get(name, [])
    if not fs and len(bindings) == 1 and bindings[0].kind == "import" and bindings[0].qualname:
        return project_function(other, func, load, bindings[0].qualname, _depth + 1)
    return None
