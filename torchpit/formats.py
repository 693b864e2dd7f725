"""Machine-readable output formats of ``torchpit check``: json, json-lines, sarif, github, junit, gitlab.

The text formats (``full``, ``concise``) are in :mod:`torchpit.render`.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any, Sequence
from xml.sax.saxutils import quoteattr

from torchpit import DOCS_URL, __version__
from torchpit.analyzers.core.diagnostics import BUILTIN_CODES, Diagnostic, Severity
from torchpit.analyzers.engine.registry import all_rules

from .batch import FileResult, diff_name
from .render import Sources, iter_findings

# "text" is the old name of "full", kept so that scripts written for it still work.
FORMATS = ("full", "concise", "text", "json", "json-lines", "sarif", "github", "junit", "gitlab")


def rule_url(code: str) -> str | None:
    return f"{DOCS_URL}/{code}.md" if code not in BUILTIN_CODES else None


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
            {"message": r.message, "filename": r.path or path, "location": _loc(r.range.start.line, r.range.start.col), "cell": r.cell}
            for r in d.related
        ],
        "severity": d.severity.value,
        "url": rule_url(d.code),
        **({"probe": d.probe} if d.probe else {}),
    }


def _json_items(results: Sequence[FileResult]) -> list[dict[str, Any]]:
    out = []
    for r in results:
        for i, d in enumerate(r.diagnostics):
            item = diagnostic_json(os.path.abspath(r.path), d)
            if i in r.probes:
                item["probe_results"] = r.probes[i]  # `check --probe`: the observations, in the finding
            out.append(item)
    return out


def format_json(results: Sequence[FileResult]) -> str:
    return json.dumps(_json_items(results), indent=2)


def format_json_lines(results: Sequence[FileResult]) -> str:
    """One JSON object per line (ruff's ``json-lines``), the same objects as ``json``."""
    return "\n".join(json.dumps(item) for item in _json_items(results))


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
        uri = diff_name(r.path).replace(os.sep, "/")
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
                f"file={_escape_prop(diff_name(r.path))}",
                f"line={d.range.start.line + 1}",
                f"col={d.range.start.col + 1}",
                f"endLine={d.range.end.line + 1}",
                f"endColumn={d.range.end.col + 1}",
            ]
        )
        where = f"cell {d.cell}: " if d.cell is not None else ""
        out.append(f"::{level} {props}::{_escape_data(f'{where}{d.code} {d.message}')}")
    return "\n".join(out)


# ---------------------------------------------------------------------- junit xml
def format_junit(results: Sequence[FileResult]) -> str:
    """JUnit XML as CI test reports read it: a test suite per file, a failed test case per finding."""
    total = sum(len(r.diagnostics) for r in results)
    out = ['<?xml version="1.0" encoding="UTF-8"?>', f'<testsuites name="torchpit" tests="{total}" failures="{total}" errors="0">']
    for r in results:
        if not r.diagnostics:
            continue
        name = diff_name(r.path)
        out.append(f'  <testsuite name={quoteattr(name)} tests="{len(r.diagnostics)}" disabled="0" errors="0" failures="{len(r.diagnostics)}" package="org.torchpit">')
        for d in r.diagnostics:
            where = f"cell {d.cell}: " if d.cell is not None else ""
            line, col = d.range.start.line + 1, d.range.start.col + 1
            out.append(f'    <testcase name={quoteattr(f"org.torchpit.{d.code}")} classname={quoteattr(name)} line="{line}" column="{col}">')
            text = f"{where}line {line}, col {col}, {d.message}"
            out.append(f"      <failure message={quoteattr(d.message)}>{_xml_text(text)}</failure>")
            out.append("    </testcase>")
        out.append("  </testsuite>")
    out.append("</testsuites>")
    return "\n".join(out)


def _xml_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# ---------------------------------------------------------------------- gitlab code quality
_GITLAB_SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info", Severity.HINT: "info"}


def format_gitlab(results: Sequence[FileResult], sources: Sources) -> str:
    """GitLab Code Quality JSON. A fingerprint stays the same while the flagged line's text does."""
    out = []
    seen: dict[str, int] = {}
    for r, d in iter_findings(results):
        path = diff_name(r.path).replace(os.sep, "/")
        text = sources.line(r.path, d.cell, d.range.start.line).strip()
        base = hashlib.sha256(f"{d.code}\0{path}\0{d.cell or ''}\0{text}".encode()).hexdigest()[:16]
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.append(
            {
                "check_name": d.code,
                "description": f"{d.code} {d.message}" if d.cell is None else f"cell {d.cell}: {d.code} {d.message}",
                "severity": _GITLAB_SEVERITY[d.severity],
                "fingerprint": base if n == 0 else f"{base}-{n}",
                "location": {
                    "path": path,
                    "positions": {
                        "begin": {"line": d.range.start.line + 1, "column": d.range.start.col + 1},
                        "end": {"line": d.range.end.line + 1, "column": d.range.end.col + 1},
                    },
                },
            }
        )
    return json.dumps(out, indent=2)
