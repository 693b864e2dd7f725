"""Parse once, and recover from syntax errors so the rest of the file is still analyzed.

Code is broken most of the time while a person types. A file that ``ast.parse`` accepts is
its tree. A file it rejects is cut into *groups* of lines, found from the text alone
(:func:`group_starts`): a group begins at each line that starts a top-level statement,
that is a line at column 0 outside any string, bracket or line continuation, that is not
``else``/``elif``/``except``/``finally`` and does not follow a decorator. An unclosed bracket
ends at the next ``def``, ``class`` or ``import`` at column 0 (none of them can be inside
an expression), or at the decorators of such a ``def`` or ``class`` (decorator lines at
column 0 whose own brackets close, right above it). Each group is parsed on its own; a group that does not parse reports its
first syntax error at its position, and its offending lines are masked (replaced with
something neutral that keeps the block structure) and it is parsed again, a bounded number
of times, so that the rules still see every statement that is intact.

The result is a function of the text alone: the batch mode computes it for the whole file,
the language server's incremental parser (``incremental.py``) for the groups an edit touched,
and the two are the same (``tests/test_incremental.py``). In a file that parses, every group
start is a top-level statement's first line (the tokenizer is at a fresh line at column 0
there, and nothing at column 0 but a clause keyword continues a statement), so a group parses
on its own to the statements a whole-file parse gives; a group that does not parse on its own
therefore means the file does not either.
"""

from __future__ import annotations

import ast
import itertools
import re
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from typing import Iterator

from .source import split_lines

MAX_RECOVERY_ATTEMPTS = 40
# A huge, badly broken group stops recovering after parsing this many characters in all.
# Work, not time: the result must not depend on how busy the machine is.
RECOVERY_BUDGET_CHARS = 500_000


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


@dataclass
class Group:
    """Lines ``start``..``end`` (0-based, end excluded) of a text that does not parse as a
    whole, and their own parse: statements (positions in the whole text), the group's first
    syntax error if any, and the lines masked to recover from it."""

    start: int
    end: int
    stmts: list[ast.stmt]
    errors: list[SyntaxProblem] = field(default_factory=list)
    masked: frozenset[int] = frozenset()
    # Every node of ``stmts`` that has a line number, listed the first time the group is moved
    # (``incremental._shift``): a move after that is one pass over the list, not a walk.
    positioned: list[ast.AST] | None = field(default=None, compare=False, repr=False)


# ---------------------------------------------------------------------------- groups
_CLAUSE = re.compile(r"(?:else|elif|except|finally)\b")
# At column 0 these start a statement even after an unclosed bracket: none of them can be
# part of an expression, so no valid file has one there. (After a line continuation they
# can: a line that is only a backslash joins the next one.)
_STATEMENT_ONLY = re.compile(r"(?:async[ \t]+def|def|class|import)\b")
# A decorator line at column 0 whose brackets close on it, before a def or class (other such
# lines, blank lines and comments between): after an unclosed bracket it starts the statement
# too. In a valid file the bracket would still be open at the def, which cannot be.
_DECORATOR_LINE = re.compile(r"@[ \t]*[A-Za-z_][\w.]*[ \t]*(?:\([^()\[\]{}'\"#\\]*\))?[ \t]*(?:#[^\r\n]*)?(?:\r\n|\r|\n)?\Z")
_DEF_OR_CLASS = re.compile(r"(?:async[ \t]+def|def|class)\b")


def _decorates(lines: list[str], i: int) -> bool:
    """Line ``i`` is a decorator line (``_DECORATOR_LINE``) of the def or class below it."""
    for line in itertools.islice(lines, i, None):
        if _DECORATOR_LINE.match(line):
            continue
        stripped = line.lstrip(" \t\f")
        if not stripped or stripped[0] in "#\r\n":
            continue
        return _DEF_OR_CLASS.match(line) is not None
    return False
_CODE = re.compile(r"""[#'"()\[\]{}\\]""")
_STRING_END = {
    '"': re.compile(r'\\(?:\r\n|.)|"|[\r\n]', re.S),
    "'": re.compile(r"\\(?:\r\n|.)|'|[\r\n]", re.S),
    '"""': re.compile(r'\\(?:\r\n|.)|"""', re.S),
    "'''": re.compile(r"\\(?:\r\n|.)|'''", re.S),
}
_LINE_ENDS = ("\n", "\r\n", "\r", "")


def group_starts(lines: list[str], first: int = 0) -> Iterator[int]:
    """The lines after ``first`` where a group begins (see module docs), in order.

    ``lines`` keep their line endings (``source.split_lines``); ``first`` must be a group's
    first line (the scan starts there outside any string or bracket). Which lines begin a
    group depends only on the text from ``first`` on, so a scan started at any group's first
    line agrees with a scan of the whole text from there.
    """
    depth = 0  # open brackets
    quote: str | None = None  # the open string's quote
    cont = False  # the line before ended in a backslash
    pending = False  # the last logical line began with a decorator
    for i in range(first, len(lines)):
        line = lines[i]
        if quote is None and depth and (_STATEMENT_ONLY.match(line) or (not cont and line.startswith("@") and _DECORATOR_LINE.match(line) and _decorates(lines, i))):
            depth, cont = 0, False
        if quote is None and not depth and not cont:
            stripped = line.lstrip(" \t\f")
            if stripped and stripped[0] not in "#\r\n\\":  # a line that is only a continuation is no start
                if i > first and stripped is line and not pending and not _CLAUSE.match(line):
                    yield i
                pending = stripped[0] == "@"
        cont = False
        pos, n = 0, len(line)
        while pos < n:
            if quote is not None:
                pattern = _STRING_END[quote]
                while True:
                    m = pattern.search(line, pos)
                    if m is None:
                        pos = n
                        break
                    pos = m.end()
                    token = m.group()
                    if token[0] != "\\":
                        quote = None  # closed, or a one-line string left open at the line end
                        break
                continue
            m = _CODE.search(line, pos)
            if m is None:
                break
            c = m.group()
            pos = m.end()
            if c == "#":
                break
            if c in "\"'":
                if line.startswith(c * 3, m.start()):
                    quote, pos = c * 3, m.start() + 3
                else:
                    quote = c
            elif c in "([{":
                depth += 1
            elif c in ")]}":
                depth = max(depth - 1, 0)
            elif line[pos:] in _LINE_ENDS:
                cont = True


def parse_group(lines: list[str], start: int, end: int, filename: str) -> Group | None:
    """Parse lines ``start``..``end`` on their own, recovering from an error; None if they
    are too deeply nested for Python's parser. The lines above become blank lines, so that
    positions and the line numbers in messages are the whole text's, and the result does not
    depend on where the group is (its recovery budget counts the group's own text)."""
    text = "\n" * start + "".join(lines[start:end])
    try:
        tree = _parse(text, filename)
        errors: list[SyntaxProblem] = []
        masked: frozenset[int] = frozenset()
    except SyntaxError as err:
        recovered = _recover(text, err, filename, start)
        if recovered is None:
            return None
        tree, problem, masked = recovered
        errors = [problem]
    except (RecursionError, MemoryError, ValueError):
        return None
    return Group(start, end, list(tree.body) if tree is not None else [], errors, masked)


def split_groups(lines: list[str], stmts: list[ast.stmt]) -> list[Group]:
    """The groups of a text that parses (``stmts``: its tree's body), for the incremental
    parser to build on."""
    starts = [0, *group_starts(lines)]
    groups = [Group(s, e, []) for s, e in zip(starts, [*starts[1:], len(lines)])]
    for stmt in stmts:
        groups[max(bisect_right(starts, statement_start(stmt) - 1) - 1, 0)].stmts.append(stmt)
    return groups


def join_groups(groups: list[Group]) -> ParseResult:
    body: list[ast.stmt] = []
    errors: list[SyntaxProblem] = []
    masked: set[int] = set()
    for g in groups:
        body.extend(g.stmts)
        errors.extend(g.errors)
        masked.update(g.masked)
    return ParseResult(ast.Module(body=body, type_ignores=[]), errors, frozenset(masked))


def statement_start(stmt: ast.stmt) -> int:
    """The first line (1-based) of a statement, its decorators included."""
    line = stmt.lineno
    for d in getattr(stmt, "decorator_list", ()):
        line = min(line, d.lineno)
    return line


_LINE_IN_MESSAGE = re.compile(r"\b((?:on|at) line )(\d+)")


def moved(problem: SyntaxProblem, delta: int) -> SyntaxProblem:
    """``problem`` ``delta`` lines down, the line numbers in its message included."""
    if not delta:
        return problem
    message = _LINE_IN_MESSAGE.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + delta}", problem.message)
    return replace(problem, message=message, line=problem.line + delta, end_line=problem.end_line + delta)


# ---------------------------------------------------------------------------- recovery
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
    # Never the file's real name: for a SyntaxError, CPython reads the offending line back
    # from that file to place the column, and the file on disk is not the text being parsed
    # (an editor's buffer, a group of lines), so the column would depend on the disk.
    del filename
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # invalid escape sequences etc. are not our business
        return ast.parse(text, filename="<torchpit>", type_comments=False)


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


def _recover(
    text: str, first: SyntaxError, filename: str, blank: int = 0
) -> tuple[ast.Module | None, SyntaxProblem, frozenset[int]] | None:
    """Mask the lines of ``text`` that ``first`` (and the errors after it) blame until it
    parses: (tree or None if it never did, the first error, the masked lines); None if the
    text is too deeply nested. Its first ``blank`` lines are blank (not counted in the
    budget)."""
    lines = [line.rstrip("\r\n") for line in split_lines(text)]
    problem = _problem(first, lines)
    masked: set[int] = set()
    err: SyntaxError = first
    budget = RECOVERY_BUDGET_CHARS
    for _ in range(MAX_RECOVERY_ATTEMPTS):
        if budget < 0:
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
        reported = (err.lineno or 1) - 1
        end = target
        if target == reported:  # an open bracket swallows the lines after it
            end = min(max((getattr(err, "end_lineno", None) or target + 1) - 1, target), len(lines) - 1)
        for i in range(target, end + 1):
            lines[i] = _mask(lines, i)
            masked.add(i)
        attempt = "\n".join(lines)
        budget -= len(attempt) - blank
        try:
            return _parse(attempt, filename), problem, frozenset(masked)
        except SyntaxError as again:
            err = again
        except (RecursionError, MemoryError, ValueError):
            return None
    return None, problem, frozenset(masked)


# ---------------------------------------------------------------------------- entry point
TOO_DEEP = "the file is too deeply nested for Python's parser"


def parse_source(text: str, filename: str = "<unknown>") -> ParseResult:
    """The file's tree; for a file that does not parse, its groups' trees, each group's first
    syntax error and the masked lines (see module docs)."""
    return parse_text(text, filename)[0]


def parse_text(text: str, filename: str, keep_groups: bool = False) -> tuple[ParseResult, list[Group] | None]:
    """``parse_source``, and the text's groups (None when it is fatal; for a text that parses,
    only with ``keep_groups``: the incremental parser builds on them)."""
    if "\x00" in text:
        return ParseResult(None, fatal="the file contains NUL bytes; it is not Python source"), None
    try:
        tree = _parse(text, filename)
    except SyntaxError:
        pass
    except (RecursionError, MemoryError):
        return ParseResult(None, fatal=TOO_DEEP), None
    except ValueError as exc:  # a lone surrogate (U+D800..U+DFFF) cannot be encoded
        return ParseResult(None, fatal=f"the text cannot be parsed: {exc}"), None
    else:
        return ParseResult(tree), split_groups(split_lines(text), list(tree.body)) if keep_groups else None
    lines = split_lines(text)
    starts = [0, *group_starts(lines)]
    groups = []
    for s, e in zip(starts, [*starts[1:], len(lines)]):
        g = parse_group(lines, s, e, filename)
        if g is None:
            return ParseResult(None, fatal=TOO_DEEP), None
        groups.append(g)
    return join_groups(groups), groups
