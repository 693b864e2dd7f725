"""A document's text after ``didChange``: LSP line semantics, in the negotiated encoding.

LSP lines end only at ``\\n``, ``\\r\\n`` and ``\\r`` (``analyzers/source.split_lines``, the split
the engine and every position conversion in the server use). ``str.splitlines`` also splits at
form feeds, ``\\v``, U+2028 and others, which would put an edit below such a character on the
wrong line; pygls' own ``TextDocument`` does that, so the server keeps its own copy.

A change whose range is not in the document (a line past the end, a start after the end)
raises :class:`ChangeError`; it is never applied halfway.
"""

from __future__ import annotations

from typing import Sequence

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from .convert import Lines


class ChangeError(ValueError):
    """A content change that cannot be applied to the text the server has."""


def _offset(lines: Lines, line: int, col: int) -> int:
    return sum(map(len, lines.lines[:line])) + col


def apply_change(text: str, change: types.TextDocumentContentChangeEvent, codec: PositionCodec) -> str:
    """``text`` after one content change. A whole-document change replaces it; a range
    change replaces the range (columns in the codec's encoding; a column past the end of its
    line means the end of the line, as the specification says)."""
    if isinstance(change, types.TextDocumentContentChangeWholeDocument):
        return change.text
    rng = change.range
    lines = Lines(text, codec)
    try:
        start = lines.from_client(rng.start)
        end = lines.from_client(rng.end)
    except ValueError as exc:
        raise ChangeError(f"range {_show(rng)} is not in the document: {exc}") from None
    if (end.line, end.col) < (start.line, start.col):
        raise ChangeError(f"range {_show(rng)} ends before it starts")
    a = _offset(lines, start.line, start.col)
    b = _offset(lines, end.line, end.col)
    return text[:a] + change.text + text[b:]


def apply_changes(text: str, changes: Sequence[types.TextDocumentContentChangeEvent], codec: PositionCodec) -> str:
    """``text`` after the changes of one ``didChange``, in order. Raises ChangeError (and
    applies none of them) when one cannot be applied."""
    for change in changes:
        text = apply_change(text, change, codec)
    return text


def _show(rng: types.Range) -> str:
    return f"{rng.start.line}:{rng.start.character}-{rng.end.line}:{rng.end.character}"
