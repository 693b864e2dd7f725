"""Engine data to LSP data: positions in the negotiated encoding, diagnostics, edits.

The engine counts columns in code points; the client counts them in its position encoding
(UTF-16 unless negotiated otherwise). Conversion goes through pygls' ``PositionCodec``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from typing import Any, Mapping, Sequence

from lsprotocol import types
from pygls.uris import from_fs_path, to_fs_path
from pygls.workspace.position_codec import PositionCodec

import torchpit
from torchpit.analyzers.core.diagnostics import Diagnostic, Edit, Fix, Position, Range, Related, Severity
from torchpit.analyzers.syntax.source import split_lines

SOURCE = "torchpit"

SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}


def docs_url(code: str) -> str:
    return f"{torchpit.DOCS_URL}/{code}.md"


def uri_to_path(uri: str) -> str | None:
    """The file system path of a ``file:`` URI (None for untitled buffers and other schemes)."""
    if not uri.startswith("file:"):
        return None
    return to_fs_path(uri)


def path_to_uri(path: str) -> str:
    return from_fs_path(os.path.abspath(path)) or path


class Lines:
    """A document's lines (split as the LSP and Python's tokenizer do) and the codec."""

    def __init__(self, text: str, codec: PositionCodec) -> None:
        self.text = text
        self.lines = split_lines(text)
        self.codec = codec

    def line(self, index: int) -> str:
        if 0 <= index < len(self.lines):
            return self.lines[index].rstrip("\r\n")
        return ""

    def to_client(self, pos: Position) -> types.Position:
        if pos.line >= len(self.lines):  # past the end: the end of the document
            last = len(self.lines) - 1
            return types.Position(last, self.codec.client_num_units(self.line(last)))
        text = self.line(pos.line)
        col = min(pos.col, len(text))
        if col and not text.isascii():
            col = self.codec.client_num_units(text[:col])
        return types.Position(pos.line, col)

    def to_client_range(self, rng: Range) -> types.Range:
        return types.Range(self.to_client(rng.start), self.to_client(rng.end))

    def from_client(self, pos: types.Position) -> Position:
        """A client position to code points; raises ValueError when it is not in the document."""
        if pos.line < 0 or pos.character < 0:
            raise ValueError(f"invalid position {pos.line}:{pos.character}")
        if pos.line >= len(self.lines):
            raise ValueError(f"line {pos.line} is past the end of the document ({len(self.lines)} lines)")
        text = self.line(pos.line)
        if text.isascii():
            return Position(pos.line, min(pos.character, len(text)))
        units = 0
        for i, ch in enumerate(text):
            if units >= pos.character:
                return Position(pos.line, i)
            units += self.codec.impl.code_units_for_char(ch)
        return Position(pos.line, len(text))

    def from_client_range(self, rng: types.Range) -> Range:
        return Range(self.from_client(rng.start), self.from_client(rng.end))

    def text_edit(self, edit: Edit) -> types.TextEdit:
        return types.TextEdit(range=self.to_client_range(edit.range), new_text=edit.new_text)


def to_lsp_diagnostic(diag: Diagnostic, lines: Lines, uri: str, version: int | None) -> types.Diagnostic:
    """One engine diagnostic (in this document's coordinates) as an LSP diagnostic.

    ``data`` carries what code actions need, so they do not recompute: the document version
    it was computed for, the fix and the line a ``# noqa`` belongs on.
    """
    related = [
        types.DiagnosticRelatedInformation(
            location=types.Location(uri=r.path or uri, range=lines.to_client_range(r.range) if not r.path else _foreign_range(r.range)),
            message=r.message,
        )
        for r in diag.related
    ]
    is_rule = diag.is_rule
    return types.Diagnostic(
        range=lines.to_client_range(diag.range),
        message=diag.message,
        severity=SEVERITY[diag.severity],
        code=diag.code,
        code_description=types.CodeDescription(href=docs_url(diag.code)) if is_rule else None,
        source=SOURCE,
        related_information=related or None,
        data={
            "version": version,
            "name": diag.name,
            "fix": diag.fix.to_dict() if diag.fix else None,
            "noqaLine": diag.noqa_line,
            "probe": diag.probe is not None,
        },
    )


# Probe notes of a document: (rule code, start line of the diagnostic) -> what the probe found.
ProbeNotes = Mapping[tuple[str, int], Sequence[str]]


def with_probe_notes(diag: Diagnostic, notes: ProbeNotes | None) -> Diagnostic:
    """The diagnostic with the probe's findings about it as related locations (on itself)."""
    extra = (notes or {}).get((diag.code, diag.range.start.line))
    if not extra:
        return diag
    return replace(diag, related=(*diag.related, *(Related(diag.range, f"probe {n}") for n in extra)))


def to_lsp_diagnostics(diags: Sequence[Diagnostic], lines: Lines, uri: str, version: int | None, notes: ProbeNotes | None = None) -> list[types.Diagnostic]:
    """What the client sees for one document: each diagnostic, with its probe notes, converted once."""
    return [to_lsp_diagnostic(with_probe_notes(d, notes), lines, uri, version) for d in diags]


def _range_json(r: types.Range) -> dict[str, Any]:
    return {"start": {"line": r.start.line, "character": r.start.character}, "end": {"line": r.end.line, "character": r.end.character}}


def diagnostic_json(d: types.Diagnostic) -> dict[str, Any]:
    """``d`` as the JSON the protocol sends: what lsprotocol's converter makes of it (absent
    fields left out), written out for the fields a diagnostic has. Through the converter's
    hooks, the benchmark's publish of 25 diagnostics took 0.37-0.47 ms per keystroke, and
    0.18-0.20 ms this way (benchmarks/README.md, stop 22). tests/server/test_server_units.py
    checks that the two agree on every diagnostic of the examples and on one with every field set."""
    out: dict[str, Any] = {"range": _range_json(d.range), "message": d.message}
    if d.severity is not None:
        out["severity"] = int(d.severity)
    if d.code is not None:
        out["code"] = d.code
    if d.code_description is not None:
        out["codeDescription"] = {"href": d.code_description.href}
    if d.source is not None:
        out["source"] = d.source
    if d.tags is not None:
        out["tags"] = [int(t) for t in d.tags]
    if d.related_information is not None:
        out["relatedInformation"] = [
            {"location": {"uri": r.location.uri, "range": _range_json(r.location.range)}, "message": r.message} for r in d.related_information
        ]
    if d.data is not None:
        out["data"] = d.data
    return out


def result_id(lsp: Sequence[types.Diagnostic]) -> str:
    """A digest of what the client sees (pull diagnostics' result id)."""
    return hashlib.sha1(repr(list(lsp)).encode()).hexdigest()[:16]


def _foreign_range(rng: Range) -> types.Range:
    # Another file's text is not at hand: code points are the best available guess.
    return types.Range(types.Position(rng.start.line, rng.start.col), types.Position(rng.end.line, rng.end.col))


def fix_from_data(data: Any, version: int | None) -> tuple[bool, Fix | None, int | None]:
    """(usable, fix, noqa line) from a diagnostic's ``data`` as the client sent it back.

    Usable only when it was computed for ``version`` (a fix for older text would corrupt it).
    """
    if not isinstance(data, dict) or data.get("version") != version or version is None:
        return False, None, None
    try:
        fix = Fix.from_dict(data["fix"]) if data.get("fix") else None
    except (KeyError, TypeError, ValueError):
        return False, None, None
    noqa = data.get("noqaLine")
    return True, fix, noqa if isinstance(noqa, int) else None


def related_to_uris(diag: Diagnostic, own_path: str | None) -> Diagnostic:
    """Related locations in other files carry URIs; those in this file carry no path."""
    if not diag.related or all(r.path is None for r in diag.related):
        return diag
    own = os.path.abspath(own_path) if own_path else None
    related = tuple(
        r if r.path is None else Related(r.range, r.message, None if own and os.path.abspath(r.path) == own else path_to_uri(r.path))
        for r in diag.related
    )
    return replace(diag, related=related)
