"""The torchpit language server: state, scheduling and thin LSP handlers.

Handlers only translate between LSP and the pure functions of ``analysis``, ``actions``,
``hover``, ``commands`` and ``probes``. Analysis runs in a worker pool; every result is
tagged with the document's *token* (bumped on each edit and each settings change) and is
published only if the token is still current, with the document version it was computed for.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import hashlib
import logging
import multiprocessing
import os
import uuid

import attrs
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.uris import to_fs_path

import torchpit

from . import actions, commands, hover, probes
from .analysis import PARSERS, Cell, DocResult, Job, Outcome, run_job
from .convert import SOURCE, Lines, uri_to_path
from .settings import RUN_ON_SAVE, Settings, extract_section, parse_settings
from .uris import normalize_uri

log = logging.getLogger("torchpit.server")

NOTEBOOK_SYNC = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook",
            cells=[types.NotebookCellLanguage(language="python")],
        )
    ],
    save=True,
)
PARENT_POLL_S = 2.0


class _Malformed:
    """A request whose params did not match the LSP schema: answered with InvalidParams."""

    jsonrpc = "2.0"

    def __init__(self, msg_id: Any, method: str, error: JsonRpcException) -> None:
        self.id = msg_id
        self.method = method
        self.error = error


class TorchpitProtocol(LanguageServerProtocol):
    """pygls' protocol, except that a request with malformed params gets an error response
    (pygls would only log it, leaving the client waiting forever)."""

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                cause = exc.__cause__
                detail = f"{exc.message}: {cause}" if cause else exc.message
                return _Malformed(data["id"], data["method"], JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}"))
            raise

    def handle_message(self, message: Any):
        if isinstance(message, _Malformed):
            log.warning("malformed %s request: %s", message.method, message.error.message)
            self._send_response(message.id, None, message.error.to_response_error())
            return None
        return super().handle_message(message)


@dataclass
class DocState:
    """One analysed unit: a Python text document, or a notebook (all its code cells)."""

    key: str  # normalize_uri(uri): what every table is keyed on
    uri: str = ""  # the URI as the client sent it: what is published and turned into a path
    notebook: bool = False
    token: int = 0
    pending: asyncio.Task | None = None  # the debounced run
    inflight: asyncio.Future | None = None
    inflight_cf: concurrent.futures.Future | None = None  # the pool's future, to cancel queued work
    inflight_token: int = -1
    save_token: int = 0  # the token at the last open or save (what `run: onSave` analyses)
    logged: set[str] = field(default_factory=set)  # rule errors already sent to the client
    result_token: int = -1  # the token of the results in TorchpitServer.results
    published: set[str] = field(default_factory=set)  # URIs we published diagnostics for
    outcome: Outcome | None = None


class TorchpitServer(LanguageServer):
    def __init__(self, pool: str = "thread") -> None:
        super().__init__(
            "torchpit",
            torchpit.__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=NOTEBOOK_SYNC,
            protocol_cls=TorchpitProtocol,
        )
        self.pool_kind = pool
        self.pool: concurrent.futures.Executor = (
            # spawn, not fork: forking a process that has threads (pygls' reader) can deadlock the child
            concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
            if pool == "process"
            else concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchpit-analysis")
        )
        self._gc_frozen = False
        self.probe_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchpit-probe")
        self.global_settings = Settings()
        self.folder_settings: dict[str, Settings] = {}
        # Keyed on normalize_uri(uri) (see uris.py); each value keeps the URI as sent.
        self.docs: dict[str, DocState] = {}
        self.results: dict[str, DocResult] = {}
        self.probe_notes: dict[str, dict[tuple[str, int], list[str]]] = {}
        self.shown: set[str] = set()
        self.init_settings = Settings()
        self.settings_ready: asyncio.Event | None = None  # created on the event loop, in initialize
        self.shutdown_requested = False
        self._tokens: dict[str, int] = {}  # key -> current token, read by worker threads

    # ------------------------------------------------------------------ capabilities
    @property
    def pull_mode(self) -> bool:
        caps = self.client_capabilities.text_document
        return bool(caps and caps.diagnostic)

    @property
    def encoding(self) -> str:
        enc = self.workspace.position_encoding
        return enc.value if hasattr(enc, "value") else str(enc or types.PositionEncodingKind.Utf16.value)

    def edit_support(self) -> actions.ClientEditSupport:
        ws = self.client_capabilities.workspace
        return actions.ClientEditSupport(bool(ws and ws.workspace_edit and ws.workspace_edit.document_changes))

    def markdown_hover(self) -> bool:
        td = self.client_capabilities.text_document
        fmt = td.hover.content_format if td and td.hover else None
        return not fmt or types.MarkupKind.Markdown in fmt

    # ------------------------------------------------------------------ messages
    def log_to_client(self, message: str, level: types.MessageType = types.MessageType.Info) -> None:
        (log.error if level == types.MessageType.Error else log.warning if level == types.MessageType.Warning else log.info)(message)
        try:
            self.window_log_message(types.LogMessageParams(type=level, message=message))
        except Exception:  # the transport is gone
            pass

    def show_once(self, message: str, level: types.MessageType = types.MessageType.Warning) -> None:
        """Log every time; pop up a message only the first time it is seen."""
        self.log_to_client(message, level)
        if message in self.shown:
            return
        self.shown.add(message)
        self.window_show_message(types.ShowMessageParams(type=level, message=message))

    def report_server_error(self, error: Exception, source: Any) -> None:
        # An internal error is logged, never shown as a dialog (requests already get an error response).
        log.error("server error (%s): %s", getattr(source, "__name__", source), error)
        try:
            self.window_log_message(types.LogMessageParams(type=types.MessageType.Error, message=f"torchpit: internal error: {error}"))
        except Exception:
            pass

    # ------------------------------------------------------------------ settings
    def settings_for(self, uri: str) -> tuple[Settings, str | None]:
        """The settings in force for a document, and its workspace folder's path."""
        best = None
        key = normalize_uri(uri)
        for folder_uri in list(self.folder_settings) + [f.uri for f in self.workspace.folders.values()]:
            prefix = normalize_uri(folder_uri).rstrip("/") + "/"
            if key.startswith(prefix) and (best is None or len(folder_uri) > len(best)):
                best = folder_uri
        if best is None:
            root = self.workspace.root_uri
            inside = root and key.startswith(normalize_uri(root).rstrip("/") + "/")
            folder = to_fs_path(root) if root and root.startswith("file:") and inside else None
            return self.global_settings, folder
        return self.folder_settings.get(best, self.global_settings), to_fs_path(best)

    def apply_settings(self, raw: Any, base: Settings | None = None, where: str = "") -> Settings:
        settings, problems = parse_settings(extract_section(raw), base or Settings())
        for p in problems:
            self.show_once(f"torchpit: bad setting{(' (' + where + ')') if where else ''}: {p}", types.MessageType.Warning)
        return settings

    async def fetch_configuration(self) -> None:
        """Per-folder settings through ``workspace/configuration``, when the client has it."""
        ws = self.client_capabilities.workspace
        if not (ws and ws.configuration):
            return
        folders = [f.uri for f in self.workspace.folders.values()]
        items = [types.ConfigurationItem(section="torchpit")] + [types.ConfigurationItem(scope_uri=f, section="torchpit") for f in folders]
        try:
            values = await asyncio.wait_for(self.workspace_configuration_async(types.ConfigurationParams(items=items)), 10)
        except Exception as exc:
            self.log_to_client(f"torchpit: could not read the settings: {exc}", types.MessageType.Warning)
            return
        values = list(values or [])
        base = self.init_settings
        if values and values[0] is not None:
            self.global_settings = self.apply_settings(values[0], base)
        for folder, value in zip(folders, values[1:]):
            self.folder_settings[folder] = self.apply_settings(value, self.global_settings, folder) if value is not None else self.global_settings

    def rerun_all(self, keys: list[str] | None = None) -> None:
        for key in keys if keys is not None else list(self.docs):
            st = self.docs.get(key)
            if st is None:
                continue
            self.bump(st)
            if self.pull_mode:
                continue
            self.schedule(st, 0.0)
        if self.pull_mode:
            ws = self.client_capabilities.workspace
            if ws and ws.diagnostics and ws.diagnostics.refresh_support:
                self.workspace_diagnostic_refresh(None)

    # ------------------------------------------------------------------ documents
    def bump(self, st: DocState) -> None:
        st.token += 1
        self._tokens[st.key] = st.token
        if st.inflight_cf is not None:
            st.inflight_cf.cancel()  # drops it if it has not started; a running one is dropped when done

    def open_state(self, uri: str, notebook: bool) -> DocState:
        key = normalize_uri(uri)
        st = self.docs.get(key)
        if st is None:
            st = self.docs[key] = DocState(key, uri, notebook=notebook)
        st.uri = uri
        self.bump(st)
        st.save_token = st.token
        return st

    def close_state(self, uri: str) -> None:
        key = normalize_uri(uri)
        st = self.docs.pop(key, None)
        self._tokens.pop(key, None)
        PARSERS.forget(key)
        if st is None:
            return
        if st.pending:
            st.pending.cancel()
        for uri in st.published | ({st.uri} if not st.notebook else set()):
            self.results.pop(normalize_uri(uri), None)
            self.probe_notes.pop(normalize_uri(uri), None)
            if not self.pull_mode:
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def key_for(self, uri: str) -> str | None:
        """The key of the analysed unit a URI belongs to (the notebook of a cell)."""
        key = normalize_uri(uri)
        if key in self.docs:
            return key
        nb = self.workspace.get_notebook_document(cell_uri=uri)
        if nb is not None and normalize_uri(nb.uri) in self.docs:
            return normalize_uri(nb.uri)
        return None

    def result(self, uri: str) -> DocResult | None:
        """The last analysis of a text document or cell, under whichever spelling of its URI."""
        return self.results.get(normalize_uri(uri))

    def make_job(self, st: DocState) -> Job:
        settings, folder = self.settings_for(st.uri)
        if st.notebook:
            nb = self.workspace.get_notebook_document(notebook_uri=st.uri)
            cells = []
            for cell in nb.cells if nb else []:
                if cell.kind != types.NotebookCellKind.Code:
                    continue
                doc = self.workspace.text_documents.get(normalize_uri(cell.document))
                if doc is None or (doc.language_id and doc.language_id != "python"):
                    continue
                cells.append(Cell(cell.document, doc.version, doc.source))
            return Job(st.key, st.token, nb.version if nb else None, uri_to_path(st.uri), settings, folder, self.encoding, cells=tuple(cells), uri=st.uri)
        doc = self.workspace.get_text_document(st.uri)
        return Job(st.key, st.token, doc.version, uri_to_path(st.uri), settings, folder, self.encoding, text=doc.source, uri=st.uri)

    def _run_job_checked(self, job: Job) -> Outcome | None:
        """In the worker: skip work that was superseded while it waited in the queue."""
        if self._tokens.get(job.key) != job.token:
            return None
        outcome = run_job(job)
        if not self._gc_frozen:
            # What the first analysis loaded (jedi, parso, typeshed stubs, torch's stubs) lives as
            # long as the server: out of the collector's sight, its passes stay short.
            self._gc_frozen = True
            gc.collect()
            gc.freeze()
        return outcome

    async def analyze(self, st: DocState) -> Outcome | None:
        if st.inflight is not None and st.inflight_token == st.token and not st.inflight.done():
            return await asyncio.shield(st.inflight)
        job = self.make_job(st)
        cf = self.pool.submit(run_job, job) if self.pool_kind == "process" else self.pool.submit(self._run_job_checked, job)
        fut = asyncio.wrap_future(cf)
        st.inflight, st.inflight_cf, st.inflight_token = fut, cf, job.token
        fut.add_done_callback(lambda f: self._on_done(st, job, f))
        return await asyncio.shield(fut)

    def _on_done(self, st: DocState, job: Job, fut: asyncio.Future) -> None:
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is not None:
            log.error("analysis of %s failed", job.key, exc_info=exc)
            self.log_to_client(f"torchpit: internal error analysing {job.key}: {exc}", types.MessageType.Error)
            return
        outcome: Outcome | None = fut.result()
        if outcome is None or st.outcome is outcome or self.docs.get(job.key) is not st or st.token != job.token:
            return  # superseded: a newer version (or newer settings) is being analysed
        self.accept(st, outcome)

    def accept(self, st: DocState, outcome: Outcome) -> None:
        st.outcome = outcome
        st.result_token = outcome.job.token
        for message in outcome.rule_errors:
            if message in st.logged:
                log.debug("%s", message)
                continue
            st.logged.add(message)
            self.log_to_client(f"torchpit: {message}", types.MessageType.Error)
        if outcome.config_error:
            self.show_once(f"torchpit: {outcome.config_error} (using the default configuration)", types.MessageType.Error)
        current = set(outcome.docs)
        for uri, doc in outcome.docs.items():
            self.refresh_lsp(doc)
            self.results[normalize_uri(uri)] = doc
        if not self.pull_mode:
            for uri in st.published - current:  # cells that left the notebook
                self.results.pop(normalize_uri(uri), None)
                self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
            for uri, doc in outcome.docs.items():
                self.text_document_publish_diagnostics(
                    types.PublishDiagnosticsParams(uri=uri, diagnostics=doc.lsp, version=doc.version)
                )
        st.published = current

    def refresh_lsp(self, doc: DocResult) -> None:
        """The LSP diagnostics with probe results added to their related information, and the
        result id (a digest of what the client sees)."""
        if doc.plain is None:
            doc.plain = doc.lsp
        notes = self.probe_notes.get(normalize_uri(doc.uri))
        if notes:
            out = []
            for d, lsp in zip(doc.diagnostics, doc.plain):
                extra = notes.get((d.code, d.range.start.line))
                if extra:
                    info = [types.DiagnosticRelatedInformation(location=types.Location(uri=doc.uri, range=lsp.range), message=f"probe {n}") for n in extra]
                    lsp = attrs.evolve(lsp, related_information=[*(lsp.related_information or []), *info])
                out.append(lsp)
            doc.lsp = out
        else:
            doc.lsp = doc.plain
        doc.result_id = hashlib.sha1(repr(doc.lsp).encode()).hexdigest()[:16]

    def schedule(self, st: DocState, delay: float) -> None:
        if st.pending is not None and not st.pending.done():
            st.pending.cancel()
        st.pending = asyncio.ensure_future(self._debounced(st, delay))

    async def _debounced(self, st: DocState, delay: float) -> None:
        if self.settings_ready is not None and not self.settings_ready.is_set():
            try:
                await asyncio.wait_for(self.settings_ready.wait(), 5)
            except asyncio.TimeoutError:
                pass
        if delay > 0:
            await asyncio.sleep(delay)
        await self.analyze(st)

    async def fresh_result(self, uri: str) -> DocResult:
        """The diagnostics of the document's current version (analysing it now if needed).
        Raises InvalidParams for a document that is not open."""
        key = self.key_for(uri)
        if key is None:
            raise JsonRpcInvalidParams(f"document not open: {uri}")
        st = self.docs[key]
        for _ in range(5):
            doc = self.result(uri)
            if st.result_token == st.token and doc is not None:
                return doc
            try:
                outcome = await self.analyze(st)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and getattr(task, "cancelling", lambda: 1)():
                    raise  # this request was cancelled
                continue  # the analysis was superseded by an edit: analyse the new version
            if outcome is not None and st.token == outcome.job.token and st.result_token != st.token:
                self.accept(st, outcome)  # the done-callback may not have run yet
            if self.docs.get(key) is not st:
                raise JsonRpcInvalidParams(f"document closed: {uri}")
        doc = self.result(uri)
        if doc is not None:
            return doc
        raise JsonRpcInvalidParams(f"document not analysed: {uri}")

    def lines_of(self, doc: DocResult) -> Lines:
        return Lines(doc.text, self.workspace.position_codec)


def edited(ls: "TorchpitServer", uri: str) -> None:
    """A document or notebook changed: supersede queued work, re-analyse after the debounce."""
    st = ls.docs.get(normalize_uri(uri))
    if st is None:
        return
    ls.bump(st)
    settings = settings_of(ls, st.uri)
    if not ls.pull_mode and settings.run != RUN_ON_SAVE:
        ls.schedule(st, settings.debounce_ms / 1000)


def settings_of(server: TorchpitServer, uri: str) -> Settings:
    return server.settings_for(uri)[0]


# ====================================================================== handlers
def create_server(pool: str = "thread") -> TorchpitServer:
    server = TorchpitServer(pool)
    _register(server)
    return server


def _is_python(doc: types.TextDocumentItem) -> bool:
    return doc.language_id == "python" or doc.uri.endswith((".py", ".pyi"))


def _is_pyproject(uri: str) -> bool:
    return uri.rstrip("/").endswith("/pyproject.toml")


def _register(ls: TorchpitServer) -> None:  # noqa: C901 - one small handler per LSP method
    @ls.feature(types.INITIALIZE)
    def initialize(ls: TorchpitServer, params: types.InitializeParams) -> None:
        ls.settings_ready = asyncio.Event()
        ls.init_settings = ls.apply_settings(params.initialization_options, Settings(), "initializationOptions")
        ls.global_settings = ls.init_settings
        if params.process_id:
            asyncio.ensure_future(watch_parent(ls, params.process_id))

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: TorchpitServer, params: types.InitializedParams) -> None:
        try:
            await ls.fetch_configuration()
        finally:
            ls.settings_ready.set()
        ws = ls.client_capabilities.workspace
        if ws and ws.did_change_watched_files and ws.did_change_watched_files.dynamic_registration:
            options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/pyproject.toml")])
            try:
                await ls.client_register_capability_async(
                    types.RegistrationParams(registrations=[types.Registration(id=str(uuid.uuid4()), method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options)])
                )
            except Exception as exc:
                log.warning("could not watch pyproject.toml files: %s", exc)
        ls.rerun_all()

    @ls.feature(types.SHUTDOWN)
    def shutdown(ls: TorchpitServer, params: Any) -> None:
        ls.shutdown_requested = True
        ls.pool.shutdown(wait=False, cancel_futures=True)
        ls.probe_pool.shutdown(wait=False, cancel_futures=True)

    # ---------------------------------------------------------------- text documents
    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TorchpitServer, params: types.DidOpenTextDocumentParams) -> None:
        if not _is_python(params.text_document):
            return
        st = ls.open_state(params.text_document.uri, notebook=False)
        if not ls.pull_mode:
            ls.schedule(st, 0.0)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TorchpitServer, params: types.DidChangeTextDocumentParams) -> None:
        edited(ls, params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TorchpitServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        if _is_pyproject(uri):
            pyproject_changed(ls, [uri])
            return
        st = ls.docs.get(normalize_uri(uri))
        if st is not None:
            st.save_token = st.token
        if st is not None and not ls.pull_mode:
            if st.result_token != st.token or settings_of(ls, uri).run == RUN_ON_SAVE:
                ls.schedule(st, 0.0)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TorchpitServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.close_state(params.text_document.uri)

    # ---------------------------------------------------------------- notebooks
    @ls.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def nb_open(ls: TorchpitServer, params: types.DidOpenNotebookDocumentParams) -> None:
        st = ls.open_state(params.notebook_document.uri, notebook=True)
        if not ls.pull_mode:
            ls.schedule(st, 0.0)

    @ls.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def nb_change(ls: TorchpitServer, params: types.DidChangeNotebookDocumentParams) -> None:
        edited(ls, params.notebook_document.uri)

    @ls.feature(types.NOTEBOOK_DOCUMENT_DID_SAVE)
    def nb_save(ls: TorchpitServer, params: types.DidSaveNotebookDocumentParams) -> None:
        st = ls.docs.get(normalize_uri(params.notebook_document.uri))
        if st is not None:
            st.save_token = st.token
        if st is not None and not ls.pull_mode:
            ls.schedule(st, 0.0)

    @ls.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def nb_close(ls: TorchpitServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.close_state(params.notebook_document.uri)

    # ---------------------------------------------------------------- configuration
    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: TorchpitServer, params: types.DidChangeConfigurationParams) -> None:
        ws = ls.client_capabilities.workspace
        if ws and ws.configuration:
            await ls.fetch_configuration()
        else:
            section = extract_section(params.settings)
            if section is not None:
                ls.global_settings = ls.apply_settings(section, ls.init_settings, "didChangeConfiguration")
                ls.folder_settings.clear()
        ls.rerun_all()

    @ls.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    async def did_change_folders(ls: TorchpitServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for f in params.event.removed:
            ls.folder_settings.pop(f.uri, None)
        await ls.fetch_configuration()
        ls.rerun_all()

    @ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: TorchpitServer, params: types.DidChangeWatchedFilesParams) -> None:
        pyprojects = [c.uri for c in params.changes if _is_pyproject(c.uri)]
        if pyprojects:
            pyproject_changed(ls, pyprojects)

    # ---------------------------------------------------------------- pull diagnostics
    @ls.feature(types.TEXT_DOCUMENT_DIAGNOSTIC, types.DiagnosticOptions(identifier=SOURCE, inter_file_dependencies=False, workspace_diagnostics=False))
    async def pull(ls: TorchpitServer, params: types.DocumentDiagnosticParams):
        uri = params.text_document.uri
        key = ls.key_for(uri)
        if key is None:
            raise JsonRpcInvalidParams(f"document not open: {uri}")
        st = ls.docs[key]
        last = ls.result(uri)
        if settings_of(ls, st.uri).run == RUN_ON_SAVE and st.result_token >= st.save_token and last is not None:
            doc = last  # onSave: what the last open/save showed, until the next save
        else:
            doc = await ls.fresh_result(uri)
        if params.previous_result_id and params.previous_result_id == doc.result_id:
            return types.UnchangedDocumentDiagnosticReport(result_id=doc.result_id)
        return types.FullDocumentDiagnosticReport(items=doc.lsp, result_id=doc.result_id)

    # ---------------------------------------------------------------- code actions
    @ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.SourceFixAll, actions.FIX_ALL_KIND]),
    )
    async def code_action(ls: TorchpitServer, params: types.CodeActionParams):
        doc = await ls.fresh_result(params.text_document.uri)
        lines = ls.lines_of(doc)
        try:
            lines.from_client_range(params.range)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        probe_on = settings_of(ls, params.text_document.uri).probe.enable
        return actions.code_actions(doc, params, lines, ls.edit_support(), probes.has_probe if probe_on else None) or None

    # ---------------------------------------------------------------- hover
    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    async def on_hover(ls: TorchpitServer, params: types.HoverParams):
        doc = await ls.fresh_result(params.text_document.uri)
        lines = ls.lines_of(doc)
        try:
            pos = lines.from_client(params.position)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        return hover.hover(doc, lines, pos, ls.markdown_hover(), ls.probe_notes.get(normalize_uri(doc.uri)))

    # ---------------------------------------------------------------- commands
    @ls.command(actions.CMD_EXPLAIN)
    def cmd_explain(ls: TorchpitServer, *args: Any) -> str:
        code = args[0] if args else None
        if isinstance(code, dict):
            code = code.get("code")
        try:
            return commands.explain_command(code)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None

    @ls.command(actions.CMD_APPLY_FIX)
    async def cmd_apply_fix(ls: TorchpitServer, *args: Any) -> Any:
        """Arguments: ``{"uri", "code", "line"}`` (0-based line): apply that diagnostic's fix
        to the document's current version through ``workspace/applyEdit``."""
        arg = args[0] if args else None
        if not isinstance(arg, dict) or not isinstance(arg.get("uri"), str) or not isinstance(arg.get("code"), str):
            raise JsonRpcInvalidParams("torchpit.applyFix expects {uri, code, line}")
        doc = await ls.fresh_result(arg["uri"])
        line = arg.get("line")
        diag = actions.find_diagnostic(doc, arg["code"], line if isinstance(line, int) else None)
        if diag is None or diag.fix is None:
            raise JsonRpcInvalidParams(f"no fix for {arg['code']} at line {line} of {arg['uri']}")
        edit = actions.apply_fix_edit(doc, diag.fix, ls.lines_of(doc), ls.edit_support())
        result = await ls.workspace_apply_edit_async(types.ApplyWorkspaceEditParams(edit=edit, label=actions.fix_title(diag.code, diag.fix)))
        return {"applied": bool(result and result.applied)}

    @ls.command(actions.CMD_DEBUG_INFO)
    def cmd_debug_info(ls: TorchpitServer, *args: Any) -> dict:
        settings = {"(global)": ls.global_settings.to_json(), **{f: s.to_json() for f, s in ls.folder_settings.items()}}
        docs, sources = {}, {}
        for key, st in ls.docs.items():
            o = st.outcome
            docs[key] = {
                "token": st.token,
                "analysedToken": st.result_token,
                "timingsMs": {k: round(v * 1000, 2) for k, v in (o.timings if o else {}).items()},
                "ruleErrors": o.rule_errors if o else [],
                "parse": o.parse_mode if o else None,
                # top-level statements whose per-node rule findings were reused (analyzers/memo.py)
                "reusedStatements": f"{o.reused[0]}/{o.reused[1]}" if o else None,
            }
            if o:
                sources[key] = o.config_error or o.config_source or "(defaults)"
        info = commands.debug_info(
            settings=settings,
            encoding=ls.encoding,
            mode="pull" if ls.pull_mode else "push",
            pool=ls.pool_kind,
            documents=docs,
            config_sources=sources,
            probe_available=probes.probe_module() is not None,
        )
        log.info("debug info: %s", info)
        return info

    @ls.command(actions.CMD_RUN_PROBE)
    async def cmd_run_probe(ls: TorchpitServer, *args: Any) -> Any:
        """Arguments: ``"PIT101"``, ``{"code", "uri"?, "line"?, "spec"?}`` or ``uri, diagnostic``.
        Runs in a thread with work-done progress; the result is shown as a message and attached
        to the diagnostic. Answers ``{"summary", "results"}``."""
        try:
            code, uri, line, spec = probes.probe_target(args)
        except ValueError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        if spec is None and uri and line is not None and ls.result(uri) is not None:
            diag = actions.find_diagnostic(ls.result(uri), code, line)
            spec = diag.probe if diag is not None else None
        settings = settings_of(ls, uri) if uri else ls.global_settings
        results = await run_probe_with_progress(ls, code, uri, line, spec, settings)
        return {"summary": probes.summarize(code, results), "results": results}


async def run_probe_with_progress(ls: TorchpitServer, code: str, uri: str | None, line: Any, spec: Any, settings: Settings) -> list:
    token = f"torchpit-probe-{uuid.uuid4()}"
    window = ls.client_capabilities.window
    progress = bool(window and window.work_done_progress)
    if progress:
        try:
            await ls.work_done_progress.create_async(token)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title=f"torchpit: probing {code}", message=f"device {settings.probe.device}", cancellable=False))
        except Exception as exc:
            log.warning("no progress for the probe: %s", exc)
            progress = False
    loop = asyncio.get_running_loop()
    try:
        results = await loop.run_in_executor(ls.probe_pool, probes.run_probes, code, spec if isinstance(spec, dict) else None, settings.probe)
    finally:
        if progress:
            ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message="done"))
    summary = probes.summarize(code, results)
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Info, message=summary))
    ls.log_to_client(summary)
    if uri and isinstance(line, int):
        ls.probe_notes.setdefault(normalize_uri(uri), {})[(code, line)] = probes.notes(results)
        doc = ls.result(uri)
        if doc is not None:
            ls.refresh_lsp(doc)
            if not ls.pull_mode:
                ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=doc.uri, diagnostics=doc.lsp, version=doc.version))
    return results


def pyproject_changed(ls: TorchpitServer, uris: list[str]) -> None:
    """Re-analyse the open documents under the folders of changed pyproject.toml files."""
    dirs = [normalize_uri(uri).rsplit("/", 1)[0] + "/" for uri in uris]
    affected = [key for key in ls.docs if any(key.startswith(d) for d in dirs)]
    log.info("pyproject.toml changed (%s): re-analysing %d documents", ", ".join(uris), len(affected))
    ls.rerun_all(affected)


async def watch_parent(ls: TorchpitServer, pid: int) -> None:
    """Exit when the editor that started us is gone (it may die without sending ``exit``)."""
    if os.name == "nt" or pid <= 0:
        return
    while True:
        await asyncio.sleep(PARENT_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.warning("the parent process %d is gone: exiting", pid)
            ls.pool.shutdown(wait=False, cancel_futures=True)
            logging.shutdown()
            os._exit(0)
        except PermissionError:
            pass  # alive, owned by someone else
