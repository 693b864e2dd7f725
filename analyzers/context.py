"""What a rule sees: the file, the shared semantic model, and a way to report findings."""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Applicability, Diagnostic, Edit, Fix, Range, Related
from .rule import Rule
from .semantic import SemanticModel
from .source import SourceFile


@dataclass
class Context:
    source: SourceFile
    model: SemanticModel
    path: str | None = None
    rule: type[Rule] | None = None  # set by the engine before each rule runs
    findings: list[Diagnostic] = field(default_factory=list)

    # ------------------------------------------------------------------ reporting
    def report(
        self,
        node: ast.AST | Range,
        message: str,
        *,
        fix: Fix | None = None,
        related: tuple[Related, ...] | list[Related] = (),
        probe: dict[str, Any] | None = None,
        noqa_line: int | None = None,
    ) -> None:
        assert self.rule is not None, "report() called outside a rule"
        rng = node if isinstance(node, Range) else self.source.node_range(node)
        self.findings.append(
            Diagnostic(
                code=self.rule.code,
                name=self.rule.name,
                message=message,
                range=rng,
                severity=self.rule.severity,
                fix=fix,
                related=tuple(related),
                probe=probe,
                noqa_line=rng.start.line if noqa_line is None else noqa_line,
            )
        )

    # ------------------------------------------------------------------ helpers
    def range(self, node: ast.AST) -> Range:
        return self.source.node_range(node)

    def text(self, node: ast.AST) -> str:
        return self.source.segment(node)

    def related(self, node: ast.AST, message: str) -> Related:
        return Related(self.source.node_range(node), message)

    def replace(self, node: ast.AST | Range, new_text: str) -> Edit:
        rng = node if isinstance(node, Range) else self.source.node_range(node)
        return Edit(rng, new_text)

    def insert_before_statement(self, stmt: ast.stmt, line_text: str) -> Edit:
        """Insert ``line_text`` as a new line above ``stmt``, at its indentation."""
        rng = self.source.node_range(stmt)
        indent = self.source.indentation(rng.start.line)
        at = Range.of(rng.start.line, 0, rng.start.line, 0)
        return Edit(at, f"{indent}{line_text}\n")

    @staticmethod
    def fix(message: str, applicability: Applicability, *edits: Edit) -> Fix:
        return Fix(message, applicability, tuple(edits))
