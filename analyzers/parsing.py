"""Parse once, and recover from syntax errors so the rest of the file is still analyzed.

Code is broken most of the time while a person types. We report the first syntax error at its
position, then mask the offending lines (replace them with something neutral that keeps the
block structure) and parse again, a bounded number of times, so that rules still see every
statement that is intact.
"""

from __future__ import annotations

import ast
import re
import time
import warnings
from dataclasses import dataclass, field

MAX_RECOVERY_ATTEMPTS = 40
RECOVERY_BUDGET_S = 0.25  # a huge, badly broken file stops recovering after this long


@dataclass(frozen=True)
class SyntaxProblem:
    message: str
    line: int  # 0-based
    col: int  # 0-based, code points
    end_line: int
    end_col: int


@dataclass
class ParseResult:
    tree: ast.Module | None
    errors: list[SyntaxProblem] = field(default_factory=list)
    masked_lines: frozenset[int] = frozenset()
    # Set when the file could not be analyzed at all (too deeply nested, NUL bytes...).
    fatal: str | None = None


def _indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _neighbour(lines: list[str], i: int, step: int) -> int | None:
    j = i + step
    while 0 <= j < len(lines):
        if lines[j].strip() and not lines[j].lstrip().startswith("#"):
            return j
        j += step
    return None


def _mask(lines: list[str], i: int) -> str:
    """A neutral stand-in for line ``i`` that keeps the block structure valid.

    The broken line's own indentation cannot be trusted (text typed at column 0, a half-typed
    block header), so the stand-in takes its place from its neighbours: a sibling of the
    statement above it, or the first statement of the block that statement opens. A ``pass``
    there is always valid; ``if True:`` keeps a following, more indented body analyzable.
    """
    original = lines[i]
    prev = _neighbour(lines, i, -1)
    nxt = _neighbour(lines, i, 1)
    prev_indent = lines[prev][: _indent_of(lines[prev])] if prev is not None else ""
    next_indent = lines[nxt][: _indent_of(lines[nxt])] if nxt is not None else ""
    if prev is not None and lines[prev].rstrip().endswith(":"):
        # The first statement of the block the line above opens.
        indent = next_indent if len(next_indent) > len(prev_indent) else prev_indent + "    "
        if nxt is not None and len(next_indent) > len(indent):
            return indent + "if True:"
        return indent + "pass"
    if nxt is not None and len(next_indent) > len(prev_indent) and _indent_of(lines[nxt]) > _indent_of(original):
        return prev_indent + "if True:"  # the line opened a block: keep its body analyzable
    return prev_indent + "pass"


def _problem(err: SyntaxError, lines: list[str]) -> SyntaxProblem:
    line = max((err.lineno or 1) - 1, 0)
    if line >= len(lines):
        line = max(len(lines) - 1, 0)
    col = max((err.offset or 1) - 1, 0)
    end_line = max((getattr(err, "end_lineno", None) or err.lineno or 1) - 1, line)
    end_col = getattr(err, "end_offset", None)
    end_col = max(end_col - 1, col + 1) if end_col and end_line == line else (col + 1 if end_line == line else 0)
    if end_line >= len(lines):
        end_line, end_col = line, col + 1
    msg = err.msg or "invalid syntax"
    return SyntaxProblem(f"SyntaxError: {msg}", line, col, end_line, end_col)


def _parse(text: str, filename: str) -> ast.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
        return ast.parse(text, filename=filename, type_comments=False)


_HEADER_LINE = re.compile(r"expected an indented block after .* on line (\d+)")


def _culprit(err: SyntaxError, lines: list[str], masked: set[int]) -> int:
    """The line to mask for ``err``: usually its own line, but Python reports two common
    typing states one line late. A block header with no body yet ("expected an indented
    block after 'if' statement on line N") is the header's fault; an "unexpected indent"
    right after a line that dedented (text typed at column 0) is that line's fault."""
    target = min(max((err.lineno or 1) - 1, 0), len(lines) - 1)
    msg = err.msg or ""
    header = _HEADER_LINE.search(msg)
    if header:
        line = int(header.group(1)) - 1
        if 0 <= line < len(lines) and line not in masked:
            return line
    if msg.startswith("unexpected indent"):
        prev = _neighbour(lines, target, -1)
        if (
            prev is not None
            and prev not in masked
            and not lines[prev].rstrip().endswith(":")
            and _indent_of(lines[prev]) < _indent_of(lines[target])
        ):
            return prev
    return target


def parse_source(text: str, filename: str = "<unknown>") -> ParseResult:
    if "\x00" in text:
        return ParseResult(None, fatal="the file contains NUL bytes; it is not Python source")
    try:
        return ParseResult(_parse(text, filename))
    except SyntaxError as err:
        first = err
    except (RecursionError, MemoryError):
        return ParseResult(None, fatal="the file is too deeply nested for Python's parser")

    from .source import split_lines

    lines = [line.rstrip("\r\n") for line in split_lines(text)]
    problem = _problem(first, lines)
    masked: set[int] = set()
    err: SyntaxError = first
    deadline = time.perf_counter() + RECOVERY_BUDGET_S
    for _ in range(MAX_RECOVERY_ATTEMPTS):
        if time.perf_counter() > deadline:
            break
        target = _culprit(err, lines, masked)
        # No progress on an already masked line: widen the mask to the statement above it.
        while target in masked:
            above = _neighbour(lines, target, -1)
            if above is None:
                break
            target = above
        if target in masked:
            break
        # A bracket left open swallows the lines after it: mask its whole physical extent.
        reported = (err.lineno or 1) - 1
        end = target
        if target == reported:  # an open bracket swallows the lines after it
            end = min(max((getattr(err, "end_lineno", None) or target + 1) - 1, target), len(lines) - 1)
        for i in range(target, end + 1):
            lines[i] = _mask(lines, i)
            masked.add(i)
        try:
            tree = _parse("\n".join(lines), filename)
            return ParseResult(tree, [problem], frozenset(masked))
        except SyntaxError as again:
            err = again
        except (RecursionError, MemoryError):
            break
    return ParseResult(None, [problem], frozenset(masked))
