"""The data every consumer of the analyzers shares: positions, diagnostics and fixes.

Positions are 0-based lines and 0-based columns counted in Unicode code points (Python
``str`` indices). The batch mode prints them 1-based; the language server converts them to
the client's encoding (UTF-16 by default).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Severity(str, enum.Enum):
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    HINT = "hint"

    @classmethod
    def parse(cls, value: str) -> "Severity":
        try:
            return cls(value.lower())
        except (ValueError, AttributeError):
            raise ValueError(
                f"invalid severity {value!r} (expected one of: {', '.join(s.value for s in cls)})"
            ) from None


class Applicability(str, enum.Enum):
    """How safe a fix is, as ruff grades them."""

    SAFE = "safe"  # the program means the same after the fix
    UNSAFE = "unsafe"  # the fix may change what the program does
    DISPLAY_ONLY = "display-only"  # shown to the user, never applied automatically


class FixAvailability(str, enum.Enum):
    NONE = "none"
    SOMETIMES = "sometimes"
    ALWAYS = "always"


@dataclass(frozen=True, order=True)
class Position:
    line: int
    col: int

    def to_dict(self) -> dict[str, int]:
        return {"line": self.line, "col": self.col}


@dataclass(frozen=True)
class Range:
    start: Position
    end: Position

    @classmethod
    def of(cls, sl: int, sc: int, el: int, ec: int) -> "Range":
        return cls(Position(sl, sc), Position(el, ec))

    def contains(self, pos: Position) -> bool:
        return self.start <= pos <= self.end

    def overlaps(self, other: "Range") -> bool:
        return not (self.end < other.start or other.end < self.start)

    def to_dict(self) -> dict[str, Any]:
        return {"start": self.start.to_dict(), "end": self.end.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Range":
        return cls.of(d["start"]["line"], d["start"]["col"], d["end"]["line"], d["end"]["col"])


@dataclass(frozen=True)
class Edit:
    """Replace the text in ``range`` with ``new_text`` (an insertion when the range is empty)."""

    range: Range
    new_text: str

    def to_dict(self) -> dict[str, Any]:
        return {"range": self.range.to_dict(), "new_text": self.new_text}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Edit":
        return cls(Range.from_dict(d["range"]), d["new_text"])


@dataclass(frozen=True)
class Fix:
    message: str
    applicability: Applicability
    edits: tuple[Edit, ...]

    @property
    def is_safe(self) -> bool:
        return self.applicability is Applicability.SAFE

    def to_dict(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "applicability": self.applicability.value,
            "edits": [e.to_dict() for e in self.edits],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Fix":
        return cls(d["message"], Applicability(d["applicability"]), tuple(Edit.from_dict(e) for e in d["edits"]))


@dataclass(frozen=True)
class Related:
    """One link in a diagnostic's chain of evidence ("softmax applied here")."""

    range: Range
    message: str
    path: str | None = None  # None: the same file
    cell: int | None = field(default=None, compare=False)  # 1-based notebook cell, batch mode only

    def to_dict(self) -> dict[str, Any]:
        return {"range": self.range.to_dict(), "message": self.message, "path": self.path, "cell": self.cell}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Related":
        return cls(Range.from_dict(d["range"]), d["message"], d.get("path"), d.get("cell"))


# Codes that are not rules: problems with the input itself.
SYNTAX_ERROR = "PIT001"
UNREADABLE = "PIT002"
TOO_COMPLEX = "PIT003"
INTERNAL_ERROR = "PIT004"

BUILTIN_CODES = {
    SYNTAX_ERROR: "syntax-error",
    UNREADABLE: "unreadable-file",
    TOO_COMPLEX: "too-complex-to-analyze",
    INTERNAL_ERROR: "internal-error",
}


@dataclass(frozen=True)
class Diagnostic:
    code: str
    name: str
    message: str
    range: Range
    severity: Severity = Severity.WARNING
    fix: Fix | None = None
    related: tuple[Related, ...] = ()
    # A call-site probe specification (see torchpit.probe), when the rule can rebuild the call.
    probe: dict[str, Any] | None = None
    # Where a ``# noqa`` for this diagnostic belongs (0-based line); the start line by default.
    noqa_line: int | None = None
    cell: int | None = field(default=None, compare=False)  # 1-based notebook cell, batch mode only

    @property
    def is_rule(self) -> bool:
        return self.code not in BUILTIN_CODES

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "message": self.message,
            "range": self.range.to_dict(),
            "severity": self.severity.value,
            "fix": self.fix.to_dict() if self.fix else None,
            "related": [r.to_dict() for r in self.related],
            "probe": self.probe,
            "noqa_line": self.noqa_line,
            "cell": self.cell,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Diagnostic":
        return cls(
            code=d["code"],
            name=d["name"],
            message=d["message"],
            range=Range.from_dict(d["range"]),
            severity=Severity(d["severity"]),
            fix=Fix.from_dict(d["fix"]) if d.get("fix") else None,
            related=tuple(Related.from_dict(r) for r in d.get("related", ())),
            probe=d.get("probe"),
            noqa_line=d.get("noqa_line"),
            cell=d.get("cell"),
        )
