"""The session: every open document's state, in one place.

The :class:`Session` owns, for each document the client has open, its text and version (it
applies ``didChange`` itself, with LSP line semantics: ``text.py``), and for each analysed
unit (a Python file, or a notebook's code cells together: :class:`Unit`) its token, its
latest results per text document, its probe notes and what was published. It also owns the
settings in force (global, per workspace folder) and the incremental parsers and rule memos
(``analysis.Parsers``). It does no I/O: handlers (``handlers/``) call it and talk to the
client; the scheduler (``scheduler.py``) runs its jobs.

Every document is keyed by :func:`uris.normalize_uri` of its URI, in :meth:`Session.key_of`
only; what goes back to the client keeps the URI as the client sent it.

A document whose ``didChange`` cannot be applied (a range that is not in the text, or a
message that cannot be read) is *out of sync*: its findings are withdrawn and it is not
analysed again until the client sends its whole text (a full-text change, or a reopen).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Iterable, Sequence

from lsprotocol import types
from pygls.uris import to_fs_path
from pygls.workspace.position_codec import PositionCodec

from .analysis import Cell, DocResult, Job, Outcome, Parsers
from .convert import to_lsp_diagnostics, uri_to_path
from .settings import Settings
from .text import ChangeError, apply_changes
from .uris import normalize_uri

log = logging.getLogger("torchpit.server")


@dataclass
class TextDocument:
    """One text document the client has open: a Python file or a notebook cell."""

    uri: str  # as the client sent it
    text: str
    version: int | None
    language_id: str = "python"
    notebook: str | None = None  # the key of the notebook this is a cell of
    in_sync: bool = True  # False after a change that could not be applied


@dataclass
class NotebookDocument:
    uri: str  # as the client sent it
    version: int | None
    cells: list[tuple[types.NotebookCellKind, str]]  # (kind, key of the cell's text document), in order
    in_sync: bool = True


@dataclass
class Unit:
    """What one analysis covers: a Python file, or a notebook (all its code cells)."""

    key: str
    uri: str  # as the client sent it
    notebook: bool = False
    token: int = 0  # bumped on each edit and each settings change: older results are stale
    save_token: int = 0  # the token at the last open or save (what `run: onSave` shows)
    edited_at: float = float("-inf")  # time.monotonic() of the last didChange (the scheduler's priority)
    result_token: int = -1  # the token of `results`
    results: dict[str, DocResult] = field(default_factory=dict)  # text document key -> its latest result
    probe_notes: dict[str, dict[tuple[str, int], list[str]]] = field(default_factory=dict)  # text document key -> notes
    published: set[str] = field(default_factory=set)  # client URIs with diagnostics published
    logged: set[str] = field(default_factory=set)  # rule errors already sent to the client
    outcome: Outcome | None = None


@dataclass
class Accepted:
    """What accepting an outcome asks the handlers to tell the client."""

    docs: list[DocResult]  # to publish
    cleared: list[str]  # client URIs whose diagnostics are withdrawn (cells that left the notebook)
    rule_errors: list[str]  # not logged before
    config_error: str | None
    notice: str | None = None  # shown once (a document above maxFileSize)


@dataclass
class Desync:
    """A change the session could not apply: the document is out of sync."""

    unit: Unit | None  # the unit whose findings are withdrawn (None: not an open document)
    uri: str
    reason: str


class Session:
    def __init__(self) -> None:
        self.texts: dict[str, TextDocument] = {}
        self.notebooks: dict[str, NotebookDocument] = {}
        self.units: dict[str, Unit] = {}
        self.parsers = Parsers()
        self.codec = PositionCodec(types.PositionEncodingKind.Utf16)
        self.init_settings = Settings()
        self.global_settings = Settings()
        self.folder_settings: dict[str, Settings] = {}  # folder URI (as sent) -> settings
        self.folders: list[str] = []  # workspace folder URIs (as sent)
        self.root_uri: str | None = None

    # ------------------------------------------------------------------ keys
    @staticmethod
    def key_of(uri: str) -> str:
        """The key of a document: the one place URIs are normalised."""
        return normalize_uri(uri)

    @property
    def encoding(self) -> str:
        enc = self.codec.encoding
        return enc.value if hasattr(enc, "value") else str(enc or types.PositionEncodingKind.Utf16.value)

    def unit_for(self, uri: str) -> Unit | None:
        """The analysed unit a URI belongs to (a file's own, or the notebook of a cell)."""
        key = self.key_of(uri)
        unit = self.units.get(key)
        if unit is not None:
            return unit
        doc = self.texts.get(key)
        if doc is not None and doc.notebook is not None:
            return self.units.get(doc.notebook)
        return None

    def in_sync(self, unit: Unit) -> bool:
        if not unit.notebook:
            doc = self.texts.get(unit.key)
            return doc is not None and doc.in_sync
        nb = self.notebooks.get(unit.key)
        return nb is not None and nb.in_sync and all(self.texts[k].in_sync for _, k in nb.cells if k in self.texts)

    def result(self, uri: str) -> DocResult | None:
        unit = self.unit_for(uri)
        return unit.results.get(self.key_of(uri)) if unit is not None else None

    def is_current(self, unit: Unit) -> bool:
        return unit.result_token == unit.token

    # ------------------------------------------------------------------ settings
    def settings_for(self, uri: str) -> tuple[Settings, str | None]:
        """The settings in force for a document, and its workspace folder's path."""
        key = self.key_of(uri)
        best = None
        for folder_uri in [*self.folder_settings, *self.folders]:
            prefix = self.key_of(folder_uri).rstrip("/") + "/"
            if key.startswith(prefix) and (best is None or len(folder_uri) > len(best)):
                best = folder_uri
        if best is None:
            root = self.root_uri
            inside = root and root.startswith("file:") and key.startswith(self.key_of(root).rstrip("/") + "/")
            return self.global_settings, to_fs_path(root) if inside else None
        return self.folder_settings.get(best, self.global_settings), to_fs_path(best)

    # ------------------------------------------------------------------ text documents
    def open_text(self, item: types.TextDocumentItem) -> Unit:
        key = self.key_of(item.uri)
        self.texts[key] = TextDocument(item.uri, item.text, item.version, item.language_id or "python")
        return self._unit(key, item.uri, notebook=False)

    def change_text(self, uri: str, version: int | None, changes: Sequence[types.TextDocumentContentChangeEvent]) -> tuple[Unit | None, Desync | None]:
        """Apply one ``didChange``. Returns the unit to analyse again (None when there is
        nothing to analyse: not open, or out of sync), or what went wrong."""
        doc = self.texts.get(self.key_of(uri))
        if doc is None:
            return None, None
        problem = self._apply(doc, version, changes)
        unit = self.unit_for(uri)
        if problem is not None:
            return None, Desync(unit, doc.uri, problem)
        return (unit if unit is not None and self.in_sync(unit) else None), None

    def _apply(self, doc: TextDocument, version: int | None, changes: Sequence[types.TextDocumentContentChangeEvent]) -> str | None:
        """Apply changes to one text document; the reason when they cannot be applied."""
        doc.version = version
        whole = [i for i, c in enumerate(changes) if isinstance(c, types.TextDocumentContentChangeWholeDocument)]
        if whole:
            changes = changes[whole[-1] :]  # what came before the last full text does not matter
            if not doc.in_sync:
                log.info("%s: the whole text arrived with version %s; back in sync", doc.uri, version)
            doc.in_sync = True
        if not doc.in_sync:
            return None  # nothing to apply the change to until the whole text comes
        try:
            doc.text = apply_changes(doc.text, changes, self.codec)
        except ChangeError as exc:
            doc.in_sync = False
            return f"cannot apply the change of version {version}: {exc}"
        return None

    def close_text(self, uri: str) -> Unit | None:
        key = self.key_of(uri)
        self.texts.pop(key, None)
        return self._close_unit(key)

    def lost_sync(self, uri: str, reason: str) -> Desync:
        """A change for ``uri`` could not be read at all: mark it out of sync."""
        key = self.key_of(uri)
        doc = self.texts.get(key)
        nb = self.notebooks.get(key)
        if doc is not None:
            doc.in_sync = False
        if nb is not None:
            nb.in_sync = False  # until it is reopened: which cell changed is unknown
        return Desync(self.unit_for(uri) if doc is not None or nb is not None else None, uri, reason)

    # ------------------------------------------------------------------ notebooks
    def open_notebook(self, params: types.DidOpenNotebookDocumentParams) -> Unit:
        nb = params.notebook_document
        key = self.key_of(nb.uri)
        for item in params.cell_text_documents:
            self._open_cell(item, key)
        self.notebooks[key] = NotebookDocument(nb.uri, nb.version, [(c.kind, self.key_of(c.document)) for c in nb.cells])
        return self._unit(key, nb.uri, notebook=True)

    def _open_cell(self, item: types.TextDocumentItem, notebook: str) -> None:
        self.texts[self.key_of(item.uri)] = TextDocument(item.uri, item.text, item.version, item.language_id or "python", notebook=notebook)

    def change_notebook(self, params: types.DidChangeNotebookDocumentParams) -> tuple[Unit | None, list[Desync]]:
        """Apply a ``notebookDocument/didChange``: cell kinds, structure, cell texts."""
        key = self.key_of(params.notebook_document.uri)
        nb = self.notebooks.get(key)
        if nb is None:
            return None, []
        nb.version = params.notebook_document.version
        cells = params.change.cells
        problems: list[Desync] = []
        if cells is not None:
            kinds = {self.key_of(d.document): d.kind for d in cells.data or []}
            nb.cells = [(kinds.get(k, kind), k) for kind, k in nb.cells]
            structure = cells.structure
            if structure is not None:
                start, count = structure.array.start, structure.array.delete_count
                new = [(c.kind, self.key_of(c.document)) for c in structure.array.cells or []]
                nb.cells[start : start + count] = new
                for item in structure.did_open or []:
                    self._open_cell(item, key)
                for gone in structure.did_close or []:
                    self.texts.pop(self.key_of(gone.uri), None)
            for content in cells.text_content or []:
                doc = self.texts.get(self.key_of(content.document.uri))
                if doc is None:
                    problems.append(Desync(None, content.document.uri, "a change for a cell that is not open"))
                    continue
                problem = self._apply(doc, content.document.version, content.changes)
                if problem is not None:
                    problems.append(Desync(self.units.get(key), doc.uri, problem))
        return self.units.get(key), problems

    def close_notebook(self, uri: str, cells: Iterable[str]) -> Unit | None:
        key = self.key_of(uri)
        nb = self.notebooks.pop(key, None)
        for cell in [*cells, *(k for _, k in (nb.cells if nb else []))]:
            self.texts.pop(self.key_of(cell), None)
        return self._close_unit(key)

    # ------------------------------------------------------------------ units
    def _unit(self, key: str, uri: str, notebook: bool) -> Unit:
        unit = self.units.get(key)
        if unit is None:
            unit = self.units[key] = Unit(key, uri, notebook=notebook)
        unit.uri = uri
        return unit

    def _close_unit(self, key: str) -> Unit | None:
        unit = self.units.pop(key, None)
        self.parsers.forget(key)
        return unit

    def make_job(self, unit: Unit) -> Job:
        """A snapshot of the unit's text(s) and settings, for the worker."""
        settings, folder = self.settings_for(unit.uri)
        path = uri_to_path(unit.uri)
        if unit.notebook:
            nb = self.notebooks.get(unit.key)
            cells = []
            for kind, k in nb.cells if nb else []:
                doc = self.texts.get(k)
                if kind != types.NotebookCellKind.Code or doc is None or (doc.language_id and doc.language_id != "python"):
                    continue
                cells.append(Cell(doc.uri, doc.version, doc.text))
            return Job(unit.key, unit.token, nb.version if nb else None, path, settings, folder, self.encoding, cells=tuple(cells), uri=unit.uri)
        doc = self.texts[unit.key]
        return Job(unit.key, unit.token, doc.version, path, settings, folder, self.encoding, text=doc.text, uri=unit.uri)

    def accept(self, unit: Unit, outcome: Outcome) -> Accepted:
        """Take a current outcome as the unit's results: what to publish, clear and log."""
        unit.outcome = outcome
        unit.result_token = outcome.job.token
        errors = [m for m in outcome.rule_errors if m not in unit.logged]
        unit.logged.update(errors)
        unit.results = {}
        for doc in outcome.docs.values():
            key = self.key_of(doc.uri)
            self.render(doc, unit.probe_notes.get(key))
            unit.results[key] = doc
        current = {doc.uri for doc in outcome.docs.values()}
        cleared = sorted(unit.published - current)
        unit.published = current
        return Accepted(list(outcome.docs.values()), cleared, errors, outcome.config_error, outcome.notice)

    def withdraw(self, unit: Unit) -> list[str]:
        """Forget the unit's results (its text is out of sync): the URIs to clear."""
        unit.results = {}
        unit.result_token = -1
        cleared = sorted(unit.published)
        unit.published = set()
        return cleared

    @staticmethod
    def render(doc: DocResult, notes: dict[tuple[str, int], list[str]] | None) -> None:
        """The one conversion to LSP: the engine's diagnostics with the probe's notes."""
        doc.show(to_lsp_diagnostics(doc.diagnostics, doc.lines, doc.uri, doc.version, notes))

    def add_probe_notes(self, uri: str, code: str, line: int, notes: list[str]) -> DocResult | None:
        """Attach a probe's findings to a diagnostic; the document's result, rendered again."""
        unit = self.unit_for(uri)
        if unit is None:
            return None
        key = self.key_of(uri)
        unit.probe_notes.setdefault(key, {})[(code, line)] = notes
        doc = unit.results.get(key)
        if doc is not None:
            self.render(doc, unit.probe_notes[key])
        return doc

    def probe_notes(self, uri: str) -> dict[tuple[str, int], list[str]] | None:
        unit = self.unit_for(uri)
        return unit.probe_notes.get(self.key_of(uri)) if unit is not None else None
