"""What a document's analysis keeps from one version to the next (the language server).

The language server keeps one :class:`RuleMemo` per document being typed in, next to its
incremental parser. The parser reuses the tree of every top-level statement outside the
edited region (the same node objects, moved by the change in line count). For each such
statement the memo keeps:

- its *fragment* (``engine.Fragment``): its nodes by type and its part of the semantic model,
  which the traversal adopts instead of walking the statement again;
- the per-node rules' findings on it, with what their check read beyond the statement
  (``analyzers/syntax/reads.py``);
- the loop model's answers about its nodes (``persistent``: events, call resolution, ...),
  each with what it read.

A finding or an answer is dropped when something it read may have changed:

- a statement that was replaced, added or removed binds a name it looked up, or mentions a
  name whose call sites (or module-level reads) it counted;
- a substring it looked for in the whole text appeared or disappeared;
- a line whose text it read changed: a statement holding that line was replaced, or it was
  kept with its tree while that (masked) line changed (``IncrementalStats.retexted``);
- what it read depends on the whole text (the tokenizer's view of comments), and the text
  changed;
- it read the whole file.

Positions in kept findings are relative to the top-level statement that holds each line (the
finding's own statement, or one its chain of evidence points into), so they follow their
statement when lines above it are inserted or removed. A finding with a line outside every
statement is not kept. tests/test_rule_memo.py checks that the result equals a fresh analysis.
"""

from __future__ import annotations

import ast
from bisect import bisect_right
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Callable, Container, Hashable, Sequence

from ..core.diagnostics import Diagnostic, Edit, Position, Range, Related
from ..syntax.parsing import statement_start
from ..syntax.reads import Reads, tokens
from ..semantic.model import ModuleScope

if TYPE_CHECKING:
    from ..semantic.build import Fragment, Unit
    from ..syntax.source import SourceFile


@dataclass
class _Statement:
    stmt: ast.stmt
    names: set[str]
    lines: list[str]  # its source lines, for the names it mentions
    _tokens: set[str] | None = None

    @property
    def tokens(self) -> set[str]:
        if self._tokens is None:
            self._tokens = tokens(self.lines)
        return self._tokens


@dataclass
class _Entry:
    reads: Reads
    # Each finding with, per line it uses, the statement holding that line and the line's
    # offset from the statement's first line.
    findings: list[tuple[Diagnostic, dict[int, tuple[ast.stmt, int]]]]
    # The lines whose text the check read, the same way (a line after a statement's end is
    # in that statement's group: a change there replaces the statement).
    text_lines: list[tuple[ast.stmt, int]]


@dataclass
class MemoStats:
    units: int = 0  # top-level statements of the last version
    reused: int = 0  # of which the per-node rules' findings were reused
    file_rules_reused: int = 0  # whole-file rules whose findings were kept


class KeptAnswers(dict):
    """The loop model's answers kept across versions: ``(kind, *ids of nodes) -> (nodes, value,
    reads, their top-level statements)`` (``SemanticModel.remember_across_versions``), indexed
    by what can drop each one (its top-level statements, the names it looked up or searched
    for, the substrings it looked for), so that a new version finds the answers its edit
    invalidates without testing every one of them."""

    __slots__ = ("_by_top", "_by_bind", "_by_mention", "_by_text")

    def __init__(self) -> None:
        super().__init__()
        self._by_top: dict[int, set[tuple]] = {}
        self._by_bind: dict[str, set[tuple]] = {}
        self._by_mention: dict[str, set[tuple]] = {}
        self._by_text: dict[tuple[str, bool], set[tuple]] = {}

    def __setitem__(self, key: tuple, kept: tuple) -> None:
        if key in self:
            self._unindex(key, dict.__getitem__(self, key))
        dict.__setitem__(self, key, kept)
        for top in kept[3]:
            self._by_top.setdefault(id(top), set()).add(key)
        reads = kept[2]
        if reads is not None:
            for name in reads.binds:
                self._by_bind.setdefault(name, set()).add(key)
            for name in reads.mentions:
                self._by_mention.setdefault(name, set()).add(key)
            for item in reads.texts.items():
                self._by_text.setdefault(item, set()).add(key)

    def _unindex(self, key: tuple, kept: tuple) -> None:
        _discard(self._by_top, (id(top) for top in kept[3]), key)
        reads = kept[2]
        if reads is not None:
            _discard(self._by_bind, reads.binds, key)
            _discard(self._by_mention, reads.mentions, key)
            _discard(self._by_text, reads.texts.items(), key)

    @property
    def any_mentions(self) -> bool:
        return bool(self._by_mention)

    def drop_invalidated(self, current: Container[int], binds: set[str], mentions: set[str], text: str, checked: dict[str, bool]) -> None:
        """Drop every answer about a node outside the top-level statements ``current`` (ids) of
        the new version, or whose reads an edit
        that bound ``binds`` and mentioned ``mentions``, leaving ``text``, may have changed
        (the same test as ``Reads.invalidated_by``; answers reading the whole file are never kept)."""
        dropped: set[tuple] = set()
        for sid, keys in self._by_top.items():
            if sid not in current:
                dropped |= keys
        for names, index in ((binds, self._by_bind), (mentions, self._by_mention)):
            if len(names) <= len(index):
                for name in names:
                    dropped.update(index.get(name, ()))
            else:
                for name, keys in index.items():
                    if name in names:
                        dropped |= keys
        for (needle, found), keys in self._by_text.items():
            now = checked.get(needle)
            if now is None:
                now = checked[needle] = needle in text
            if now != found:
                dropped |= keys
        for key in dropped:
            kept = dict.pop(self, key, None)
            if kept is not None:
                self._unindex(key, kept)

    def clear(self) -> None:
        dict.clear(self)
        for index in (self._by_top, self._by_bind, self._by_mention, self._by_text):
            index.clear()


def _discard(index: dict, names, key: tuple) -> None:
    for name in names:
        keys = index.get(name)
        if keys is not None:
            keys.discard(key)
            if not keys:
                del index[name]


class RuleMemo:
    """What one document's analysis keeps between its versions (see module docs)."""

    def __init__(self) -> None:
        self._key: Hashable = None
        self._statements: dict[int, _Statement] = {}
        self._entries: dict[int, _Entry] = {}
        self._starts: list[int] = []
        self._units: list["Unit"] = []
        # Answers of the loop model (flow.events, flow.callee) kept across versions:
        # (kind, *ids of nodes) -> (nodes, value, reads, their top-level statements); see
        # SemanticModel.remember_across_versions.
        self.persistent = KeptAnswers()
        # Each statement's nodes by type and part of the semantic model (engine.traverse), and
        # the module scope those parts hang from: one for the document's lifetime.
        self._fragments: dict[int, "Fragment"] = {}
        self._wanted: frozenset[type] = frozenset()
        self._module_scope: ModuleScope | None = None
        # The whole-file rules' findings, with what each rule read: kept while every statement
        # of the document is the same (the same nodes at the same lines: typing inside a line
        # that stays broken, ``IncrementalStats.retexted``), see ``begin``.
        self._file_entries: dict[str, tuple[Reads, list[Diagnostic]]] = {}
        self._text: str | None = None  # the last version's text
        self.stats = MemoStats()

    @property
    def empty(self) -> bool:
        """Nothing kept yet: the next analysis is a first one, with nothing to reuse."""
        return self._key is None

    def module_scope(self, tree: ast.Module) -> ModuleScope:
        """The document's module scope, emptied for a new version (``tree``)."""
        if self._module_scope is None:
            self._module_scope = ModuleScope(tree, None)
        self._module_scope.node = tree
        self._module_scope.bindings = {}
        return self._module_scope

    def fragments(self, wanted: frozenset[type]) -> dict[int, "Fragment"]:
        """The statements' fragments, for a traversal collecting the node types ``wanted``."""
        if wanted != self._wanted:
            self._wanted = wanted
            self._fragments = {}
        return self._fragments

    def begin(self, key: Hashable, units: Sequence["Unit"], source: "SourceFile", retexted: Container[int] = frozenset(), changed: frozenset[int] = frozenset()) -> None:
        """A new version was traversed: drop what its edit may have changed. ``retexted``: ids
        of statements kept with their tree although some of their (masked) lines changed, the
        lines ``changed`` (``IncrementalStats``): the answers about them stand (none read
        text), and so do the findings of the checks that read none of those lines."""
        if key != self._key:
            self._key = key
            self._statements = {}
            self._entries = {}
            self._file_entries = {}
            self.persistent.clear()
        same_text = source.text == self._text
        self._text = source.text
        current = {id(u.stmt): u for u in units}
        starts = [statement_start(u.stmt) - 1 for u in units]
        self._file_entries = self._file_entries_kept(units, starts, changed, same_text, source)
        binds: set[str] = set()
        mentions: set[str] = set()
        need_tokens = self.persistent.any_mentions or any(e.reads.mentions for e in self._entries.values())
        new_statements: dict[int, _Statement] = {}
        for sid, u in current.items():
            old = self._statements.get(sid)
            if old is not None:
                new_statements[sid] = old
                continue
            start = statement_start(u.stmt)
            info = _Statement(u.stmt, u.names, source.lines[start - 1 : (u.stmt.end_lineno or start)])
            new_statements[sid] = info
            binds |= info.names
            if need_tokens:
                mentions |= info.tokens
        for sid, info in self._statements.items():
            if sid not in current:
                binds |= info.names
                if need_tokens:
                    mentions |= info.tokens
        checked: dict[str, bool] = {}
        self._entries = {
            sid: e
            for sid, e in self._entries.items()
            if sid in current
            and not e.reads.invalidated_by(binds, mentions, source.text, checked)
            and all(id(anchor) in current for _, lines in e.findings for anchor, _ in lines.values())
            and not (e.reads.all_text and not same_text)
            and all(id(anchor) in current and not (id(anchor) in retexted and statement_start(anchor) - 1 + offset in changed) for anchor, offset in e.text_lines)
        }
        self.persistent.drop_invalidated(current, binds, mentions, source.text, checked)
        kept_fragments = {}
        for sid, frag in self._fragments.items():
            if sid in current:
                kept_fragments[sid] = frag
            else:
                _release(frag)
        self._fragments = kept_fragments
        self._statements = new_statements
        self._units = list(units)
        self._starts = starts
        self.stats = MemoStats(units=len(units))

    def _file_entries_kept(self, units: Sequence["Unit"], starts: list[int], changed: frozenset[int], same_text: bool, source: "SourceFile") -> dict[str, tuple[Reads, list[Diagnostic]]]:
        """The whole-file rules' findings that still hold: every statement is the one of the
        last version, at the same line (so the only lines that changed are masked lines,
        ``changed``), the substrings the rule looked for are still (or still not) there, and
        it read the text of none of the lines that changed (nor what depends on the whole
        text, if it changed)."""
        if not self._file_entries or starts != self._starts or len(units) != len(self._units) or any(u.stmt is not v.stmt for u, v in zip(units, self._units)):
            return {}
        checked: dict[str, bool] = {}
        kept = {}
        for code, (reads, findings) in self._file_entries.items():
            if not reads.texts_hold(source.text, checked):
                continue
            if (reads.all_text and not same_text) or not reads.lines.isdisjoint(changed):
                continue
            kept[code] = (reads, findings)
        return kept

    def reuse_file_rule(self, code: str) -> list[Diagnostic] | None:
        """A whole-file rule's findings kept from the last version (see ``begin``), or None."""
        entry = self._file_entries.get(code)
        if entry is None:
            return None
        self.stats.file_rules_reused += 1
        return list(entry[1])

    def store_file_rule(self, code: str, findings: Sequence[Diagnostic], reads: Reads | None) -> None:
        """Keep a whole-file rule's findings, unless it asked jedi or another module (which
        may change while the statements of this document do not)."""
        if reads is not None and not reads.outside:
            self._file_entries[code] = (reads, list(findings))

    def release(self) -> None:
        """Break the reference cycles of what is kept (scopes and their bindings), so that
        reference counting frees it when the document is closed or its memo is dropped, even
        after the server froze it out of the cyclic collector's sight (``gc.freeze``)."""
        for frag in self._fragments.values():
            _release(frag)
        if self._module_scope is not None:
            self._module_scope.bindings = {}
        self._fragments = {}
        self._entries = {}
        self._file_entries = {}
        self._statements = {}
        self.persistent.clear()
        self._units = []
        self._text = None
        self._key = None

    def reuse(self, unit: "Unit") -> list[Diagnostic] | None:
        """The findings kept for ``unit``, moved to where its lines are now; None if none."""
        entry = self._entries.get(id(unit.stmt))
        if entry is None:
            return None
        self.stats.reused += 1
        out = []
        for diag, lines in entry.findings:
            # The stored finding keeps the lines it had when it was made; each maps to its
            # anchor statement's first line now plus the same offset.
            moved = {old: statement_start(anchor) - 1 + offset for old, (anchor, offset) in lines.items()}
            out.append(diag if all(k == v for k, v in moved.items()) else _move(diag, moved.__getitem__))
        return out

    def store(self, unit: "Unit", findings: Sequence[Diagnostic], reads: Reads) -> None:
        """Keep ``unit``'s findings and what its check read (unless a line can't be placed)."""
        text_lines: list[tuple[ast.stmt, int]] = []
        for line in reads.lines:
            i = bisect_right(self._starts, line) - 1
            if i < 0:
                return  # above the first statement: not kept
            text_lines.append((self._units[i].stmt, line - self._starts[i]))
        kept: list[tuple[Diagnostic, dict[int, tuple[ast.stmt, int]]]] = []
        for diag in findings:
            lines: dict[int, tuple[ast.stmt, int]] = {}
            for line in _lines_of(diag):
                i = bisect_right(self._starts, line) - 1
                if i < 0:
                    return
                u = self._units[i]
                if line > (u.stmt.end_lineno or 0) - 1:
                    return  # between statements (a comment line): not kept
                lines[line] = (u.stmt, line - self._starts[i])
            kept.append((diag, lines))
        self._entries[id(unit.stmt)] = _Entry(reads, kept, text_lines)


def _release(frag: "Fragment") -> None:
    """A statement's fragment is no longer used: break its scope <-> binding cycles."""
    for scope in frag.record.scopes.values():
        scope.bindings.clear()
    frag.record.module_bindings.clear()


def _lines_of(d: Diagnostic) -> set[int]:
    out = {d.range.start.line, d.range.end.line}
    if d.noqa_line is not None:
        out.add(d.noqa_line)
    for r in d.related:
        if r.path is not None:
            out.add(-1)  # evidence in another file: never kept
        out.update((r.range.start.line, r.range.end.line))
    if d.fix is not None:
        for e in d.fix.edits:
            out.update((e.range.start.line, e.range.end.line))
    return out


def _move(d: Diagnostic, f: Callable[[int], int]) -> Diagnostic:
    def rng(r: Range) -> Range:
        return Range(Position(f(r.start.line), r.start.col), Position(f(r.end.line), r.end.col))

    return replace(
        d,
        range=rng(d.range),
        noqa_line=f(d.noqa_line) if d.noqa_line is not None else None,
        related=tuple(Related(rng(r.range), r.message, r.path) for r in d.related),
        fix=replace(d.fix, edits=tuple(Edit(rng(e.range), e.new_text) for e in d.fix.edits)) if d.fix is not None else None,
    )
