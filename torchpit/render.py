"""Text output of ``torchpit check``: the ``full`` and ``concise`` formats, the summary, statistics.

``full`` is ruff's default layout: the code and message, a ``-->`` location line, the flagged
source lines with the range underlined, each related location ("softmax applied here") with
its own source line, and the fix title as ``help:``. ``concise`` is one line per finding.
"""

from __future__ import annotations

import os
import shutil
import textwrap
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import IO, Iterable, Sequence

from torchpit.analyzers.core.diagnostics import BUILTIN_CODES, Applicability, Diagnostic, Range, Severity
from torchpit.analyzers.engine.registry import rule_by_code
from torchpit.analyzers.syntax.source import split_lines

from .batch import NB_SUFFIX, EncodingDeclarationError, FileResult, diff_name, read_bytes, read_python

MAX_SNIPPET_LINES = 6  # a longer range shows its first and last lines around a "..."


# ---------------------------------------------------------------------- colour
@dataclass(frozen=True)
class Style:
    """ANSI styling, or none. ``Style.for_stream`` applies --color, NO_COLOR and FORCE_COLOR."""

    enabled: bool = False

    @staticmethod
    def wanted(choice: str, stream: IO[str] | None, env: dict[str, str] | None = None) -> bool:
        env = os.environ if env is None else env
        if choice == "always":
            return True
        if choice == "never":
            return False
        if env.get("NO_COLOR"):
            return False
        if env.get("FORCE_COLOR"):
            return True
        isatty = getattr(stream, "isatty", None)
        return bool(isatty and isatty()) and env.get("TERM") != "dumb"

    def _sgr(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._sgr(text, "1")

    def gutter(self, text: str) -> str:
        return self._sgr(text, "1;34")

    def fixable(self, text: str) -> str:
        return self._sgr(text, "1;36")

    def help(self, text: str) -> str:
        return self._sgr(text, "1;36")

    def related(self, text: str) -> str:
        return self._sgr(text, "1;34")

    def severity(self, text: str, severity: Severity) -> str:
        colour = {Severity.ERROR: "1;31", Severity.WARNING: "1;33"}.get(severity, "1;34")
        return self._sgr(text, colour)


def terminal_width(stream: IO[str] | None) -> int | None:
    """Columns to wrap messages at on a terminal ($COLUMNS, else its size); None for a pipe or a file."""
    isatty = getattr(stream, "isatty", None)
    if isatty and isatty():
        return shutil.get_terminal_size().columns
    return None


# ---------------------------------------------------------------------- source lines
@dataclass
class Sources:
    """The lines a finding points at, read when first needed (the batch results carry no text).

    ``given`` holds texts that are not on disk (stdin). A file that cannot be read again
    shows no snippet rather than failing the output.
    """

    given: dict[str, bytes] = field(default_factory=dict)
    _lines: dict[tuple[str, int | None], list[str]] = field(default_factory=dict)

    def lines(self, path: str, cell: int | None = None) -> list[str]:
        key = (path, cell)
        if key not in self._lines:
            self._lines[key] = self._read(path, cell)
        return self._lines[key]

    def line(self, path: str, cell: int | None, line: int) -> str:
        lines = self.lines(path, cell)
        return lines[line] if 0 <= line < len(lines) else ""

    def _read(self, path: str, cell: int | None) -> list[str]:
        from torchpit.analyzers.syntax.notebook import NotebookError, read_notebook

        try:
            raw = self.given[path] if path in self.given else read_bytes(path)
            if path.endswith(NB_SUFFIX):
                if cell is None:
                    return []
                nb = read_notebook(raw.decode("utf-8"))
                text = nb.cells[nb.cell_numbers.index(cell)]
            else:
                try:
                    text = read_python(raw).text
                except EncodingDeclarationError:  # analysed as UTF-8 (batch.check_source): shown so too
                    text = raw.decode("utf-8-sig", errors="replace")
        except (OSError, UnicodeError, LookupError, NotebookError, ValueError):
            return []
        return [line.rstrip("\r\n") for line in split_lines(text)]


# ---------------------------------------------------------------------- shared helpers
def is_fixable(d: Diagnostic, unsafe: bool) -> bool:
    return d.fix is not None and (d.fix.applicability is Applicability.SAFE or (unsafe and d.fix.applicability is Applicability.UNSAFE))


def iter_findings(results: Iterable[FileResult]) -> Iterable[tuple[FileResult, Diagnostic]]:
    for r in results:
        for d in r.diagnostics:
            yield r, d


def rule_name(code: str) -> str:
    rule = rule_by_code(code)
    return rule.name if rule else BUILTIN_CODES.get(code, "")


def location(r: FileResult, d: Diagnostic, rng: Range | None = None) -> str:
    rng = rng or d.range
    where = diff_name(r.path)
    if d.cell is not None:
        where += f":cell {d.cell}"
    return f"{where}:{rng.start.line + 1}:{rng.start.col + 1}"


# ---------------------------------------------------------------------- concise
def format_concise(results: Sequence[FileResult], *, unsafe: bool = False, style: Style = Style()) -> str:
    lines = []
    for r, d in iter_findings(results):
        mark = " " + style.fixable("[*]") if is_fixable(d, unsafe) else ""
        lines.append(f"{style.bold(location(r, d))}: {style.severity(d.code, d.severity)}{mark} {d.message}")
        lines.extend(probe_lines(r, d, "    "))
    return "\n".join(lines)


# ---------------------------------------------------------------------- full
def _display_width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad_to(line: str, col: int) -> str:
    """Blank space as wide as ``line[:col]`` on screen (tabs kept, wide characters doubled)."""
    return "".join("\t" if ch == "\t" else " " * _display_width(ch) for ch in line[:col])


def _snippet(lines: list[str], rng: Range, mark: str, label: str, style_mark, style: Style, width: int) -> list[str]:
    """The source lines of ``rng``, each followed by its underline; the label ends the last underline."""
    if not lines or rng.start.line >= len(lines):
        return []
    first, last = rng.start.line, min(rng.end.line, len(lines) - 1)
    if rng.end.line > rng.start.line and rng.end.col == 0 and last > first:
        last -= 1  # a range ending at the start of a line does not include that line
    shown = list(range(first, last + 1))
    if len(shown) > MAX_SNIPPET_LINES:
        shown = shown[:2] + [-1] + shown[-2:]
    out = []
    for n in shown:
        if n == -1:
            out.append(style.gutter("..."))
            continue
        text = lines[n]
        start = rng.start.col if n == first else len(text) - len(text.lstrip())
        end = rng.end.col if n == rng.end.line else len(text)
        end = max(min(end, len(text)), start)
        under = mark * max(1, _display_width(text[start:end]))
        tail = f" {label}" if label and n == shown[-1] else ""
        out.append(f"{style.gutter(f'{n + 1:>{width}} |')} {text}".rstrip())
        out.append(f"{style.gutter(' ' * width + ' |')} {_pad_to(text, start)}{style_mark(under + tail)}")
    return out


def format_full_one(r: FileResult, d: Diagnostic, sources: Sources, *, unsafe: bool, style: Style, columns: int | None) -> str:
    lines = sources.lines(r.path, d.cell)
    numbers = [d.range.end.line + 1] + [rel.range.start.line + 1 for rel in d.related]
    width = len(str(max(numbers)))
    mark = " " + style.fixable("[*]") if is_fixable(d, unsafe) else ""
    head = f"{d.code}{' [*]' if mark else ''} "
    message = d.message
    if columns and columns > len(head) + 20:
        wrapped = textwrap.wrap(message, width=columns - len(head), break_long_words=False, break_on_hyphens=False)
        message = ("\n" + " " * len(head)).join(wrapped) if wrapped else message
    out = [f"{style.severity(d.code, d.severity)}{mark} {style.bold(message)}"]
    pad = " " * width
    out.append(f"{pad}{style.gutter('-->')} {location(r, d)}")
    snippet = _snippet(lines, d.range, "^", d.code, lambda t: style.severity(t, d.severity), style, width)
    if snippet:
        out.append(style.gutter(f"{pad} |"))
        out.extend(snippet)
    for rel in d.related:
        if rel.path and os.path.abspath(rel.path) != os.path.abspath(r.path):
            where = f"{diff_name(rel.path)}:{rel.range.start.line + 1}:{rel.range.start.col + 1}"
            rel_lines = sources.lines(rel.path) if not rel.path.endswith(NB_SUFFIX) else []
        elif rel.cell is not None and rel.cell != d.cell:  # another cell of the notebook
            where = f"{diff_name(r.path)}:cell {rel.cell}:{rel.range.start.line + 1}:{rel.range.start.col + 1}"
            rel_lines = sources.lines(r.path, rel.cell)
        else:
            if rel.range == d.range:
                continue  # the evidence is the flagged range itself: its snippet is above
            where = location(r, d, rel.range)
            rel_lines = lines
        out.append(style.gutter(f"{pad} |"))
        out.append(f"{pad}{style.gutter(':::')} {where}")
        rel_snippet = _snippet(rel_lines, rel.range, "-", rel.message, style.related, style, width)
        if rel_snippet:
            out.append(style.gutter(f"{pad} |"))
            out.extend(rel_snippet)
        else:
            out.append(f"{style.gutter(f'{pad} =')} {rel.message}")
    out.append(style.gutter(f"{pad} |"))
    if d.fix is not None:
        note = ""
        if d.fix.applicability is Applicability.UNSAFE and not unsafe:
            note = " (unsafe fix: apply it with `--fix --unsafe-fixes`)"
        elif d.fix.applicability is Applicability.DISPLAY_ONLY:
            note = " (apply it by hand)"
        out.append(f"{style.help('help')}: {d.fix.message}{note}")
    out.extend(probe_lines(r, d, ""))
    return "\n".join(out)


def format_full(results: Sequence[FileResult], sources: Sources, *, unsafe: bool = False, style: Style = Style(), columns: int | None = None) -> str:
    blocks = [format_full_one(r, d, sources, unsafe=unsafe, style=style, columns=columns) for r, d in iter_findings(results)]
    return "\n\n".join(blocks) + ("\n" if blocks else "")


# ---------------------------------------------------------------------- probe observations
def probe_lines(r: FileResult, d: Diagnostic, indent: str) -> list[str]:
    """``check --probe``: what the probe observed for this finding, under it."""
    index = next((i for i, x in enumerate(r.diagnostics) if x is d), None)
    out = []
    for res in r.probes.get(index, []) if index is not None else []:
        out.append(f"{indent}probe [{res.get('status')}]: {res.get('summary')}")
    return out


# ---------------------------------------------------------------------- summary and statistics
def count_phrase(diagnostics: Iterable[Diagnostic]) -> str:
    """``3 errors, 13 warnings``: the findings by severity, most severe first."""
    counts = Counter(d.severity for d in diagnostics)
    parts = []
    for sev in Severity:
        n = counts.get(sev, 0)
        if n:
            parts.append(f"{n} {sev.value}{'s' if n != 1 else ''}")
    return ", ".join(parts)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith(('x', 's')) else 's'}"


def summary(results: Sequence[FileResult], *, unsafe: bool = False, fixed: int = 0, baselined: int = 0) -> str:
    """The lines after the findings, printed once: what was found, fixed, and can be fixed."""
    remaining = [d for _, d in iter_findings(results)]
    total = len(remaining) + fixed
    out = []
    if total == 0:
        out.append("All checks passed!")
    elif fixed:
        rest = f": {count_phrase(remaining)}" if remaining else ""
        out.append(f"Found {plural(total, 'finding')} ({fixed} fixed, {len(remaining)} remaining{rest}).")
    else:
        out.append(f"Found {plural(total, 'finding')}: {count_phrase(remaining)}.")
    if baselined:
        out.append(f"{plural(baselined, 'finding')} in the baseline not shown.")
    safe = sum(1 for d in remaining if is_fixable(d, unsafe))
    hidden = sum(1 for d in remaining if d.fix and d.fix.applicability is Applicability.UNSAFE)
    if safe:
        out.append(f"[*] {safe} fixable with the `--fix` option.")
    if hidden and not unsafe:
        out.append(f"({plural(hidden, 'hidden fix')} can be enabled with the `--unsafe-fixes` option.)")
    return "\n".join(out)


def statistics_rows(results: Sequence[FileResult], *, unsafe: bool = False) -> list[dict]:
    counts = Counter(d.code for _, d in iter_findings(results))
    fixable = {d.code for _, d in iter_findings(results) if is_fixable(d, unsafe)}
    return [
        {"code": code, "name": rule_name(code), "count": n, "fixable": code in fixable}
        for code, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def format_statistics(rows: Sequence[dict]) -> str:
    return "\n".join(f"{row['count']:>5}\t{row['code']}\t{'[*]' if row['fixable'] else '[ ]'} {row['name']}" for row in rows)


def format_fixes(results: Sequence[FileResult], *, would: bool = False, unsafe: bool = False) -> str:
    """``--show-fixes``: the fixes applied per file and rule; with ``would``, those that ``--fix`` would apply.

    After ``--diff`` the results know what the fixes changed (``fixed_codes``); without any fix
    mode, what ``--fix`` would apply is what the findings offer.
    """
    per_file = [(r, r.fixed_codes or ([d.code for d in r.diagnostics if is_fixable(d, unsafe)] if would else [])) for r in results]
    total = sum(len(codes) for _, codes in per_file)
    if not total:
        return ""
    out = [f"{'Would fix' if would else 'Fixed'} {plural(total, 'finding')}:"]
    for r, codes in per_file:
        if not codes:
            continue
        out.append(f"- {diff_name(r.path)}:")
        for code, n in sorted(Counter(codes).items()):
            out.append(f"    {n} × {code} ({rule_name(code)})")
    return "\n".join(out)


def write(stream: IO[str], text: str) -> None:
    if text:
        stream.write(text if text.endswith("\n") else text + "\n")
