"""Output formats of ``torchpit check``: text, json, sarif, github."""

from __future__ import annotations

import json
import os
from collections import Counter
from typing import Any, Iterable, Sequence

from torchpit import DOCS_URL, __version__
from torchpit.analyzers.diagnostics import BUILTIN_CODES, Applicability, Diagnostic, Severity
from torchpit.analyzers.registry import all_rules, rule_by_code

from .batch import FileResult

FORMATS = ("text", "json", "sarif", "github")


def rule_url(code: str) -> str | None:
    return f"{DOCS_URL}/{code}.md" if code not in BUILTIN_CODES else None


def _display_path(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _fixable(d: Diagnostic, unsafe: bool) -> bool:
    return d.fix is not None and (d.fix.applicability is Applicability.SAFE or (unsafe and d.fix.applicability is Applicability.UNSAFE))


def iter_findings(results: Iterable[FileResult]) -> Iterable[tuple[FileResult, Diagnostic]]:
    for r in results:
        for d in r.diagnostics:
            yield r, d


# ---------------------------------------------------------------------- text
def format_text(results: Sequence[FileResult], *, unsafe: bool = False, show_fixes: bool = True) -> str:
    lines = []
    for r, d in iter_findings(results):
        where = _display_path(r.path)
        if d.cell is not None:
            where += f":cell {d.cell}"
        mark = " [*]" if show_fixes and _fixable(d, unsafe) else ""
        lines.append(f"{where}:{d.range.start.line + 1}:{d.range.start.col + 1}: {d.code}{mark} {d.message}")
    return "\n".join(lines)


def summary(results: Sequence[FileResult], *, unsafe: bool = False, fixed: int = 0) -> str:
    total = sum(len(r.diagnostics) for r in results)
    out = []
    if fixed:
        out.append(f"Fixed {fixed} error{'s' if fixed != 1 else ''}.")
    if total == 0:
        out.append("All checks passed!" if not fixed else "")
        return "\n".join(x for x in out if x)
    noun = "error" if total == 1 else "errors"
    out.append(f"Found {total} {noun}" + (f" ({fixed} fixed, {total} remaining)." if fixed else "."))
    safe = sum(1 for _, d in iter_findings(results) if _fixable(d, False))
    only_unsafe = sum(1 for _, d in iter_findings(results) if d.fix and d.fix.applicability is Applicability.UNSAFE)
    if safe:
        out.append(f"[*] {safe} fixable with the `--fix` option.")
    if only_unsafe and not unsafe:
        out.append(f"({only_unsafe} hidden fix{'es' if only_unsafe != 1 else ''} can be enabled with the `--unsafe-fixes` option.)")
    return "\n".join(out)


def statistics(results: Sequence[FileResult], *, unsafe: bool = False) -> str:
    counts = Counter(d.code for _, d in iter_findings(results))
    fixable = {d.code for _, d in iter_findings(results) if _fixable(d, unsafe)}
    rows = []
    for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        rule = rule_by_code(code)
        name = rule.name if rule else BUILTIN_CODES.get(code, "")
        rows.append(f"{n:>5}\t{code}\t{'[*]' if code in fixable else '[ ]'} {name}")
    return "\n".join(rows)


# ---------------------------------------------------------------------- json (ruff's field names)
def _loc(line: int, col: int) -> dict[str, int]:
    return {"row": line + 1, "column": col + 1}


def diagnostic_json(path: str, d: Diagnostic) -> dict[str, Any]:
    return {
        "cell": d.cell,
        "code": d.code,
        "end_location": _loc(d.range.end.line, d.range.end.col),
        "filename": path,
        "fix": None
        if d.fix is None
        else {
            "applicability": d.fix.applicability.value,
            "message": d.fix.message,
            "edits": [
                {"content": e.new_text, "location": _loc(e.range.start.line, e.range.start.col), "end_location": _loc(e.range.end.line, e.range.end.col)}
                for e in d.fix.edits
            ],
        },
        "location": _loc(d.range.start.line, d.range.start.col),
        "message": d.message,
        "name": d.name,
        "noqa_row": (d.noqa_line + 1) if d.noqa_line is not None else None,
        "related": [
            {"message": r.message, "filename": r.path or path, "location": _loc(r.range.start.line, r.range.start.col)} for r in d.related
        ],
        "severity": d.severity.value,
        "url": rule_url(d.code),
        **({"probe": d.probe} if d.probe else {}),
    }


def format_json(results: Sequence[FileResult]) -> str:
    out = []
    for r in results:
        for i, d in enumerate(r.diagnostics):
            item = diagnostic_json(os.path.abspath(r.path), d)
            if i in r.probes:
                item["probe_results"] = r.probes[i]
            out.append(item)
    return json.dumps(out, indent=2)


# ---------------------------------------------------------------------- sarif 2.1.0
_SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note", Severity.HINT: "note"}


def format_sarif(results: Sequence[FileResult]) -> str:
    rules = list(all_rules())
    index = {r.code: i for i, r in enumerate(rules)}
    descriptors = [
        {
            "id": r.code,
            "name": r.name,
            "shortDescription": {"text": r.summary},
            "fullDescription": {"text": r.doc_sections().get("What it does", r.summary)},
            "help": {"text": r.docs(), "markdown": r.markdown()},
            "helpUri": rule_url(r.code),
            "defaultConfiguration": {"level": _SARIF_LEVEL[r.severity]},
            "properties": {"tags": ["pytorch", "correctness"]},
        }
        for r in rules
    ]
    sarif_results = []
    for r, d in iter_findings(results):
        region = {
            "startLine": d.range.start.line + 1,
            "startColumn": d.range.start.col + 1,
            "endLine": d.range.end.line + 1,
            "endColumn": d.range.end.col + 1,
        }
        uri = _display_path(r.path).replace(os.sep, "/")
        item: dict[str, Any] = {
            "ruleId": d.code,
            "level": _SARIF_LEVEL[d.severity],
            "message": {"text": d.message},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}, "region": region}}],
        }
        if d.code in index:
            item["ruleIndex"] = index[d.code]
        if d.related:
            item["relatedLocations"] = [
                {
                    "id": i,
                    "message": {"text": rel.message},
                    "physicalLocation": {
                        "artifactLocation": {"uri": (rel.path or uri).replace(os.sep, "/"), "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": rel.range.start.line + 1, "startColumn": rel.range.start.col + 1},
                    },
                }
                for i, rel in enumerate(d.related)
            ]
        if d.cell is not None:
            item["properties"] = {"cell": d.cell}
        sarif_results.append(item)
    doc = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "torchpit",
                        "version": __version__,
                        "informationUri": "https://github.com/torchpit/torchpit",
                        "rules": descriptors,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": "file://" + os.getcwd().replace(os.sep, "/") + "/"}},
                "results": sarif_results,
            }
        ],
    }
    return json.dumps(doc, indent=2)


# ---------------------------------------------------------------------- github annotations
def _escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_prop(s: str) -> str:
    return _escape_data(s).replace(":", "%3A").replace(",", "%2C")


def format_github(results: Sequence[FileResult]) -> str:
    out = []
    for r, d in iter_findings(results):
        level = "error" if d.severity is Severity.ERROR else "warning" if d.severity is Severity.WARNING else "notice"
        props = ",".join(
            [
                f"title={_escape_prop(f'torchpit ({d.code})')}",
                f"file={_escape_prop(_display_path(r.path))}",
                f"line={d.range.start.line + 1}",
                f"col={d.range.start.col + 1}",
                f"endLine={d.range.end.line + 1}",
                f"endColumn={d.range.end.col + 1}",
            ]
        )
        where = f"cell {d.cell}: " if d.cell is not None else ""
        out.append(f"::{level} {props}::{_escape_data(f'{where}{d.code} {d.message}')}")
    return "\n".join(out)
