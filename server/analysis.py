"""One analysis job: a snapshot of a document (or a notebook's cells) in, diagnostics out.

:func:`run_job` is a pure function of its :class:`Job` (plus the file system's
pyproject.toml and jedi's view of the environment) and of the document's incremental
parser and rule memo, which the session keeps (:class:`Parsers`). It runs in the worker
pool, never on the event loop; the scheduler decides whether its result is still current
before the session accepts it. The diagnostics come back in engine coordinates, per text
document (a notebook's cells each get theirs, through ``analyzers/notebook.localize``);
the session converts them to LSP once, with the probe's notes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Iterator

from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchpit.analyzers.engine.config import Config, ConfigError, describe_size, load_config
from torchpit.analyzers.core.diagnostics import BUILTIN_CODES, TOO_COMPLEX, Diagnostic, Range, Severity
from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.syntax.incremental import IncrementalParser
from torchpit.analyzers.semantic.inference import JediOptions
from torchpit.analyzers.engine.memo import RuleMemo
from torchpit.analyzers.syntax.notebook import join_cells, localize

from .convert import Lines, related_to_uris, result_id
from .memory import TRIMMER
from .settings import Settings

log = logging.getLogger("torchpit.server")


@dataclass(frozen=True)
class Cell:
    uri: str
    version: int | None
    text: str


@dataclass(frozen=True)
class Job:
    key: str  # the session's key of the text document, or of the notebook (uris.normalize_uri)
    token: int  # bumped on every change of the document or of the settings in force
    version: int | None  # the document's (or notebook's) version
    path: str | None  # file system path (None for untitled buffers)
    settings: Settings
    folder: str | None  # the workspace folder (jedi's project root)
    encoding: str  # the negotiated position encoding
    text: str = ""  # a text document's text
    cells: tuple[Cell, ...] | None = None  # a notebook's code cells, in order
    uri: str = ""  # the document's URI as the client sent it (default: the key)

    @property
    def client_uri(self) -> str:
        return self.uri or self.key


@dataclass
class DocResult:
    """The diagnostics of one text document (or notebook cell), in its own coordinates."""

    uri: str  # as the client sent it
    version: int | None
    text: str
    diagnostics: list[Diagnostic]
    lines: Lines  # the text's lines and the codec, for every position conversion
    lsp: list[types.Diagnostic] = field(default_factory=list)  # what the client sees: set by the session
    _result_id: str | None = field(default=None, repr=False)

    def show(self, lsp: list[types.Diagnostic]) -> None:
        """What the client sees from now on (its result id is made again when asked)."""
        self.lsp = lsp
        self._result_id = None

    @property
    def result_id(self) -> str:
        """The digest of ``lsp`` (pull diagnostics' result id): made when a pull asks for it,
        not on every keystroke of a client that is pushed its diagnostics."""
        if self._result_id is None:
            self._result_id = result_id(self.lsp)
        return self._result_id


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
    notice: str | None = None  # shown to the user once (a document too large to analyse)


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
    """The incremental parser and rule memo of each open document (analyzers/syntax/incremental.py,
    analyzers/engine/memo.py), for the worker that analyses it. The session owns one; with a
    worker process, the process holds the table on the session's behalf
    (:func:`worker_parsers`) and the session drops a closed document's entry through the
    pool (:func:`forget_in_worker`).

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

    def is_warm(self, key: str) -> bool:
        """The document has a rule memo with something kept: its next analysis is short."""
        with self._lock:
            state = self._states.get(key)
            return state is not None and state.memo is not None and not state.memo.empty

    def forget(self, key: str) -> None:
        with self._lock:
            state = self._states.pop(key, None)
            if state is None:
                return
            _drop_memo(state)
        TRIMMER.request()  # hand what the document held back to the system, once things are quiet


def _drop_memo(state: DocumentState) -> None:
    """Drop a document's rule memo, breaking its cycles unless a job is using it right now."""
    memo, state.memo = state.memo, None
    if memo is not None and state.lock.acquire(blocking=False):
        try:
            memo.release()
        finally:
            state.lock.release()


_WORKER_PARSERS: Parsers | None = None


def worker_parsers() -> Parsers:
    """The table of a worker process (created there on first use)."""
    global _WORKER_PARSERS
    if _WORKER_PARSERS is None:
        _WORKER_PARSERS = Parsers()
    return _WORKER_PARSERS


def forget_in_worker(key: str) -> None:
    """Run in a worker process: drop a closed document's parser and memo."""
    worker_parsers().forget(key)


def run_job(job: Job, parsers: Parsers | None = None, between: Callable[[], None] | None = None) -> Outcome:
    """Analyse one snapshot. ``parsers`` is the session's table (thread pool); in a worker
    process it is left out and the process's own table is used. ``between``: run between the
    steps of a document's first analysis (the engine's ``checkpoint``), not of the short ones."""
    t0 = time.perf_counter()
    codec = PositionCodec(job.encoding)
    if not job.settings.enable:
        targets = job.cells if job.cells is not None else (Cell(job.client_uri, job.version, job.text),)
        return Outcome(job, {c.uri: _doc(c, [], codec) for c in targets})
    size = too_large(job)
    if size is not None:
        return _not_analysed(job, size, codec, parsers)
    config, config_error = resolve_config(job.path, job.folder, job.settings)
    jedi = JediOptions(
        enabled=job.settings.jedi and config.jedi,
        budget_s=config.jedi_timeout,
        python_path=job.settings.python_path,
        project_root=job.folder,
    )
    joined = join_cells([c.text for c in job.cells]) if job.cells is not None else None
    with (parsers or worker_parsers()).use(job.key, job.path) as state:
        memo = state.memo
        checkpoint = between if memo is None or memo.empty else None
        result = analyze(joined.text if joined else job.text, job.path, config, jedi=jedi, parser=state.parser, memo=memo, checkpoint=checkpoint)
        parse_mode = state.parser.stats.mode
        reused = (memo.stats.reused, memo.stats.units) if memo is not None else (0, 0)
    if job.cells is None or joined is None:
        diags = [related_to_uris(d, job.path) for d in result.diagnostics]
        docs = {job.client_uri: _doc(Cell(job.client_uri, job.version, job.text), diags, codec)}
    else:
        per_cell: dict[int, list[Diagnostic]] = {i: [] for i in range(len(job.cells))}
        cell_uri = lambda i: job.cells[i].uri  # noqa: E731 - related locations in other cells
        for d in result.diagnostics:
            index, local = localize(related_to_uris(d, job.path), joined, cell_uri)
            if index is not None:
                per_cell[index].append(local)
        docs = {c.uri: _doc(c, per_cell[i], codec) for i, c in enumerate(job.cells)}
    errors = [str(e) for e in result.rule_errors]
    timings = dict(result.timings)
    timings["job"] = time.perf_counter() - t0
    return Outcome(job, docs, errors, config_error, config.source, timings, parse_mode=parse_mode, reused=reused)


def too_large(job: Job) -> int | None:
    """The document's size in UTF-8 bytes when it is above ``maxFileSize``, else None."""
    limit = job.settings.max_file_size
    texts = [c.text for c in job.cells] if job.cells is not None else [job.text]
    chars = sum(len(t) for t in texts)
    if not limit or chars * 4 <= limit:  # a code point is at most 4 bytes
        return None
    size = chars if chars > limit else sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    return size if size > limit else None


def _not_analysed(job: Job, size: int, codec: PositionCodec, parsers: Parsers | None) -> Outcome:
    """A document above ``maxFileSize``: its state is dropped and one information
    diagnostic (PIT003) says why it has no findings."""
    (parsers or worker_parsers()).forget(job.key)
    limit = job.settings.max_file_size
    name = os.path.basename(job.path or job.key)
    diag = too_large_diagnostic(size, limit)
    targets = job.cells if job.cells is not None else (Cell(job.client_uri, job.version, job.text),)
    docs = {}
    for i, c in enumerate(targets):
        head = Lines(c.text[: c.text.find("\n") + 1], codec)  # position 0:0 needs the first line only
        docs[c.uri] = DocResult(c.uri, c.version, c.text, [diag] if i == 0 else [], head)
    notice = f"torchpit: {name} is larger than torchpit.maxFileSize ({describe_size(limit)}): it is not analysed"
    return Outcome(job, docs, parse_mode="skipped (too large)", notice=notice)


def too_large_diagnostic(size: int, limit: int) -> Diagnostic:
    """The one information diagnostic (PIT003, on the first line) of a file above the limit."""
    message = f"torchpit did not analyse this file: it is {describe_size(size)}, above the torchpit.maxFileSize setting ({describe_size(limit)})"
    return Diagnostic(TOO_COMPLEX, BUILTIN_CODES[TOO_COMPLEX], message, Range.of(0, 0, 0, 0), Severity.INFO)


def _doc(cell: Cell, diags: list[Diagnostic], codec: PositionCodec) -> DocResult:
    return DocResult(cell.uri, cell.version, cell.text, diags, Lines(cell.text, codec))
