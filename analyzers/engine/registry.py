"""The one registration of rules: discovery of the modules in ``analyzers/rules/pitfalls/``."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import lru_cache

from ..core.diagnostics import BUILTIN_CODES
from ..rules.rule import Rule


class RegistryError(RuntimeError):
    pass


@lru_cache(maxsize=1)
def all_rules() -> tuple[type[Rule], ...]:
    """Every rule class, sorted by code. Raises when two rules share a code or name."""
    from ..rules import pitfalls as package

    found: list[type[Rule]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Rule) and obj is not Rule and obj.__module__ == module.__name__
        ]
        if len(classes) != 1:
            raise RegistryError(f"{module.__name__} must define exactly one Rule subclass, found {len(classes)}")
        found.append(classes[0])
    problems = [p for cls in found for p in cls.validate()]
    codes: dict[str, str] = {}
    names: dict[str, str] = {}
    for cls in found:
        if cls.code in codes or cls.code in BUILTIN_CODES:
            problems.append(f"duplicate code {cls.code}: {codes.get(cls.code, 'built-in')} and {cls.__module__}")
        if cls.name in names:
            problems.append(f"duplicate name {cls.name}: {names[cls.name]} and {cls.__module__}")
        codes[cls.code] = cls.__module__
        names[cls.name] = cls.__module__
    if problems:
        raise RegistryError("; ".join(problems))
    return tuple(sorted(found, key=lambda c: c.code))


def rule_by_code(code: str) -> type[Rule] | None:
    """The rule with this code (``PIT101``) or name (``softmax-before-cross-entropy``)."""
    for cls in all_rules():
        if cls.code == code.upper() or cls.name == code.lower():
            return cls
    return None
