"""A source text with the position arithmetic every rule and fix needs."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Callable

from ..core.diagnostics import Position, Range
from .reads import Reads

# flake8 / ruff style: `# noqa` or `# noqa: PIT101, PIT102` (also `#noqa:PIT101`).
NOQA_RE = re.compile(r"#\s*noqa(?::[\s]?(?P<codes>[A-Z]+[0-9]+(?:[,\s]+[A-Z]+[0-9]+)*))?", re.IGNORECASE)
ALL_CODES = "*"


@dataclass(frozen=True)
class NoqaDirective:
    line: int  # 0-based
    start: int  # column of '#'
    end: int  # column after the directive
    codes: tuple[str, ...]  # empty: a bare `# noqa`

    def suppresses(self, code: str) -> bool:
        return not self.codes or code in self.codes


_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")
# What str.splitlines() also splits at; without them it splits as LSP does, and faster. (Each
# looked for with ``in``: 6 us for 80 KB, where one search of a character class took 480 us.)
_OTHER_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def split_lines(text: str) -> list[str]:
    """Lines with their endings, split only where Python's tokenizer does (\\n, \\r\\n, \\r).

    ``str.splitlines`` also splits at form feeds, U+2028 and other characters that Python
    source may contain inside a line; that would shift every position after them.
    A final empty line follows a trailing line break, so positions at the end are valid.
    """
    lines = _LINE_RE.findall(text) if any(c in text for c in _OTHER_BREAKS) else text.splitlines(True)
    if not lines or lines[-1].endswith(("\n", "\r")):
        lines.append("")
    return lines


class SourceFile:
    """Text plus a line index. Converts ast's UTF-8 byte columns to code point columns.

    While ``reads_of`` is set (the language server's analyses, ``analyzers/syntax/reads.py``),
    every line whose text is read through these methods is recorded in the current ``Reads``,
    and so is a read that depends on the whole text.
    """

    def __init__(self, text: str, path: str | None = None) -> None:
        self.text = text
        self.path = path
        self.lines = split_lines(text)
        self.reads_of: Callable[[], Reads | None] | None = None

    def _read(self, first: int, last: int | None = None) -> None:
        r = self.reads_of() if self.reads_of is not None else None
        if r is not None:
            if last is None or last == first:
                r.lines.add(first)
            else:
                r.lines.update(range(first, last + 1))

    def _read_all(self) -> None:
        r = self.reads_of() if self.reads_of is not None else None
        if r is not None:
            r.all_text = True

    @cached_property
    def line_starts(self) -> list[int]:
        starts, pos = [], 0
        for line in self.lines:
            starts.append(pos)
            pos += len(line)
        return starts

    def line_text(self, line: int) -> str:
        """Line ``line`` (0-based) without its line break."""
        if self.reads_of is not None:
            self._read(line)
        if 0 <= line < len(self.lines):
            return self.lines[line].rstrip("\r\n")
        return ""

    def byte_to_col(self, line: int, byte_col: int) -> int:
        text = self.line_text(line)
        if text.isascii():
            return byte_col
        return len(text.encode("utf-8")[:byte_col].decode("utf-8", errors="ignore"))

    def offset(self, pos: Position) -> int:
        if self.reads_of is not None:
            self._read(pos.line)
        if pos.line >= len(self.lines):
            return len(self.text)
        return self.line_starts[pos.line] + min(pos.col, len(self.lines[pos.line]))

    def position_at(self, offset: int) -> Position:
        import bisect

        line = bisect.bisect_right(self.line_starts, offset) - 1
        return Position(line, offset - self.line_starts[line])

    def node_range(self, node: ast.AST) -> Range:
        sl = node.lineno - 1  # type: ignore[attr-defined]
        el = (getattr(node, "end_lineno", None) or node.lineno) - 1  # type: ignore[attr-defined]
        sc = self.byte_to_col(sl, node.col_offset)  # type: ignore[attr-defined]
        end_col = getattr(node, "end_col_offset", None)
        ec = self.byte_to_col(el, end_col) if end_col is not None else len(self.line_text(el))
        return Range(Position(sl, sc), Position(el, ec))

    def node_start(self, node: ast.AST) -> Position:
        return self.node_range(node).start

    def segment(self, node_or_range: ast.AST | Range) -> str:
        rng = node_or_range if isinstance(node_or_range, Range) else self.node_range(node_or_range)
        if self.reads_of is not None:
            self._read(rng.start.line, rng.end.line)
        return self.text[self.offset(rng.start) : self.offset(rng.end)]

    def indentation(self, line: int) -> str:
        text = self.line_text(line)
        return text[: len(text) - len(text.lstrip())]

    @cached_property
    def _token_lines(self) -> tuple[frozenset[int], frozenset[int]] | None:
        """(lines holding only a comment, lines where a logical line begins), 0-based, from the
        tokenizer (so a ``#`` inside a string is no comment, and a line after a backslash or
        inside brackets begins nothing). None where the text does not tokenize."""
        import io
        import tokenize

        comments: set[int] = set()
        starts: set[int] = set()
        depth, at_start = 0, True
        try:
            for tok in tokenize.generate_tokens(io.StringIO(self.text).readline):
                kind = tok.type
                if kind in (tokenize.NEWLINE, tokenize.NL):
                    at_start = at_start or depth == 0
                    continue
                if kind in (tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING, tokenize.ENDMARKER):
                    continue
                if kind == tokenize.COMMENT:
                    if at_start and depth == 0:
                        comments.add(tok.start[0] - 1)
                    continue
                if kind == tokenize.OP and tok.string in "([{":
                    depth += 1
                elif kind == tokenize.OP and tok.string in ")]}":
                    depth = max(0, depth - 1)
                if at_start:
                    starts.add(tok.start[0] - 1)
                    at_start = False
        except (tokenize.TokenError, IndentationError, SyntaxError):
            return None
        return frozenset(comments), frozenset(starts)

    def is_comment_line(self, line: int) -> bool:
        """Line ``line`` (0-based) holds nothing but a comment (a real one, not text in a string)."""
        if not self.line_text(line).lstrip().startswith("#"):
            return False
        self._read_all()
        lines = self._token_lines
        return lines is not None and line in lines[0]

    def continues_previous_line(self, line: int) -> bool:
        """Line ``line`` (0-based) continues the line before it through a backslash: text
        inserted above it would join the previous logical line. Only meant for a line where a
        statement begins (so never one inside brackets)."""
        if line <= 0 or not self.line_text(line - 1).rstrip().endswith("\\"):
            return False  # the common case, without tokenizing
        self._read_all()
        lines = self._token_lines
        return lines is None or line not in lines[1]

    @cached_property
    def noqa(self) -> dict[int, NoqaDirective]:
        """``# noqa`` directives by 0-based line. Only lines that contain the word are scanned."""
        out: dict[int, NoqaDirective] = {}
        if "noqa" not in self.text and "NOQA" not in self.text.upper():
            return out
        for i, line in enumerate(self.lines):
            if "#" not in line or "noqa" not in line.lower():
                continue
            m = NOQA_RE.search(line)
            if not m:
                continue
            codes = tuple(c.upper() for c in re.split(r"[,\s]+", m.group("codes") or "") if c)
            out[i] = NoqaDirective(i, m.start(), m.end(), codes)
        return out

    def is_suppressed(self, code: str, line: int) -> bool:
        directive = self.noqa.get(line)
        return directive is not None and directive.suppresses(code)
