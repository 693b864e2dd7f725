"""Incremental parsing: after an edit, parse again only the top-level statements it touched.

The language server analyzes a document on every keystroke, and parsing a 2,000-line file
from scratch took 30-45 ms of the analysis on our 2-core machine, more when recovery from a
half-typed statement parses it again (benchmarks/README.md). An edit inside one function
changes one top-level statement; the others keep their syntax trees.

:class:`IncrementalParser` keeps the previous text split into the *groups* of
``parsing.group_starts``: each top-level statement with the comments and blank lines after
it, found from the text alone. For a new text it finds the changed lines (common prefix and
suffix of the two line lists), scans for group starts from the group before the change
(its start is unchanged, and the scan from there agrees with a scan of the whole text) until
it finds, after the change, a line that starts a group in both texts; the groups from there
on are the old ones, moved by the change in line count. Only the groups in between are
parsed, each on its own (``parsing.parse_group``).

The result is exactly ``parsing.parse_source`` of the whole text, whatever the edits before:
a text that parses is the concatenation of its groups' trees, which is ``ast.parse``'s tree;
a text that does not is, by definition, its groups each parsed and recovered on its own
(``parsing`` module docs). ``tests/test_incremental.py`` checks both on random edits of real
files, broken ones included.
"""

from __future__ import annotations

import ast
from bisect import bisect_left
from dataclasses import dataclass, replace

from .parsing import Group, ParseResult, group_starts, join_groups, moved, parse_group, parse_text
from .source import split_lines


@dataclass
class IncrementalStats:
    """What the last :meth:`IncrementalParser.parse` did (for showDebugInfo and benchmarks)."""

    mode: str = "full"  # "full" | "unchanged" | "region"
    reparsed_lines: int = 0
    # ids of the statements kept from the previous version although their text changed: only
    # lines masked in the new parse changed, and the new parse is the same tree (positions
    # included) as before. Their facts stand; what was read from their text must be read again.
    retexted: frozenset[int] = frozenset()
    # The lines (0-based, of the new text) that changed inside those statements: masked lines.
    changed_lines: frozenset[int] = frozenset()


def _shift(group: Group, delta: int) -> Group:
    """The group moved down ``delta`` lines (up, if negative): its nodes' line numbers too, as
    ``ast.increment_lineno`` moves them. The nodes are listed once per group and the list is
    kept, because a newline typed near the top of a file moves every group below it, on
    every such keystroke (a walk of a 2,000-line file's trees took 7 to 9 ms of one)."""
    if not delta:
        return group
    nodes = group.positioned
    if nodes is None:
        nodes = [n for stmt in group.stmts for n in ast.walk(stmt) if "lineno" in n._attributes]
    for n in nodes:
        n.lineno = getattr(n, "lineno", 0) + delta  # type: ignore[attr-defined]
        end = getattr(n, "end_lineno", None)
        if end is not None:
            n.end_lineno = end + delta  # type: ignore[attr-defined]
    return replace(
        group,
        start=group.start + delta,
        end=group.end + delta,
        errors=[moved(e, delta) for e in group.errors],
        masked=frozenset(i + delta for i in group.masked),
        positioned=nodes,
    )


def _same_tree(before: Group, after: Group, old: list[str], new: list[str]) -> bool:
    """``after`` (lines ``start``..``end`` of ``new``) parsed to the tree ``before`` had, node
    for node and position for position, and every line that differs is masked in ``after``:
    the rest of its text is the same as well."""
    if any(old[i] != new[i] and i not in after.masked for i in range(after.start, after.end)):
        return False
    return _same_nodes(before.stmts, after.stmts)


def _same_nodes(a: object, b: object) -> bool:
    """``ast.dump(a, include_attributes=True) == ast.dump(b, ...)``, walking both at once and
    stopping at the first difference (a third of the time of two dumps)."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        if type(x) is not type(y):
            return False
        if isinstance(x, ast.AST):
            for name in x._attributes:
                if getattr(x, name, None) != getattr(y, name, None):
                    return False
            stack.extend((getattr(x, name, None), getattr(y, name, None)) for name in x._fields)
        elif type(x) is list:
            if len(x) != len(y):  # type: ignore[arg-type]
                return False
            stack.extend(zip(x, y))  # type: ignore[call-overload]
        elif x != y:
            return False
    return True


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
        self._groups: list[Group] = []
        self.stats = IncrementalStats()

    def parse(self, text: str) -> ParseResult:
        lines = split_lines(text)
        if self._lines is None or "\x00" in text:
            return self._full(text, lines)
        old = self._lines
        if lines == old:
            self.stats = IncrementalStats("unchanged", 0)
            return join_groups(self._groups)
        p = 0
        n = min(len(old), len(lines))
        while p < n and old[p] == lines[p]:
            p += 1
        s = 0
        while s < n - p and old[-1 - s] == lines[-1 - s]:
            s += 1
        new_end = len(lines) - s  # changed new lines: [p, new_end)
        delta = len(lines) - len(old)
        groups = self._groups
        old_starts = [g.start for g in groups]
        # The group holding the line before the change: whether line p starts a group depends
        # on the lines above it (a decorator, an open bracket), and that group's start does not.
        a = max(bisect_left(old_starts, max(p - 1, 0) + 1) - 1, 0)
        start = groups[a].start
        starts = [start]
        resync = len(groups)
        for line in group_starts(lines, start):
            if line >= new_end:
                i = bisect_left(old_starts, line - delta)
                if i < len(groups) and old_starts[i] == line - delta:
                    resync = i  # the same text from here on, starting a group in both: the same groups
                    break
            starts.append(line)
        end = groups[resync].start + delta if resync < len(groups) else len(lines)
        region: list[Group] = []
        same_span = {(g.start, g.end): g for g in groups[a:resync]}
        retexted: set[int] = set()
        changed: set[int] = set()
        for s0, e0 in zip(starts, [*starts[1:], end]):
            if s0 == start and e0 <= p and groups[a].end == e0:
                region.append(groups[a])  # the group before the change, unchanged
                continue
            g = parse_group(lines, s0, e0, self.filename)
            if g is None:
                return self._full(text, lines)
            before = same_span.get((s0, e0))
            if before is not None and before.stmts and _same_tree(before, g, old, lines):
                # Typing inside a line that stays broken: the same tree as before (salsa's early
                # cutoff). Its statements are kept, so is everything computed from them.
                g = replace(g, stmts=before.stmts, positioned=before.positioned)
                retexted.update(id(stmt) for stmt in g.stmts)
                changed.update(i for i in range(g.start, g.end) if old[i] != lines[i])
            region.append(g)
        self._groups = [*groups[:a], *region, *(_shift(g, delta) for g in groups[resync:])]
        self._lines = lines
        self.stats = IncrementalStats("region", end - start, frozenset(retexted), frozenset(changed))
        return join_groups(self._groups)

    # ------------------------------------------------------------------ internals
    def _full(self, text: str, lines: list[str]) -> ParseResult:
        """Parse the whole text (``parsing.parse_source``), keeping its groups."""
        self.stats = IncrementalStats("full", len(lines))
        parsed, groups = parse_text(text, self.filename, keep_groups=True)
        self._lines = lines if groups is not None else None  # nothing to build on: parse the next version whole
        self._groups = groups or []
        return parsed
