"""The base class of every rule, the structure of a rule's documentation, and what a rule
sees when it runs (:class:`Context`).

A rule is one file in ``analyzers/rules/pitfalls/``, named after the bad pattern, holding one
:class:`Rule` subclass. Its metadata are class attributes; its documentation is the class
docstring, in fixed sections as ruff's are. The registry discovers rule files; nothing else
lists them.
"""

from __future__ import annotations

import ast
import re
import textwrap
from dataclasses import dataclass, field
from typing import Any, ClassVar, Iterable

from ..core.diagnostics import Applicability, Diagnostic, Edit, Fix, FixAvailability, Range, Related, Severity
from ..facts.flow import Flow, flow_of
from ..semantic.model import SemanticModel
from ..syntax.source import SourceFile

DOC_SECTIONS = ("What it does", "Why is this bad?", "Example", "Use instead", "Fix safety", "References")
CODE_RE = re.compile(r"^PIT[1-9][0-9]{2}$")
NAME_RE = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)+$")


class Rule:
    code: ClassVar[str]
    name: ClassVar[str]  # kebab-case, names the bad pattern
    summary: ClassVar[str]  # one line
    severity: ClassVar[Severity] = Severity.WARNING
    fix_availability: ClassVar[FixAvailability] = FixAvailability.NONE
    node_types: ClassVar[tuple[type[ast.AST], ...]] = ()
    # Run once per file (after the traversal) instead of per node, for rules over whole functions.
    whole_file: ClassVar[bool] = False

    def check(self, node: ast.AST, ctx: "Context") -> None:  # pragma: no cover - interface
        """Inspect ``node`` (one of ``node_types``) and call ``ctx.report`` for each finding."""

    def check_file(self, ctx: "Context") -> None:  # pragma: no cover - interface
        """Inspect the whole file (when ``whole_file`` is set)."""

    # ------------------------------------------------------------------ docs
    @classmethod
    def docs(cls) -> str:
        return textwrap.dedent(cls.__doc__ or "").strip()

    @classmethod
    def doc_sections(cls) -> dict[str, str]:
        """The docstring split into its sections, keyed by heading."""
        sections: dict[str, str] = {}
        current: str | None = None
        buf: list[str] = []
        for line in cls.docs().splitlines():
            m = re.match(r"^## (.+?)\s*$", line)
            if m:
                if current is not None:
                    sections[current] = "\n".join(buf).strip()
                current, buf = m.group(1), []
            elif current is not None:
                buf.append(line)
        if current is not None:
            sections[current] = "\n".join(buf).strip()
        return sections

    @classmethod
    def markdown(cls) -> str:
        """The full page: title, metadata line, then the sections (used by hover, explain, docs)."""
        fix = {
            FixAvailability.NONE: "no fix",
            FixAvailability.SOMETIMES: "fix sometimes available",
            FixAvailability.ALWAYS: "fix always available",
        }[cls.fix_availability]
        return f"# {cls.name} ({cls.code})\n\n*{cls.summary}* — default severity: {cls.severity.value}; {fix}.\n\n{cls.docs()}\n"

    @classmethod
    def validate(cls) -> Iterable[str]:
        """Problems with the rule's metadata or docs (checked at registration and by tests)."""
        where = f"{cls.__module__}.{cls.__name__}"
        if not CODE_RE.match(getattr(cls, "code", "")):
            yield f"{where}: code {getattr(cls, 'code', None)!r} is not of the form PITnnn"
        if not NAME_RE.match(getattr(cls, "name", "")):
            yield f"{where}: name {getattr(cls, 'name', None)!r} is not kebab-case"
        if not getattr(cls, "summary", ""):
            yield f"{where}: no summary"
        if not cls.node_types and not cls.whole_file:
            yield f"{where}: neither node_types nor whole_file"
        headings = list(cls.doc_sections())
        if headings != list(DOC_SECTIONS):
            yield f"{where}: doc sections are {headings}, expected {list(DOC_SECTIONS)}"
        module_file = cls.__module__.rsplit(".", 1)[-1]
        if module_file != cls.name.replace("-", "_"):
            yield f"{where}: file is {module_file}.py, expected {cls.name.replace('-', '_')}.py (named after the rule)"


class CallRule(Rule):
    """A rule whose ``check`` is given each call of the file (``ast.Call``)."""

    node_types: ClassVar[tuple[type[ast.AST], ...]] = (ast.Call,)

    def check(self, node: ast.Call, ctx: "Context") -> None:  # type: ignore[override]  # pragma: no cover - interface
        """Inspect the call ``node`` and call ``ctx.report`` for each finding."""


@dataclass
class Context:
    source: SourceFile
    model: SemanticModel
    path: str | None = None
    rule: type[Rule] | None = None  # set by the engine before each rule runs
    findings: list[Diagnostic] = field(default_factory=list)

    @property
    def flow(self) -> Flow:
        """The file's loop model (facts/flow.py), built on first use."""
        return flow_of(self.model)

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

    def insertion_line(self, stmt: ast.stmt) -> int | None:
        """The 0-based line where a new line that belongs just before ``stmt`` goes, where a
        person would write it: above its decorators, and above the comment lines (with no
        blank line between) that explain it, but not above a comment indented deeper than it
        (that one ends the block before), nor above a shebang or an encoding line.

        None where no line can go before ``stmt`` alone: it shares its line with code before
        it (``x = 1; stmt``, ``for b in loader: stmt``), or it continues the line above
        through a backslash."""
        from ..syntax.tree import FIELD, parent

        src = self.source
        line = min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))]) - 1
        indent = src.indentation(line)
        text = src.line_text(line)
        if getattr(stmt, "decorator_list", None):
            if not text[len(indent) :].startswith("@"):
                return None
        elif src.byte_to_col(line, stmt.col_offset) != len(indent):
            return None  # code before it on its line
        if src.continues_previous_line(line) or text[len(indent) :].startswith("elif"):
            return None
        owner = parent(stmt)
        block = getattr(owner, getattr(stmt, FIELD, ""), None) if owner is not None else None
        first_in_block = isinstance(block, list) and bool(block) and block[0] is stmt and not isinstance(owner, ast.Module)
        while line > 0:
            above = line - 1
            if not src.is_comment_line(above):
                break
            if not first_in_block and len(src.indentation(above)) > len(indent):
                break
            if above <= 1 and re.match(r"^#!|^#.*coding[:=]", src.line_text(above).lstrip()):
                break
            line = above
        return line

    def insert_before_statement(self, stmt: ast.stmt, line_text: str) -> Edit | None:
        """Insert ``line_text`` as a new line before ``stmt``, at its indentation, where a person
        would put it (see :meth:`insertion_line`); None where no such line exists."""
        line = self.insertion_line(stmt)
        if line is None:
            return None
        indent = self.source.indentation(min([stmt.lineno, *(d.lineno for d in getattr(stmt, "decorator_list", []))]) - 1)
        return Edit(Range.of(line, 0, line, 0), f"{indent}{line_text}\n")

    @staticmethod
    def fix(message: str, applicability: Applicability, *edits: Edit) -> Fix:
        return Fix(message, applicability, tuple(edits))

    def insert_fix(self, message: str, applicability: Applicability, stmt: ast.stmt, line_text: str, *more: Edit) -> Fix | None:
        """A fix that inserts ``line_text`` before ``stmt`` (and makes ``more`` edits); None where
        no line can go there (see :meth:`insertion_line`)."""
        edit = self.insert_before_statement(stmt, line_text)
        return None if edit is None else Fix(message, applicability, (edit, *more))
