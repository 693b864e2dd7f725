"""Parse once, and recover from syntax errors so the rest of the file is still analyzed.

Code is broken most of the time while a person types. We report the first syntax error at its
position, then mask the offending lines (replace them with something neutral that keeps the
block structure) and parse again, a bounded number of times, so that rules still see every
statement that is intact.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field

MAX_RECOVERY_ATTEMPTS = 40


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
    """A neutral stand-in for line ``i`` that keeps the indentation structure valid."""
    original = lines[i]
    indent = original[: _indent_of(original)]
    nxt = _neighbour(lines, i, 1)
    prev = _neighbour(lines, i, -1)
    if nxt is not None and _indent_of(lines[nxt]) > _indent_of(original):
        return indent + "if True:"  # the line opened a block: keep its body analyzable
    if prev is not None and lines[prev].rstrip().endswith(":") and _indent_of(original) > _indent_of(lines[prev]):
        return indent + "pass"  # the line was a block's body
    if prev is not None and _indent_of(original) > _indent_of(lines[prev]):
        return ""  # a continuation line: drop it
    return indent + "pass"


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
    for _ in range(MAX_RECOVERY_ATTEMPTS):
        target = min(max((err.lineno or 1) - 1, 0), len(lines) - 1)
        # No progress on an already masked line: widen the mask to the statement above it.
        while target in masked:
            above = _neighbour(lines, target, -1)
            if above is None:
                break
            target = above
        if target in masked:
            break
        # A bracket left open swallows the lines after it: mask its whole physical extent.
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
