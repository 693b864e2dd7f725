"""``# noqa`` on the command line: warnings for unknown codes in them, and ``check --add-noqa``.

torchpit only judges codes of its own (``PIT...``): ``# noqa: E501, PIT101`` is a line shared
with other linters, and their codes are none of its business.
"""

from __future__ import annotations

import ast
import difflib
import json
from typing import Iterable, Sequence

from torchpit.analyzers.core.diagnostics import BUILTIN_CODES, Diagnostic
from torchpit.analyzers.engine.fixes import parses
from torchpit.analyzers.syntax.notebook import Notebook, join_cells, neutralize_magics
from torchpit.analyzers.engine.registry import all_rules
from torchpit.analyzers.syntax.source import NOQA_RE, SourceFile, split_lines

OWN_PREFIX = "PIT"


def unknown_noqa_warnings(source: SourceFile, display: str, nb: Notebook | None = None) -> list[str]:
    """One message per unknown ``PIT`` code in a ``# noqa`` comment, naming the comment and where it is."""
    rules = {r.code for r in all_rules()}
    out = []
    for line, directive in sorted(source.noqa.items()):
        unknown = [c for c in directive.codes if c.startswith(OWN_PREFIX) and c not in rules]
        if not unknown:
            continue
        comment = source.line_text(line)[directive.start : directive.end].strip()
        where = f"{display}:{line + 1}:{directive.start + 1}"
        if nb is not None and line < len(nb.joined.line_map):
            cell, cell_line = nb.joined.line_map[line]
            where = f"{display}:cell {nb.cell_numbers[cell]}:{cell_line + 1}:{directive.start + 1}"
        for code in unknown:
            if code in BUILTIN_CODES:
                out.append(f"{where}: {code} in `{comment}` is not a rule: a `# noqa` does not silence it")
                continue
            hint = difflib.get_close_matches(code, sorted(rules), n=1)
            tip = f" (did you mean {hint[0]}?)" if hint else " (see `torchpit rules`)"
            out.append(f"{where}: unknown rule code {code} in `{comment}`: it suppresses nothing{tip}")
    return out


# ---------------------------------------------------------------------- --add-noqa
def _codes_by_line(diagnostics: Iterable[Diagnostic]) -> dict[int, set[str]]:
    by_line: dict[int, set[str]] = {}
    for d in diagnostics:
        if not d.is_rule:
            continue  # a syntax error or an unreadable file is not silenced by a comment
        line = d.noqa_line if d.noqa_line is not None else d.range.start.line
        by_line.setdefault(line, set()).add(d.code)
    return by_line


def _with_directive(line_text: str, codes: set[str]) -> str | None:
    """``line_text`` with ``codes`` in its ``# noqa`` (added or merged); None when nothing changes."""
    m = NOQA_RE.search(line_text)
    if m is not None:
        existing = [c.upper() for c in (m.group("codes") or "").replace(",", " ").split()]
        if not existing:
            return None  # a bare `# noqa` already silences everything
        merged = existing + sorted(codes - set(existing))
        if merged == existing:
            return None
        return line_text[: m.start()] + f"# noqa: {', '.join(merged)}" + line_text[m.end() :]
    body = line_text.rstrip()
    return f"{body}  # noqa: {', '.join(sorted(codes))}" + line_text[len(body) :]


def _same_program(before: str, after: str) -> bool:
    try:
        return ast.dump(ast.parse(before)) == ast.dump(ast.parse(after))
    except (SyntaxError, ValueError):
        return False


def add_noqa_to_text(text: str, diagnostics: Sequence[Diagnostic], check=None) -> tuple[str, int]:
    """Append ``# noqa: CODE`` to each line a finding reports on. Returns (new text, directives changed).

    A comment cannot go everywhere (inside a multi-line string, after a ``\\``); a line where
    it would change the program is left as it is.
    """
    check = check or _same_program
    lines = split_lines(text)
    changed = 0
    for line, codes in sorted(_codes_by_line(diagnostics).items()):
        if line >= len(lines):
            continue
        content = lines[line].rstrip("\r\n")
        ending = lines[line][len(content) :]
        new = _with_directive(content, codes)
        if new is None:
            continue
        candidate = lines[:line] + [new + ending] + lines[line + 1 :]
        if not check("".join(lines), "".join(candidate)):
            continue
        lines = candidate
        changed += 1
    return "".join(lines), changed


def add_noqa_to_notebook(raw: str, diagnostics: Sequence[Diagnostic]) -> tuple[str, int]:
    """The notebook JSON with ``# noqa`` comments added cell by cell (cell-relative lines)."""
    data = json.loads(raw)
    by_cell: dict[int, list[Diagnostic]] = {}
    for d in diagnostics:
        if d.cell is not None:
            by_cell.setdefault(d.cell, []).append(d)
    changed = 0
    for number, diags in by_cell.items():
        cell = data["cells"][number - 1]
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else str(cell["source"])
        new, n = add_noqa_to_text(source, diags, lambda a, b: _same_program(neutralize_magics(a), neutralize_magics(b)))
        if n:
            cell["source"] = new.splitlines(keepends=True)
            changed += n
    if not changed:
        return raw, 0
    cells = [("".join(c["source"]) if isinstance(c["source"], list) else str(c["source"])) for c in data["cells"] if c.get("cell_type") == "code"]
    if not parses(join_cells(cells).text):
        return raw, 0
    return json.dumps(data, indent=1, ensure_ascii=False) + ("\n" if raw.endswith("\n") else ""), changed
