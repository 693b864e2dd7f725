"""Type inference through jedi, for what the local semantic model cannot resolve.

The local model sees one file. When a criterion or a model is built in another module of the
user's project (``from .losses import build_criterion``), jedi follows the import and infers
the type. Jedi can be slow on a cold cache, so each file gets a time budget: once it is spent
no further queries are made for that file and the rules fall back to "unknown" (silence).
Results are cached per file version and position. Off with ``--no-jedi`` / ``jedi = false``.
"""

from __future__ import annotations

import ast
import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ..syntax.source import split_lines

log = logging.getLogger(__name__)

DEFAULT_BUDGET_S = 1.0


@dataclass(frozen=True)
class JediOptions:
    enabled: bool = True
    budget_s: float = DEFAULT_BUDGET_S
    python_path: str | None = None  # the interpreter whose site-packages jedi searches
    project_root: str | None = None


@lru_cache(maxsize=8)
def _environment(python_path: str | None) -> Any:
    import jedi

    if not python_path:
        return None  # jedi's default: the running interpreter
    try:
        return jedi.create_environment(python_path, safe=False)
    except Exception as exc:  # an invalid interpreter path must not break analysis
        log.warning("jedi: cannot use interpreter %s (%s); using the default environment", python_path, exc)
        return None


@lru_cache(maxsize=32)
def _project(root: str | None) -> Any:
    import jedi

    return jedi.Project(root) if root else None


_jedi_lock = threading.Lock()  # jedi's caches are not thread-safe


@lru_cache(maxsize=8)
def _search_path(python_path: str | None) -> tuple[str, ...]:
    """The folders where jedi looks for installed packages: its environment's ``sys.path``."""
    import jedi

    try:
        env = _environment(python_path) or jedi.get_default_environment()
        return tuple(p for p in env.get_sys_path() if p and os.path.isdir(p))
    except Exception as exc:  # no usable environment: jedi would find nothing either
        log.debug("jedi: no sys.path for %s (%s)", python_path, exc)
        return ()


@lru_cache(maxsize=4096)
def _importable(python_path: str | None, top: str) -> bool:
    """Whether a top-level module ``top`` exists on jedi's search path: a package folder
    (namespace packages included), a ``.py`` file or a compiled extension. An editable install
    whose import hook maps ``top`` elsewhere counts only where jedi's own search finds it too."""
    if top in sys.builtin_module_names:
        return True
    for folder in _search_path(python_path):
        if os.path.isdir(os.path.join(folder, top)) or os.path.isfile(os.path.join(folder, top + ".py")):
            return True
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        if any(n.startswith(top + ".") and n.endswith((".so", ".pyd", ".pyi")) for n in names):
            return True
    return False


class JediInference:
    def __init__(self, text: str, path: str | None, options: JediOptions) -> None:
        self.text = text
        self.path = path
        self.options = options
        self.spent_s = 0.0
        self.queries = 0
        self.exhausted = False
        self._script: Any = None
        self._cache: dict[tuple[int, int], list[str]] = {}

    def _get_script(self) -> Any:
        if self._script is None:
            import jedi

            root = self.options.project_root or (os.path.dirname(os.path.abspath(self.path)) if self.path else None)
            self._script = jedi.Script(
                self.text,
                path=self.path,
                environment=_environment(self.options.python_path),
                project=_project(root),
            )
        return self._script

    def can_import(self, top: str) -> bool:
        """Whether jedi could find the top-level module ``top`` at all (the project's own
        modules are found before jedi is asked): a name from a package that is not installed
        costs a jedi query (a parse of the whole file) for an answer known to be None."""
        project = self.options.project_root
        if project and (os.path.isdir(os.path.join(project, top)) or os.path.isfile(os.path.join(project, top + ".py"))):
            return True
        return _importable(self.options.python_path, top)

    def infer(self, node: ast.AST) -> list[str]:
        """Full names of the types jedi infers for ``node`` (a Name, Attribute or Call)."""
        if isinstance(node, ast.Call):
            node = node.func
            want_return = True
        else:
            want_return = False
        line = getattr(node, "end_lineno", None)
        col = getattr(node, "end_col_offset", None)
        if line is None or col is None or col == 0:
            return []
        key = (line, col * (-1 if want_return else 1))
        if key in self._cache:
            return self._cache[key]
        if self.exhausted or self.spent_s >= self.options.budget_s:
            self.exhausted = True
            return []
        start = time.perf_counter()
        names: list[str] = []
        try:
            with _jedi_lock:
                script = self._get_script()
                for d in script.infer(line, _char_col(self.text, line, col) - 1):
                    if want_return:
                        for sig in d.get_signatures() if d.type == "class" else []:
                            names.append(d.full_name or "")
                            break
                        if d.type == "function":
                            for r in d.execute():
                                if r.full_name:
                                    names.append(r.full_name)
                    elif d.type == "instance" or d.type == "class" or d.type == "module":
                        if d.full_name:
                            names.append(d.full_name)
        except Exception as exc:  # jedi raises on odd code; inference is best-effort
            log.debug("jedi failed at %s:%s: %s", self.path, line, exc)
        finally:
            self.spent_s += time.perf_counter() - start
            self.queries += 1
        self._cache[key] = names
        return names


    def goto(self, node: ast.AST) -> tuple[str, int] | None:
        """Where the name at ``node`` is defined in another file: (path, 1-based line)."""
        line = getattr(node, "end_lineno", None)
        col = getattr(node, "end_col_offset", None)
        if line is None or col is None or col == 0:
            return None
        key = (line, -(10**6) - col)
        if key in self._cache:
            hit = self._cache[key]
            return (hit[0], int(hit[1])) if hit else None
        if self.exhausted or self.spent_s >= self.options.budget_s:
            self.exhausted = True
            return None
        start = time.perf_counter()
        found: list[str] = []
        try:
            with _jedi_lock:
                for d in self._get_script().goto(line, _char_col(self.text, line, col) - 1, follow_imports=True):
                    if d.module_path and d.line and str(d.module_path) != (self.path or ""):
                        found = [str(d.module_path), str(d.line)]
                        break
        except Exception as exc:
            log.debug("jedi goto failed at %s:%s: %s", self.path, line, exc)
        finally:
            self.spent_s += time.perf_counter() - start
            self.queries += 1
        self._cache[key] = found
        return (found[0], int(found[1])) if found else None


def _char_col(text: str, line: int, byte_col: int) -> int:
    lines = split_lines(text)  # not str.splitlines: a form feed does not end a line
    if 0 < line <= len(lines):
        return len(lines[line - 1].encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))
    return byte_col
