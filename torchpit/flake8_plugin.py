"""flake8 plugin: existing flake8 setups pick torchpit's rules up (codes PITnnn).

flake8 applies its own ``--select``/``--ignore``/``# noqa``; torchpit reports every rule and
leaves the filtering to it. ``[tool.torchpit]`` still controls jedi and rule options.
"""

from __future__ import annotations

import ast
from typing import Iterator

from torchpit import __version__


class Flake8Plugin:
    name = "torchpit"
    version = __version__

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        self.filename = filename
        self.lines = lines

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        from torchpit.analyzers.engine.config import ConfigError, load_config
        from torchpit.analyzers.engine.analysis import analyze
        from torchpit.analyzers.engine.registry import all_rules

        try:
            config = load_config(self.filename) if self.filename not in ("stdin", "-") else None
        except ConfigError:
            config = None  # flake8 has no channel for our config errors; run with defaults
        text = "".join(self.lines)
        path = None if self.filename in ("stdin", "-") else self.filename
        result = analyze(text, path, config, rules=all_rules(), apply_noqa=False)
        for d in result.diagnostics:
            if d.code == "PIT001":
                continue  # flake8 reports syntax errors itself (E999)
            yield d.range.start.line + 1, d.range.start.col, f"{d.code} {d.message}", type(self)
