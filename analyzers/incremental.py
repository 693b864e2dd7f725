"""Incremental parsing: after an edit, parse again only the top-level statements it touched.

The language server analyzes a document on every keystroke, and parsing a 2,000-line file
from scratch took 30-45 ms of the analysis on our 2-core machine, more when recovery from a
half-typed statement parses it again (benchmarks/README.md). An edit inside one function
changes one top-level statement; the others keep their syntax trees.

:class:`IncrementalParser` keeps the previous text split into *chunks*: each top-level
statement with the comments and blank lines after it. For a new text it finds the changed
lines (common prefix and suffix of the two line lists), parses the text of the chunks they
touch (with the chunk before, so that a changed first line is seen in context), and splices
the new statements between the old ones, moving the later ones by the change in line count.

Why the result is the same tree as a parse of the whole file, when the region parses without
error: every chunk starts at a line where a top-level statement began and everything before
it is unchanged, so the tokenizer is at a fresh logical line there; a region that parses on
its own closes its brackets and strings and does not end in a line continuation or a
decorator, so it cannot run into the next chunk, whose first line is unchanged and begins a
statement at column 0. ``tests/test_incremental.py`` checks this against ``ast.parse`` on
every edit of real files.

When the region does not parse (the usual state while a statement is half typed), it is
recovered on its own (``parsing.parse_source``): the error is reported where it is and the
rest of the file keeps its trees. A whole-file parse may describe such an error differently
(an unclosed bracket there swallows the rest of the file); confining it to the statement
being typed is what an editor wants.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field, replace

from .parsing import ParseResult, SyntaxProblem, _parse, parse_source
from .source import split_lines


@dataclass
class _Chunk:
    start: int  # first line (0-based)
    end: int  # one past the last line
    stmts: list[ast.stmt]  # with positions in the whole text
    errors: list[SyntaxProblem] = field(default_factory=list)
    masked: frozenset[int] = frozenset()


@dataclass
class IncrementalStats:
    """What the last :meth:`IncrementalParser.parse` did (for showDebugInfo and benchmarks)."""

    mode: str = "full"  # "full" | "unchanged" | "region"
    reparsed_lines: int = 0


def _first_line(stmt: ast.stmt) -> int:
    line = stmt.lineno
    for d in getattr(stmt, "decorator_list", ()):
        line = min(line, d.lineno)
    return line - 1


def _chunks(
    stmts: list[ast.stmt], start: int, end: int, errors: list[SyntaxProblem], masked: frozenset[int], lines: list[str]
) -> list[_Chunk]:
    """Group ``stmts`` (in lines ``start``..``end`` of ``lines``) into chunks; the first starts
    at ``start``. A statement joins the chunk before when it starts on the line where that one
    ends (``a = 1; b = 2``) or after a line ending in a backslash: a line continuation with
    nothing before it belongs to the statement, but ``lineno`` does not count it."""
    out: list[_Chunk] = []
    for stmt in stmts:
        first = _first_line(stmt)
        if out and (first < (out[-1].stmts[-1].end_lineno or 0) or (first > 0 and lines[first - 1].rstrip("\r\n").endswith("\\"))):
            out[-1].stmts.append(stmt)
            continue
        if out:
            out[-1].end = first
        out.append(_Chunk(first if out else start, end, [stmt]))
    if not out:
        out.append(_Chunk(start, end, []))
    for e in errors:
        owner = next((c for c in reversed(out) if c.start <= e.line), out[0])
        owner.errors.append(e)
    if masked:
        for c in out:
            c.masked = frozenset(i for i in masked if c.start <= i < c.end)
    return out


def _moved(errors: list[SyntaxProblem], delta: int) -> list[SyntaxProblem]:
    return [replace(e, line=e.line + delta, end_line=e.end_line + delta) for e in errors]


def _shift(chunk: _Chunk, delta: int) -> None:
    if not delta:
        return
    chunk.start += delta
    chunk.end += delta
    for stmt in chunk.stmts:
        ast.increment_lineno(stmt, delta)
    chunk.errors = _moved(chunk.errors, delta)
    chunk.masked = frozenset(i + delta for i in chunk.masked)


class IncrementalParser:
    """Parses successive versions of one document, re-parsing only what changed.

    Not thread-safe: one document's versions are parsed one after another (the language
    server's analysis worker). The statements of the previous result are reused, and moved,
    in the next one: a caller must not keep using an older result's tree after parsing a newer
    text.
    """

    def __init__(self, filename: str = "<unknown>") -> None:
        self.filename = filename
        self._lines: list[str] | None = None
        self._chunks: list[_Chunk] = []
        self.stats = IncrementalStats()

    def parse(self, text: str) -> ParseResult:
        lines = split_lines(text)
        if self._lines is None or "\x00" in text:
            return self._full(text, lines)
        old = self._lines
        if lines == old:
            self.stats = IncrementalStats("unchanged", 0)
            return self._result()
        p = 0
        n = min(len(old), len(lines))
        while p < n and old[p] == lines[p]:
            p += 1
        s = 0
        while s < n - p and old[-1 - s] == lines[-1 - s]:
            s += 1
        old_end = len(old) - s  # changed old lines: [p, old_end)
        delta = len(lines) - len(old)
        # From the line before: an edit of a chunk's first line (a deleted or indented `def`)
        # may join the chunk to the one above.
        lo = max(p - 1, 0)
        hi = min(max(old_end - 1, p), len(old) - 1)
        a = self._chunk_at(lo)
        b = self._chunk_at(hi)
        chunks = self._chunks
        while True:
            # A neighbour with a syntax error may owe it to this region (a decorator or a block
            # header left behind, a string opened here): parse them together.
            if a > 0 and (chunks[a - 1].errors or chunks[a - 1].masked):
                a -= 1
            elif b + 1 < len(chunks) and (chunks[b + 1].errors or chunks[b + 1].masked):
                b += 1
            else:
                break
        start = self._chunks[a].start
        end = self._chunks[b].end + delta
        parsed = self._region(lines, start, end)
        if parsed.errors and (a > 0 or b + 1 < len(chunks)):
            # The error may be the region's edge: a decorator or a block header whose statement
            # is the next chunk, a body whose header is the chunk before. With both neighbours,
            # is it whole?
            a2, b2 = max(a - 1, 0), min(b + 1, len(chunks) - 1)
            start2, end2 = chunks[a2].start, chunks[b2].end + delta
            wider = self._region(lines, start2, end2, recover=False)
            if not wider.errors and not wider.fatal:
                a, b, start, end, parsed = a2, b2, start2, end2, wider
        if parsed.fatal:
            return self._full(text, lines)
        stmts = parsed.tree.body if parsed.tree is not None else []
        errors, masked = list(parsed.errors), parsed.masked_lines
        new = self._settle(_chunks(list(stmts), start, end, errors, masked, lines), lines) if end > start else []  # its lines were deleted
        for c in self._chunks[b + 1 :]:
            _shift(c, delta)
        self._chunks[a : b + 1] = new
        self._lines = lines
        self.stats = IncrementalStats("region", end - start)
        if sum(1 for c in self._chunks if c.errors) > 1:
            # Broken in two places: maybe one construct across chunks (a triple-quoted string
            # opened in one and closed in another) that the whole file parses. Rare while typing.
            try:
                tree = _parse(text, self.filename)
            except (SyntaxError, RecursionError, MemoryError, ValueError):
                pass
            else:
                self._chunks = _chunks(list(tree.body), 0, len(lines), [], frozenset(), lines)
                self.stats = IncrementalStats("full", len(lines))
        return self._result()

    # ------------------------------------------------------------------ internals
    def _full(self, text: str, lines: list[str]) -> ParseResult:
        parsed = parse_source(text, self.filename)
        self.stats = IncrementalStats("full", len(lines))
        if parsed.tree is None:
            self._lines = None  # nothing to build on: parse the next version whole again
            self._chunks = []
            return parsed
        self._lines = lines
        self._chunks = self._settle(_chunks(list(parsed.tree.body), 0, len(lines), list(parsed.errors), parsed.masked_lines, lines), lines)
        return self._result()

    def _region(self, lines: list[str], start: int, end: int, recover: bool = True) -> ParseResult:
        text = "".join(lines[start:end])
        if recover:
            parsed = parse_source(text, self.filename)
        else:
            try:
                parsed = ParseResult(_parse(text, self.filename))
            except (SyntaxError, RecursionError, MemoryError, ValueError):
                return ParseResult(None, fatal="does not parse")
        if parsed.tree is not None:
            for stmt in parsed.tree.body:
                ast.increment_lineno(stmt, start)
        return ParseResult(
            parsed.tree,
            _moved(parsed.errors, start),
            frozenset(i + start for i in parsed.masked_lines),
            parsed.fatal,
        )

    def _settle(self, chunks: list[_Chunk], lines: list[str]) -> list[_Chunk]:
        """Give every chunk with masked lines its own syntax error. Recovery reports the first
        error of what it parsed and masks the others silently; once that first one is fixed,
        the next must be reported, so each broken chunk is parsed again on its own (cheap:
        one statement) to learn its error."""
        out: list[_Chunk] = []
        for c in chunks:
            if not c.masked or c.errors:
                out.append(c)
                continue
            parsed = self._region(lines, c.start, c.end)
            stmts = parsed.tree.body if parsed.tree is not None else []
            out.append(_Chunk(c.start, c.end, list(stmts), list(parsed.errors), parsed.masked_lines))
        return out

    def _chunk_at(self, line: int) -> int:
        chunks = self._chunks
        lo, hi = 0, len(chunks) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if chunks[mid].start <= line:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _result(self) -> ParseResult:
        body: list[ast.stmt] = []
        errors: list[SyntaxProblem] = []
        masked: set[int] = set()
        for c in self._chunks:
            body.extend(c.stmts)
            errors.extend(c.errors)
            masked.update(c.masked)
        return ParseResult(ast.Module(body=body, type_ignores=[]), errors, frozenset(masked))
