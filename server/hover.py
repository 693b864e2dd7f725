"""Hover: a rule's documentation over a flagged range or a code in a ``# noqa:`` comment."""

from __future__ import annotations

import re
from typing import Mapping, Sequence

from lsprotocol import types

from torchpit.analyzers.core.diagnostics import Position, Range
from torchpit.analyzers.engine.registry import rule_by_code
from torchpit.analyzers.syntax.source import NOQA_RE

from .analysis import DocResult
from .convert import Lines

_CODE = re.compile(r"[A-Za-z]+[0-9]+")


def explain(code: str) -> str | None:
    """The rule's documentation (what ``torchpit explain`` prints), or None if no such rule."""
    rule = rule_by_code(code)
    return rule.markdown() if rule else None


def noqa_codes_at(lines: Lines, pos: Position) -> tuple[list[str], Range] | None:
    """The code(s) of a ``# noqa:`` directive under ``pos``: the one under the cursor, or
    all of them when the cursor is on ``# noqa`` itself."""
    text = lines.line(pos.line)
    m = NOQA_RE.search(text)
    if not m or not m.group("codes") or not m.start() <= pos.col <= m.end():
        return None
    base = m.start("codes")
    tokens = [(base + t.start(), base + t.end(), t.group(0).upper()) for t in _CODE.finditer(m.group("codes"))]
    for start, end, code in tokens:
        if start <= pos.col <= end:
            return [code], Range(Position(pos.line, start), Position(pos.line, end))
    return [c for _, _, c in tokens], Range(Position(pos.line, m.start()), Position(pos.line, m.end()))


def hover(doc: DocResult, lines: Lines, pos: Position, markdown: bool, probe_notes: Mapping[tuple[str, int], Sequence[str]] | None = None) -> types.Hover | None:
    noqa = noqa_codes_at(lines, pos)
    if noqa is not None:
        codes, rng = noqa
        sections = [s for s in (explain(c) for c in codes) if s]
    else:
        hits = [d for d in doc.diagnostics if d.range.contains(pos) and d.is_rule]
        if not hits:
            return None
        rng = hits[0].range
        sections, seen = [], set()
        for d in hits:
            if d.code in seen:
                continue
            seen.add(d.code)
            doc_text = explain(d.code)
            if doc_text:
                notes = list((probe_notes or {}).get((d.code, d.range.start.line), ()))
                if notes:
                    doc_text += "\n**Probe:**\n\n" + "\n".join(f"- {n}" for n in notes) + "\n"
                sections.append(doc_text)
    if not sections:
        return None
    value = "\n---\n\n".join(sections)
    kind = types.MarkupKind.Markdown if markdown else types.MarkupKind.PlainText
    return types.Hover(contents=types.MarkupContent(kind=kind, value=value), range=lines.to_client_range(rng))
