"""Code actions: the rule's fix, "Disable PITnnn for this line", fix all, confirm with a probe.

Pure functions of the document's text and version, its current diagnostics and the
request. Every edit names the document version it was computed for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from lsprotocol import types

from torchpit.analyzers.core.diagnostics import Applicability, Diagnostic, Edit, Fix, Position, Range
from torchpit.analyzers.engine.fixes import apply_fixes
from torchpit.analyzers.syntax.source import NOQA_RE

from .analysis import DocResult
from .convert import SOURCE, Lines, fix_from_data

FIX_ALL_KIND = "source.fixAll.torchpit"
CMD_APPLY_FIX = "torchpit.applyFix"
CMD_EXPLAIN = "torchpit.explain"
CMD_DEBUG_INFO = "torchpit.showDebugInfo"
CMD_RUN_PROBE = "torchpit.runProbe"


@dataclass(frozen=True)
class ClientEditSupport:
    document_changes: bool = True  # workspace.workspaceEdit.documentChanges


@dataclass(frozen=True)
class Candidate:
    """One diagnostic the request is about: ours, plus what the client sent."""

    diag: Diagnostic
    client: types.Diagnostic
    fix: Fix | None
    noqa_line: int | None


def workspace_edit(uri: str, version: int | None, edits: list[types.TextEdit], support: ClientEditSupport) -> types.WorkspaceEdit:
    if support.document_changes:
        return types.WorkspaceEdit(
            document_changes=[
                types.TextDocumentEdit(
                    text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                    edits=edits,
                )
            ]
        )
    return types.WorkspaceEdit(changes={uri: edits})


def candidates(doc: DocResult, params: types.CodeActionParams, lines: Lines) -> list[Candidate]:
    """The diagnostics of this request, matched to ours.

    A fix is taken from the diagnostic's ``data`` when the client sent it back for this very
    version; otherwise from our result for this version (matched by code and range). When
    the client sent no torchpit diagnostics, ours that overlap the requested range are used.
    """
    ours = list(zip(doc.diagnostics, doc.lsp))
    out: list[Candidate] = []
    sent = [d for d in params.context.diagnostics if d.source == SOURCE]
    for client in sent:
        match = next((d for d, l in ours if l.code == client.code and l.range == client.range), None)
        usable, fix, noqa = fix_from_data(client.data, doc.version)
        if match is None and not usable:
            continue  # stale: computed for other text
        if match is None:
            # The client's diagnostic is ours for this version, but our cache moved on: rebuild.
            try:
                rng = lines.from_client_range(client.range)
            except ValueError:
                continue
            match = Diagnostic(code=str(client.code), name=str((client.data or {}).get("name", "")), message=client.message, range=rng, fix=fix, noqa_line=noqa)
        if not usable:
            fix, noqa = match.fix, match.noqa_line
        out.append(Candidate(match, client, fix, noqa))
    if not sent:
        try:
            wanted = lines.from_client_range(params.range)
        except ValueError:
            return out
        for d, l in ours:
            if d.range.overlaps(wanted):
                out.append(Candidate(d, l, d.fix, d.noqa_line))
    return out


def fix_title(code: str, fix: Fix) -> str:
    title = f"Fix {code}: {fix.message}"
    if fix.applicability is Applicability.UNSAFE:
        title += " (unsafe)"
    return title


def quick_fix(c: Candidate, doc: DocResult, lines: Lines, support: ClientEditSupport) -> types.CodeAction | None:
    if c.fix is None or c.fix.applicability is Applicability.DISPLAY_ONLY:
        return None
    edits = [lines.text_edit(e) for e in c.fix.edits]
    return types.CodeAction(
        title=fix_title(c.diag.code, c.fix),
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[c.client],
        is_preferred=c.fix.is_safe,
        edit=workspace_edit(doc.uri, doc.version, edits, support),
    )


def noqa_edit(lines: Lines, line: int, code: str) -> Edit | None:
    """Add ``code`` to the line's ``# noqa:`` directive, or append one; None if impossible."""
    text = lines.line(line)
    if line >= len(lines.lines):
        return None
    m = NOQA_RE.search(text)
    if m:
        codes = m.group("codes")
        if not codes:
            return None  # a bare `# noqa` already silences everything on the line
        if code in {c.upper() for c in codes.replace(",", " ").split()}:
            return None
        end = m.end("codes")
        return Edit(Range(Position(line, end), Position(line, end)), f", {code}")
    stripped = text.rstrip()
    if stripped.endswith("\\"):
        return None  # a comment after a line continuation would break the code
    end = len(stripped)
    return Edit(Range(Position(line, end), Position(line, len(text))), f"{'  ' if stripped else ''}# noqa: {code}")


def noqa_action(c: Candidate, doc: DocResult, lines: Lines, support: ClientEditSupport) -> types.CodeAction | None:
    if not c.diag.is_rule:
        return None  # syntax errors and other input problems cannot be silenced
    line = c.noqa_line if c.noqa_line is not None else c.diag.range.start.line
    edit = noqa_edit(lines, line, c.diag.code)
    if edit is None:
        return None
    return types.CodeAction(
        title=f"Disable {c.diag.code} for this line",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[c.client],
        edit=workspace_edit(doc.uri, doc.version, [lines.text_edit(edit)], support),
    )


def probe_action(c: Candidate, doc: DocResult, has_probe: bool) -> types.CodeAction | None:
    if not c.diag.is_rule or not has_probe:
        return None
    return types.CodeAction(
        title=f"Confirm {c.diag.code} with a probe",
        kind=types.CodeActionKind.QuickFix,
        diagnostics=[c.client],
        command=types.Command(
            title=f"Confirm {c.diag.code} with a probe",
            command=CMD_RUN_PROBE,
            arguments=[{"code": c.diag.code, "uri": doc.uri, "line": c.diag.range.start.line, "spec": c.diag.probe}],
        ),
    )


def fix_all_edits(doc: DocResult) -> list[Edit]:
    """The edits of every safe fix that applies together (non-overlapping, result parses)."""
    result = apply_fixes(doc.text, doc.diagnostics, unsafe=False)
    return [e for d in result.applied for e in (d.fix.edits if d.fix else ())]


def fix_all_action(doc: DocResult, lines: Lines, support: ClientEditSupport) -> types.CodeAction | None:
    edits = fix_all_edits(doc)
    if not edits:
        return None
    return types.CodeAction(
        title="Fix all safe torchpit problems",
        kind=FIX_ALL_KIND,
        edit=workspace_edit(doc.uri, doc.version, [lines.text_edit(e) for e in edits], support),
    )


def wants(only: Sequence[str] | None, kind: str) -> bool:
    """Whether a requested ``only`` filter admits ``kind`` (kinds are dot-separated hierarchies)."""
    if not only:
        return True
    return any(kind == o or kind.startswith(o + ".") for o in only)


def code_actions(
    doc: DocResult,
    params: types.CodeActionParams,
    lines: Lines,
    support: ClientEditSupport,
    probe_available: Callable[[Diagnostic], bool] | None = None,
) -> list[types.CodeAction]:
    only = params.context.only
    out: list[types.CodeAction] = []
    if wants(only, types.CodeActionKind.QuickFix):
        fixes, noqas, probes = [], [], []
        for c in candidates(doc, params, lines):
            for bucket, action in (
                (fixes, quick_fix(c, doc, lines, support)),
                (noqas, noqa_action(c, doc, lines, support)),
                (probes, probe_action(c, doc, bool(probe_available and probe_available(c.diag)))),
            ):
                if action is not None and action.title not in {a.title for a in bucket}:
                    bucket.append(action)
        out.extend(fixes + noqas + probes)
    if wants(only, FIX_ALL_KIND):
        action = fix_all_action(doc, lines, support)
        if action is not None:
            out.append(action)
    return out


def apply_fix_edit(doc: DocResult, fix: Fix, lines: Lines, support: ClientEditSupport) -> types.WorkspaceEdit:
    return workspace_edit(doc.uri, doc.version, [lines.text_edit(e) for e in fix.edits], support)


def find_diagnostic(doc: DocResult, code: str, line: int | None) -> Diagnostic | None:
    for d in doc.diagnostics:
        if d.code == code and (line is None or d.range.start.line == line):
            return d
    return None
