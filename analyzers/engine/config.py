"""Configuration: ``[tool.torchpit]`` in the nearest ``pyproject.toml``, plus overrides.

Keys (kebab-case; snake_case is accepted too):

- ``select`` / ``extend-select``: rule selectors (``ALL``, a code prefix such as ``PIT1`` or
  ``PIT101``, or a rule name such as ``softmax-before-cross-entropy``). Default: ``["ALL"]``.
- ``ignore``: selectors to switch off.
- ``per-file-ignores``: ``{"glob" = ["PIT2"]}``, globs relative to the pyproject's folder.
- ``exclude`` / ``extend-exclude``: gitignore-style patterns of paths not to analyze.
- ``severity``: ``{"PIT1" = "error"}``, code prefix to error/warning/info/hint; the longest
  prefix wins.
- ``jedi``: true/false, type inference across modules. ``jedi-timeout``: seconds per file.
- ``respect-gitignore``: skip files matched by ``.gitignore`` (default true).
- ``max-file-size``: bytes; a file above it is not analysed (for a notebook, its code cells'
  source counts). Default :data:`DEFAULT_MAX_FILE_SIZE`, shared with the language server's
  ``torchpit.maxFileSize``; ``0``: no limit.

An unknown key or a bad value raises :class:`ConfigError` naming the file, the key and the problem.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import sys
from dataclasses import dataclass, replace
from fnmatch import fnmatch
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from ..core.diagnostics import Severity

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".venv", "venv", ".env", "env", "__pypackages__", "node_modules",
    ".tox", ".nox", ".mypy_cache", ".ruff_cache", ".pytest_cache", "__pycache__", "build", "dist",
    "site-packages", ".ipynb_checkpoints", ".torchpit_cache",
)
SELECTOR_RE = re.compile(r"^(ALL|PIT[0-9]{0,3})$")
KEYS = {
    "select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude",
    "severity", "jedi", "jedi-timeout", "respect-gitignore", "max-file-size",
}
# Bytes (UTF-8): above it a file is not analysed. The one default of `torchpit check`'s
# max-file-size and of the language server's torchpit.maxFileSize.
DEFAULT_MAX_FILE_SIZE = 1_000_000


class ConfigError(ValueError):
    """A configuration problem, with a message that names where it is."""


@dataclass(frozen=True)
class Config:
    select: tuple[str, ...] = ("ALL",)
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    severity: tuple[tuple[str, Severity], ...] = ()
    jedi: bool = True
    jedi_timeout: float = 1.0
    respect_gitignore: bool = True
    max_file_size: int = DEFAULT_MAX_FILE_SIZE  # 0: no limit
    root: str | None = None  # the folder of the pyproject.toml it came from
    source: str | None = None  # that pyproject.toml

    # ------------------------------------------------------------------ queries
    def is_enabled(self, code: str, path: str | None = None) -> bool:
        selected = any(_matches(sel, code) for sel in (*self.select, *self.extend_select))
        if not selected:
            return False
        # An explicit, more specific select wins over a broader ignore (as in ruff).
        best_select = max((_specificity(s) for s in (*self.select, *self.extend_select) if _matches(s, code)), default=-1)
        best_ignore = max((_specificity(s) for s in self.ignore if _matches(s, code)), default=-1)
        if best_ignore >= 0 and best_ignore >= best_select:
            return False
        if path is not None and self.per_file_ignores:
            rel = self.relative(path)
            for pattern, codes in self.per_file_ignores:
                if _glob_match(rel, pattern) and any(_matches(c, code) for c in codes):
                    return False
        return True

    def severity_for(self, code: str, default: Severity) -> Severity:
        best: tuple[int, Severity] | None = None
        for prefix, sev in self.severity:
            if _matches(prefix, code) and (best is None or _specificity(prefix) > best[0]):
                best = (_specificity(prefix), sev)
        return best[1] if best else default

    def relative(self, path: str) -> str:
        base = self.root or os.getcwd()
        try:
            return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
        except ValueError:
            return Path(path).as_posix()

    def fingerprint(self) -> str:
        """A stable digest of everything that changes analysis results (for caches)."""
        data = {
            "select": self.select, "extend_select": self.extend_select, "ignore": self.ignore,
            "pfi": self.per_file_ignores, "severity": [(p, s.value) for p, s in self.severity],
            "jedi": self.jedi, "jedi_timeout": self.jedi_timeout,
        }
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=list).encode()).hexdigest()[:16]

    def with_overrides(self, **changes: Any) -> "Config":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _specificity(selector: str) -> int:
    return 0 if selector == "ALL" else len(selector)


def _matches(selector: str, code: str) -> bool:
    if selector == "ALL":
        return True
    if SELECTOR_RE.match(selector):
        return code.startswith(selector)
    from .registry import rule_by_code

    rule = rule_by_code(selector)
    return rule is not None and rule.code == code


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.rstrip("/")
    return fnmatch(rel, pattern) or fnmatch(os.path.basename(rel), pattern) or rel.startswith(pattern + "/")


# ---------------------------------------------------------------------- validation
def _where(source: str, key: str) -> str:
    return f"{source}: [tool.torchpit] {key}"


def validate_selector(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a rule code or name, got {value!r}")
    sel = value.strip()
    from ..core.diagnostics import BUILTIN_CODES
    from .registry import all_rules, rule_by_code

    codes = [r.code for r in all_rules()]
    if SELECTOR_RE.match(sel.upper()) and (sel.upper() == "ALL" or any(c.startswith(sel.upper()) for c in codes)):
        return sel.upper()  # ALL, a rule's code, or a prefix of one: PIT999 selects nothing and is an error
    if any(c.startswith(sel.upper()) for c in BUILTIN_CODES):
        raise ConfigError(f"{where}: {value!r} is not a rule: PIT001-PIT004 report a problem with the input and are always shown")
    if rule_by_code(sel) is not None:
        return sel.lower()
    if SELECTOR_RE.match(sel.upper()):
        prefixes = sorted({c[: len(sel)] for c in codes})
        up = sel.upper()
        swaps = {up[:i] + up[i + 1] + up[i] + up[i + 2 :] for i in range(len(up) - 1)}
        swapped = [p for p in prefixes if p in swaps]  # two neighbouring digits swapped: PIT310
        hint = swapped[:1] or difflib.get_close_matches(sel.upper(), prefixes, n=1)
    else:
        hint = difflib.get_close_matches(sel, codes + [r.name for r in all_rules()], n=1)
    raise ConfigError(
        f"{where}: unknown rule selector {value!r}"
        + (f" (did you mean {hint[0]!r}?)" if hint else " (no rule has this code or name; see `torchpit rules`)")
    )


def _selectors(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of rule selectors, got {type(value).__name__}")
    return tuple(validate_selector(v, where) for v in value)


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: expected a list of strings")
    return tuple(value)


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def validate_size(value: Any, where: str) -> int:
    """A file size limit in bytes: an integer >= 0 (0: no limit)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"{where}: expected a size in bytes (0 for no limit), got {value!r}")
    return value


def describe_size(size: int) -> str:
    """A size as messages about the file size limit show it: ``1.2 MB``, ``5,000 bytes``."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def parse_severity_map(value: Any, where: str) -> tuple[tuple[str, Severity], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a table of code prefix = severity")
    out = []
    for prefix, sev in value.items():
        sel = validate_selector(prefix, where)
        try:
            out.append((sel, Severity.parse(sev)))
        except ValueError as exc:
            raise ConfigError(f"{where}.{prefix}: {exc}") from None
    return tuple(out)


def config_from_table(table: Mapping[str, Any], source: str, root: str | None, base: Config | None = None) -> Config:
    """Validate a ``[tool.torchpit]`` table (or an editor's settings) into a :class:`Config`."""
    base = base or Config()
    if not isinstance(table, Mapping):
        raise ConfigError(f"{source}: [tool.torchpit] must be a table, got {table!r}")
    values: dict[str, Any] = {}
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        where = _where(source, raw_key)
        if key not in KEYS:
            hint = difflib.get_close_matches(key, sorted(KEYS), n=1)
            raise ConfigError(f"{where}: unknown key" + (f" (did you mean {hint[0]!r}?)" if hint else ""))
        if key in ("select", "extend-select", "ignore"):
            values[key.replace("-", "_")] = _selectors(value, where)
        elif key == "per-file-ignores":
            if not isinstance(value, Mapping):
                raise ConfigError(f"{where}: expected a table of glob = [codes]")
            values["per_file_ignores"] = tuple((g, _selectors(c, f"{where}.{g!r}")) for g, c in value.items())
        elif key in ("exclude", "extend-exclude"):
            values[key.replace("-", "_")] = _strings(value, where)
        elif key == "severity":
            values["severity"] = parse_severity_map(value, where)
        elif key in ("jedi", "respect-gitignore"):
            values[key.replace("-", "_")] = _bool(value, where)
        elif key == "jedi-timeout":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{where}: expected a number of seconds >= 0, got {value!r}")
            values["jedi_timeout"] = float(value)
        elif key == "max-file-size":
            values["max_file_size"] = validate_size(value, where)
    return replace(base, root=root, source=source, **values)


@lru_cache(maxsize=256)
def _read_toml(path: str, mtime_ns: int) -> dict[str, Any]:
    """A TOML file's data (cached by modification time). Raises :class:`ConfigError`."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8: byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is invalid (a TOML file is UTF-8)"
        ) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def _torchpit_table(data: dict[str, Any]) -> Any:
    """``tool.torchpit`` of a pyproject's data, whatever its type; None when absent."""
    tool = data.get("tool")
    return tool.get("torchpit") if isinstance(tool, dict) else None


@lru_cache(maxsize=256)
def _load_pyproject(path: str, mtime_ns: int) -> Config | None:
    table = _torchpit_table(_read_toml(path, mtime_ns))
    if table is None:
        return None
    return config_from_table(table, path, os.path.dirname(path))


def find_config_file(start: str) -> str | None:
    """The nearest ``pyproject.toml`` with a ``[tool.torchpit]`` table, from ``start`` upwards.

    A pyproject.toml that cannot be read as TOML (not UTF-8, invalid TOML) stops the search:
    its error is reported rather than silently skipping to a parent's configuration. So does
    one whose ``tool.torchpit`` is not a table (``[tool]`` ``torchpit = "yes"``).
    """
    cur = os.path.abspath(start)
    if os.path.isfile(cur) or not os.path.isdir(cur):
        cur = os.path.dirname(cur)
    while True:
        candidate = os.path.join(cur, "pyproject.toml")
        if os.path.isfile(candidate):
            try:
                if _torchpit_table(_read_toml(candidate, os.stat(candidate).st_mtime_ns)) is not None:
                    return candidate
            except (ConfigError, OSError):
                return candidate
        parent = os.path.dirname(cur)
        if parent == cur:
            return None
        cur = parent


def load_config(start: str, explicit: str | None = None) -> Config:
    """The configuration in force for a file or folder. Raises :class:`ConfigError`."""
    path = explicit or find_config_file(start)
    if path is None:
        return Config()
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    loaded = _load_pyproject(os.path.abspath(path), mtime)
    if loaded is None:
        if explicit:
            return Config(root=os.path.dirname(os.path.abspath(path)), source=path)
        return Config()
    return loaded
