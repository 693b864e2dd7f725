"""What a rule read outside the top-level statement it checked, so its findings can be reused.

The language server re-analyses a document on every keystroke. An edit touches one or two
top-level statements; the findings of the others stay right as long as nothing they were
computed from changed. While the per-node rules check one top-level statement (a *unit*),
the semantic model records here every way the check looked beyond that statement:

- ``binds``: names looked up at module level (``lookup`` reaching the module scope), and
  names looked up in the file's index of classes and functions. The answer can change only
  when an edited statement binds that name (at module level, or as a ``def``/``class``
  anywhere), before or after the edit.
- ``mentions``: names whose call sites were searched for (``callsites``). The answer can
  change only when an edited statement mentions the name.
- ``texts``: substrings the check looked for in the whole text, and the answer it got.
- ``whole``: the check read something of the whole file (the tree, every node of a type,
  every function, jedi, another module). Its findings are recomputed after every edit.
- ``lines``: the lines (0-based) whose text it read (``SourceFile``: a line, a node's range or
  text). A statement kept while only its masked lines changed (``IncrementalStats.retexted``)
  keeps the findings of the checks that read none of the lines that changed.
- ``all_text``: it read something that depends on the whole text (the tokenizer's view of
  comment lines and continuations): dropped whenever the text changes.
- ``outside``: the check asked something beyond this text's tree: jedi (which reads the raw
  text, half-typed lines included) or another module of the project (which may change on
  disk). A whole-file rule's findings are kept across versions whose statements are all
  unchanged (``RuleMemo``) unless it read outside.

Everything else a check can reach is inside its own statement, or inside a statement it
reached through one of those reads (a binding's statement binds the name it was found by).
``analyzers/engine/analysis.py`` keeps the findings of each unit with its reads (``RuleMemo``) and
reuses them when no edit since invalidated them; ``tests/test_rule_memo.py`` checks the
reused findings against a fresh analysis on thousands of random edits of real code.
"""

from __future__ import annotations

import re
from typing import Iterable

_TOKEN_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class Reads:
    __slots__ = ("binds", "mentions", "texts", "whole", "outside", "lines", "all_text")

    def __init__(self) -> None:
        self.binds: set[str] = set()
        self.mentions: set[str] = set()
        self.texts: dict[str, bool] = {}
        self.whole = False
        self.outside = False
        self.lines: set[int] = set()
        self.all_text = False

    @property
    def empty(self) -> bool:
        return not (self.binds or self.mentions or self.texts or self.whole or self.lines or self.all_text)

    @property
    def read_text(self) -> bool:
        """It read some of the text itself (not only the tree)."""
        return bool(self.lines) or self.all_text

    def merge(self, other: "Reads") -> None:
        if other.binds:
            self.binds |= other.binds
        if other.mentions:
            self.mentions |= other.mentions
        if other.texts:
            self.texts.update(other.texts)
        if other.lines:
            self.lines |= other.lines
        if other.all_text:
            self.all_text = True
        if other.whole:
            self.whole = True
            if other.outside:
                self.outside = True

    def invalidated_by(self, binds: set[str], tokens: set[str], text: str, checked: dict[str, bool]) -> bool:
        """Could an edit that bound ``binds`` and mentioned ``tokens`` (in the statements it
        replaced or added), leaving ``text``, change what this check read?"""
        if self.whole:
            return True
        if binds and not self.binds.isdisjoint(binds):
            return True
        if tokens and not self.mentions.isdisjoint(tokens):
            return True
        return not self.texts_hold(text, checked)

    def texts_hold(self, text: str, checked: dict[str, bool]) -> bool:
        """Every substring test recorded gives the same answer on ``text`` (``checked``: the
        answers already found for it, shared between the readers of one version)."""
        for needle, found in self.texts.items():
            now = checked.get(needle)
            if now is None:
                now = checked[needle] = needle in text
            if now != found:
                return False
        return True


def tokens(lines: Iterable[str]) -> set[str]:
    """The identifiers (and keywords) written in these lines, comments and strings included."""
    out: set[str] = set()
    for line in lines:
        out.update(_TOKEN_RE.findall(line))
    return out


class NameIndex(dict):
    """The model's classes or functions by name; reading it is recorded (see module docs).

    Filled while the model is built (``setdefault``, not recorded); a lookup by name records
    the name, a listing records a read of the whole file.
    """

    __slots__ = ("reads_of",)

    def __init__(self, reads_of) -> None:  # reads_of: () -> Reads | None
        super().__init__()
        self.reads_of = reads_of

    def _bind(self, name: object) -> None:
        r = self.reads_of()
        if r is not None and isinstance(name, str):
            r.binds.add(name)

    def _whole(self) -> None:
        r = self.reads_of()
        if r is not None:
            r.whole = True

    def get(self, name, default=None):  # type: ignore[override]
        self._bind(name)
        return super().get(name, default)

    def __getitem__(self, name):
        self._bind(name)
        return super().__getitem__(name)

    def __contains__(self, name) -> bool:
        self._bind(name)
        return super().__contains__(name)

    def values(self):  # type: ignore[override]
        self._whole()
        return super().values()

    def items(self):  # type: ignore[override]
        self._whole()
        return super().items()

    def keys(self):  # type: ignore[override]
        self._whole()
        return super().keys()

    def __iter__(self):
        self._whole()
        return super().__iter__()

    def __len__(self) -> int:
        self._whole()
        return super().__len__()
