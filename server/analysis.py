"""One analysis job: a snapshot of a document (or a notebook's cells) in, diagnostics out.

:func:`run_job` is a pure function of its :class:`Job` (plus the file system's
pyproject.toml and jedi's view of the environment). It runs in the worker pool, never on
the event loop; the server decides whether its result is still current before publishing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Iterator

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchpit.analyzers.config import Config, ConfigError, load_config
from torchpit.analyzers.diagnostics import Diagnostic, Edit, Fix, Related
from torchpit.analyzers.engine import analyze
from torchpit.analyzers.incremental import IncrementalParser
from torchpit.analyzers.inference import JediOptions
from torchpit.analyzers.memo import RuleMemo
from torchpit.analyzers.notebook import join_cells

from .convert import Lines, path_to_uri, related_to_uris, to_lsp_diagnostic
from .settings import Settings

log = logging.getLogger("torchpit.server")


@dataclass(frozen=True)
class Cell:
    uri: str
    version: int | None
    text: str


@dataclass(frozen=True)
class Job:
    key: str  # the text document's URI, or the notebook's
    token: int  # bumped on every change of the document or of the settings in force
    version: int | None  # the document's (or notebook's) version
    path: str | None  # file system path (None for untitled buffers)
    settings: Settings
    folder: str | None  # the workspace folder (jedi's project root)
    encoding: str  # the negotiated position encoding
    text: str = ""  # a text document's text
    cells: tuple[Cell, ...] | None = None  # a notebook's code cells, in order
    uri: str = ""  # the URI as the client sent it (key is its normalize_uri); what is published

    @property
    def sent_uri(self) -> str:
        return self.uri or self.key


@dataclass
class DocResult:
    """The diagnostics of one text document (or notebook cell), in its own coordinates."""

    uri: str
    version: int | None
    text: str
    diagnostics: list[Diagnostic]
    lsp: list[types.Diagnostic]  # what the client sees (with probe results, if any)
    result_id: str = ""
    plain: list[types.Diagnostic] | None = None  # the LSP diagnostics without probe results


@dataclass
class Outcome:
    job: Job
    docs: dict[str, DocResult]
    rule_errors: list[str] = field(default_factory=list)
    config_error: str | None = None
    config_source: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    error: str | None = None  # the analysis itself failed (a bug): logged, nothing published
    parse_mode: str = "full"  # how the text was parsed: full | region (incremental) | unchanged
    reused: tuple[int, int] = (0, 0)  # top-level statements whose per-node findings were reused, of all


def resolve_config(path: str | None, folder: str | None, settings: Settings) -> tuple[Config, str | None]:
    """The configuration in force for ``path``: its nearest pyproject.toml, then the editor's
    settings on top. A broken pyproject.toml gives the defaults and its error message."""
    start = path or folder
    error = None
    config = Config()
    if start:
        try:
            config = load_config(start)
        except ConfigError as exc:
            error = str(exc)
    return settings.apply_to(config), error


@dataclass
class DocumentState:
    """What the analysis of an open document keeps between its versions."""

    parser: IncrementalParser  # re-parses only the top-level statements an edit touched
    memo: RuleMemo | None = None  # what the rules found and read, by statement (recent documents only)
    lock: threading.Lock = field(default_factory=threading.Lock)


class Parsers:
    """The incremental parser and rule memo of each open document (analyzers/incremental.py,
    analyzers/memo.py), for the worker that analyses it.

    A document's state is used by one job at a time (its lock). Parsers are kept for the
    ``capacity`` most recently analysed documents (each holds its tree); rule memos, which
    also hold each statement's part of the semantic model and the loop model's answers, for
    the ``memo_capacity`` most recent ones only: the documents being typed in. A closed
    document's state is dropped at once.
    """

    def __init__(self, capacity: int = 32, memo_capacity: int = 4) -> None:
        self.capacity = capacity
        self.memo_capacity = memo_capacity
        self._lock = threading.Lock()
        self._states: OrderedDict[str, DocumentState] = OrderedDict()

    @contextlib.contextmanager
    def use(self, key: str, path: str | None) -> Iterator[DocumentState]:
        with self._lock:
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = DocumentState(IncrementalParser(path or key))
            self._states.move_to_end(key)
            while len(self._states) > self.capacity:
                _drop_memo(self._states.popitem(last=False)[1])
            if state.memo is None:
                state.memo = RuleMemo()
            for older in list(self._states.values())[: -self.memo_capacity]:
                _drop_memo(older)
        with state.lock:
            yield state

    def forget(self, key: str) -> None:
        with self._lock:
            state = self._states.pop(key, None)
            if state is not None:
                _drop_memo(state)


def _drop_memo(state: DocumentState) -> None:
    """Drop a document's rule memo, breaking its cycles unless a job is using it right now."""
    memo, state.memo = state.memo, None
    if memo is not None and state.lock.acquire(blocking=False):
        try:
            memo.release()
        finally:
            state.lock.release()


PARSERS = Parsers()


def run_job(job: Job) -> Outcome:
    t0 = time.perf_counter()
    codec = PositionCodec(job.encoding)
    if not job.settings.enable:
        targets = job.cells if job.cells is not None else (Cell(job.sent_uri, job.version, job.text),)
        return Outcome(job, {c.uri: _doc(c, [], codec) for c in targets})
    config, config_error = resolve_config(job.path, job.folder, job.settings)
    jedi = JediOptions(
        enabled=job.settings.jedi and config.jedi,
        budget_s=config.jedi_timeout,
        python_path=job.settings.python_path,
        project_root=job.folder,
    )
    joined = join_cells([c.text for c in job.cells]) if job.cells is not None else None
    with PARSERS.use(job.key, job.path) as state:
        memo = state.memo
        result = analyze(joined.text if joined else job.text, job.path, config, jedi=jedi, parser=state.parser, memo=memo)
        parse_mode = state.parser.stats.mode
        reused = (memo.stats.reused, memo.stats.units) if memo is not None else (0, 0)
    if job.cells is None or joined is None:
        diags = [related_to_uris(d, job.path) for d in result.diagnostics]
        docs = {job.sent_uri: _doc(Cell(job.sent_uri, job.version, job.text), diags, codec)}
    else:
        per_cell: dict[int, list[Diagnostic]] = {i: [] for i in range(len(job.cells))}
        for d in result.diagnostics:
            index, local = localize_to_cell(d, joined, job.cells, job.path)
            if index is not None:
                per_cell[index].append(local)
        docs = {c.uri: _doc(c, per_cell[i], codec) for i, c in enumerate(job.cells)}
    errors = [str(e) for e in result.rule_errors]
    timings = dict(result.timings)
    timings["job"] = time.perf_counter() - t0
    return Outcome(job, docs, errors, config_error, config.source, timings, parse_mode=parse_mode, reused=reused)


def _doc(cell: Cell, diags: list[Diagnostic], codec: PositionCodec) -> DocResult:
    lines = Lines(cell.text, codec)
    lsp = [to_lsp_diagnostic(d, lines, cell.uri, cell.version) for d in diags]
    return DocResult(cell.uri, cell.version, cell.text, diags, lsp)


def localize_to_cell(diag: Diagnostic, joined: Any, cells: tuple[Cell, ...], path: str | None) -> tuple[int | None, Diagnostic]:
    """A diagnostic of the joined notebook source in its cell's coordinates.

    Related locations in other cells point at those cells' URIs; a fix whose edits leave
    the diagnostic's cell is dropped (an edit cannot span two documents).
    """
    if not joined.line_map:
        return None, diag
    index, rng = joined.map_range(diag.range)
    related = []
    for r in diag.related:
        if r.path is None:
            r_index, r_rng = joined.map_range(r.range)
            related.append(Related(r_rng, r.message, None if r_index == index else cells[r_index].uri))
        else:
            same = path is not None and os.path.abspath(r.path) == os.path.abspath(path)
            related.append(Related(r.range, r.message, None if same else path_to_uri(r.path)))
    fix = diag.fix
    if fix is not None:
        edits = []
        for e in fix.edits:
            e_index, e_rng = joined.map_range(e.range)
            if e_index != index:
                fix = None
                break
            edits.append(Edit(e_rng, e.new_text))
        else:
            fix = Fix(fix.message, fix.applicability, tuple(edits))
    noqa = diag.noqa_line
    if noqa is not None:
        n_index, n_pos = joined.to_cell(type(diag.range.start)(noqa, 0))
        noqa = n_pos.line if n_index == index else None
    return index, replace(diag, range=rng, related=tuple(related), fix=fix, noqa_line=noqa)
