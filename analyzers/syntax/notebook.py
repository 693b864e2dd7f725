"""Jupyter notebooks: code cells joined into one source, IPython syntax neutralised.

Magics (``%matplotlib inline``, ``%%time``), shell escapes (``!pip install``, ``x = !ls``) and
help queries (``obj?``) are not Python. Each such line is replaced by a line of the same
length class (a ``pass`` at its indentation, or blank) so that line numbers stay put; cell
magics other than the timing/capture ones blank their whole cell. Positions map back to
(cell, line in cell).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..core.diagnostics import Diagnostic, Edit, Position, Range, Related

# Cell magics whose body is still Python.
PYTHON_CELL_MAGICS = {"time", "timeit", "capture", "prun", "debug", "python", "python3", "writefile_python"}
_LINE_MAGIC = re.compile(r"^(\s*)(%{1,2}|!{1,2})")
_ASSIGN_SHELL = re.compile(r"^(\s*)[A-Za-z_][A-Za-z_0-9, ]*=\s*(!|%)")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # where LSP and Python's tokenizer end a line
_HELP = re.compile(r"^(\s*)[\w.]+\?{1,2}\s*$|^(\s*)\?{1,2}[\w.]+\s*$")


class NotebookError(ValueError):
    pass


def neutralize_magics(cell: str) -> str:
    """Return ``cell`` with IPython-only lines replaced, keeping the line count (lines end
    at ``\\n``, ``\\r\\n`` or ``\\r``, as in LSP; the result's end at ``\\n``)."""
    lines = _LINE_BREAK.split(cell)
    first = lines[0].lstrip() if lines else ""
    if first.startswith("%%"):
        magic = first[2:].split()[0] if first[2:].split() else ""
        if magic not in PYTHON_CELL_MAGICS:
            return "\n".join("" for _ in lines)  # %%bash, %%html...: not Python at all
        lines[0] = ""
    out = []
    continuation = False
    for line in lines:
        if continuation:
            out.append("")
            continuation = line.rstrip().endswith("\\")
            continue
        m = _LINE_MAGIC.match(line) or _ASSIGN_SHELL.match(line)
        if m or _HELP.match(line):
            indent = re.match(r"^\s*", line).group(0)  # type: ignore[union-attr]
            out.append(f"{indent}pass" if indent else "")
            continuation = line.rstrip().endswith("\\")
        else:
            out.append(line)
    return "\n".join(out)


@dataclass
class JoinedCells:
    """Code cells joined into one Python source, with the map back to cells."""

    text: str
    # For each line of ``text``: (cell index into the given list, line within that cell).
    line_map: list[tuple[int, int]] = field(default_factory=list)

    def to_cell(self, pos: Position) -> tuple[int, Position]:
        cell, line = self.line_map[min(pos.line, len(self.line_map) - 1)]
        return cell, Position(line, pos.col)

    def map_range(self, rng: Range) -> tuple[int, Range]:
        cell, start = self.to_cell(rng.start)
        end_cell, end = self.to_cell(rng.end)
        if end_cell != cell:  # a range never spans cells in valid input; clamp to the start cell
            end = Position(start.line, start.col + 1)
        return cell, Range(start, end)


def join_cells(cells: list[str]) -> JoinedCells:
    """Join code cells (their source text) with magics neutralised; one blank line between."""
    parts: list[str] = []
    line_map: list[tuple[int, int]] = []
    for index, cell in enumerate(cells):
        clean = neutralize_magics(cell.rstrip("\r\n"))
        cell_lines = clean.split("\n")
        parts.extend(cell_lines)
        line_map.extend((index, i) for i in range(len(cell_lines)))
        parts.append("")  # a separator line, mapped to the end of the cell
        line_map.append((index, len(cell_lines)))
    return JoinedCells("\n".join(parts) + "\n", line_map)


@dataclass
class Notebook:
    cells: list[str]  # code cells' sources
    cell_numbers: list[int]  # 1-based index of each code cell among all cells (as Jupyter shows)
    joined: JoinedCells
    data: dict[str, Any] = field(default_factory=dict, repr=False)  # the notebook's JSON, validated
    code_cells: list[dict[str, Any]] = field(default_factory=list, repr=False)  # in ``data``, as ``cells``


_JSON_TYPES = ((type(None), "null"), (bool, "a boolean"), ((int, float), "a number"), (str, "a string"), (list, "an array"), (dict, "an object"))


def _json_type(value: Any) -> str:
    return next((name for tp, name in _JSON_TYPES if isinstance(value, tp)), type(value).__name__)


def validate_notebook(data: Any) -> None:
    """Check the parts of the nbformat 4 structure torchpit reads or writes; raise
    :class:`NotebookError` naming the first problem (cells are numbered from 1, as Jupyter
    shows them). Every reader of a notebook's JSON (the batch mode, its fixes) goes through it."""
    if not isinstance(data, dict):
        raise NotebookError(f"not a valid notebook (the top level is {_json_type(data)}, not an object)")
    cells = data.get("cells")
    if not isinstance(cells, list):
        raise NotebookError("not a valid notebook (no 'cells' list)" if cells is None else f"not a valid notebook ('cells' is {_json_type(cells)}, not an array)")
    metadata = data.get("metadata", {})
    if not isinstance(metadata, dict):
        raise NotebookError(f"not a valid notebook ('metadata' is {_json_type(metadata)}, not an object)")
    info = metadata.get("language_info") or {}
    if not isinstance(info, dict):
        raise NotebookError(f"not a valid notebook ('metadata.language_info' is {_json_type(info)}, not an object)")
    if not isinstance(info.get("name", ""), str):
        raise NotebookError(f"not a valid notebook ('metadata.language_info.name' is {_json_type(info['name'])}, not a string)")
    for number, cell in enumerate(cells, 1):
        where = f"cell {number}"
        if not isinstance(cell, dict):
            raise NotebookError(f"not a valid notebook ({where} is {_json_type(cell)}, not an object)")
        if not isinstance(cell.get("cell_type"), str):
            raise NotebookError(f"not a valid notebook ({where}: 'cell_type' is {_json_type(cell.get('cell_type'))}, not a string)")
        if not isinstance(cell.get("metadata", {}), dict):
            raise NotebookError(f"not a valid notebook ({where}: 'metadata' is {_json_type(cell['metadata'])}, not an object)")
        source = cell.get("source", "")
        if isinstance(source, list):
            bad = next((i for i, line in enumerate(source) if not isinstance(line, str)), None)
            if bad is not None:
                raise NotebookError(
                    f"not a valid notebook ({where}: 'source' item {bad + 1} is {_json_type(source[bad])}, not a string)"
                )
        elif not isinstance(source, str):
            raise NotebookError(f"not a valid notebook ({where}: 'source' is {_json_type(source)}, not a string or an array of strings)")


def read_notebook(raw: str) -> Notebook:
    """Parse and validate an .ipynb JSON text. Raises NotebookError with a clear message."""
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise NotebookError(f"not a valid notebook (JSON error at line {exc.lineno}: {exc.msg})") from None
    except RecursionError:
        raise NotebookError("not a valid notebook (JSON nested too deeply)") from None
    validate_notebook(data)
    lang = (data.get("metadata", {}).get("language_info") or {}).get("name", "python")
    if lang and lang != "python":
        raise NotebookError(f"notebook language is {lang!r}, not Python")
    cells, numbers, code_cells = [], [], []
    for i, cell in enumerate(data["cells"]):
        if cell["cell_type"] != "code":
            continue
        src = cell.get("source", "")
        cells.append("".join(src) if isinstance(src, list) else src)
        numbers.append(i + 1)
        code_cells.append(cell)
    return Notebook(cells, numbers, join_cells(cells), data, code_cells)


def localize(
    diag: Diagnostic,
    joined: JoinedCells,
    cell_ref: Callable[[int], str | None] | None = None,
    cell_number: Callable[[int], int] | None = None,
) -> tuple[int | None, Diagnostic]:
    """A diagnostic of the joined source in its cell's coordinates: (cell index, diagnostic).

    The one cell mapping, used by the batch mode and the language server. Related locations
    in the same cell stay without a path; those in another cell are moved to that cell and
    named by ``cell_ref(index)`` (the server passes the cell's URI; None leaves them
    unnamed), and carry ``cell_number(index)`` (the batch mode's 1-based cell number, as
    Jupyter shows it); those in other files are kept. A fix whose edits leave the diagnostic's cell is
    dropped (an edit cannot span two cells), and so is a ``# noqa`` line in another cell.
    The index is None when there are no cells.
    """
    if not joined.line_map:
        return None, diag
    index, rng = joined.map_range(diag.range)
    related = []
    for r in diag.related:
        if r.path is not None:
            related.append(r)
            continue
        r_index, r_rng = joined.map_range(r.range)
        uri = None if r_index == index or cell_ref is None else cell_ref(r_index)
        related.append(Related(r_rng, r.message, uri, cell_number(r_index) if cell_number is not None else None))
    fix = diag.fix
    if fix is not None:
        mapped = [joined.map_range(e.range) for e in fix.edits]
        if any(c != index for c, _ in mapped):
            fix = None
        else:
            fix = replace(fix, edits=tuple(Edit(r, e.new_text) for (_, r), e in zip(mapped, fix.edits)))
    noqa = diag.noqa_line
    if noqa is not None:
        n_index, n_pos = joined.to_cell(Position(noqa, 0))
        noqa = n_pos.line if n_index == index else None
    return index, replace(diag, range=rng, related=tuple(related), fix=fix, noqa_line=noqa)


def map_diagnostic(diag: Diagnostic, nb: Notebook) -> Diagnostic:
    """A diagnostic on the joined source, moved to its cell (``cell`` is 1-based, as Jupyter shows)."""
    index, local = localize(diag, nb.joined, cell_number=lambda i: nb.cell_numbers[i])
    return local if index is None else replace(local, cell=nb.cell_numbers[index])
