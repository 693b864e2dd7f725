"""Diagnostics: publishing (push), ``textDocument/diagnostic`` (pull), out-of-sync documents."""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING

from lsprotocol import types
from pygls.exceptions import JsonRpcInvalidParams

from pygls.uris import to_fs_path

from .. import workspace
from ..analysis import Job, Outcome
from ..convert import SOURCE, diagnostic_json, uri_to_path
from ..session import Desync, Unit
from ..settings import MODE_WORKSPACE, RUN_ON_SAVE

if TYPE_CHECKING:
    from ..server import TorchpitServer

log = logging.getLogger("torchpit.server")

OUT_OF_SYNC_ID = "out-of-sync"


def publish(ls: "TorchpitServer", uri: str, diagnostics: list[types.Diagnostic], version: int | None = None) -> None:
    """``textDocument/publishDiagnostics``, its JSON written by ``convert.diagnostic_json``
    (the same message pygls' converter would make, in about half the time)."""
    if not ls.pull_mode:
        params: dict = {"uri": uri, "diagnostics": [diagnostic_json(d) for d in diagnostics]}
        if version is not None:
            params["version"] = version
        ls.protocol._send_data({"jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, "params": params})


def on_outcome(ls: "TorchpitServer", unit: Unit, outcome: Outcome) -> None:
    """The scheduler's callback for a current outcome: accept it, log, publish."""
    accepted = ls.session.accept(unit, outcome)
    for message in accepted.rule_errors:
        ls.log_to_client(f"torchpit: {message}", types.MessageType.Error)
    if accepted.config_error:
        ls.show_once(f"torchpit: {accepted.config_error} (using the default configuration)", types.MessageType.Error)
    if accepted.notice and accepted.notice not in ls.shown:
        ls.show_once(accepted.notice, types.MessageType.Info)  # a document above maxFileSize: once, not per keystroke
    for uri in accepted.cleared:  # cells that left the notebook
        publish(ls, uri, [])
    for doc in accepted.docs:
        publish(ls, doc.uri, doc.lsp, doc.version)


def on_error(ls: "TorchpitServer", job: Job, exc: BaseException) -> None:
    log.error("analysis of %s failed", job.key, exc_info=exc)
    ls.log_to_client(f"torchpit: internal error analysing {job.uri or job.key}: {exc}", types.MessageType.Error)


def out_of_sync(ls: "TorchpitServer", desync: Desync) -> None:
    """A change could not be applied: say so, naming the document, and withdraw its findings
    (they would be for a text the client does not have) until the whole text arrives."""
    ls.log_to_client(
        f"torchpit: {desync.uri}: {desync.reason}. The server's copy of the document no longer matches the "
        "editor's; its findings are withdrawn until the editor sends the whole text (reopen the document).",
        types.MessageType.Warning,
    )
    unit = desync.unit
    if unit is None:
        return
    ls.scheduler.supersede(unit)  # a run under way is for a text the client no longer has
    for uri in ls.session.withdraw(unit):
        publish(ls, uri, [])
    if ls.pull_mode:
        refresh(ls)


def refresh(ls: "TorchpitServer") -> None:
    ws = ls.client_capabilities.workspace
    if ws and ws.diagnostics and ws.diagnostics.refresh_support:
        ls.workspace_diagnostic_refresh(None)


async def pull(ls: "TorchpitServer", params: types.DocumentDiagnosticParams):
    uri = params.text_document.uri
    session = ls.session
    unit = session.unit_for(uri)
    if unit is None:
        raise JsonRpcInvalidParams(f"document not open: {uri}")
    if not session.in_sync(unit):
        return types.FullDocumentDiagnosticReport(items=[], result_id=OUT_OF_SYNC_ID)
    saved = session.result(uri)
    if session.settings_for(unit.uri)[0].run == RUN_ON_SAVE and unit.result_token >= unit.save_token and saved is not None:
        doc = saved  # onSave: what the last open/save showed, until the next save
    else:
        doc = await ls.scheduler.fresh_result(uri)
        if doc is None:
            return types.FullDocumentDiagnosticReport(items=[], result_id=OUT_OF_SYNC_ID)
    if params.previous_result_id and params.previous_result_id == doc.result_id:
        return types.UnchangedDocumentDiagnosticReport(result_id=doc.result_id)
    return types.FullDocumentDiagnosticReport(items=doc.lsp, result_id=doc.result_id)


async def workspace_pull(ls: "TorchpitServer", params: types.WorkspaceDiagnosticParams) -> types.WorkspaceDiagnosticReport:
    """``workspace/diagnostic``: with ``diagnosticMode: "workspace"``, every Python file of the
    folders in that mode that is not open (``workspace.py``); nothing otherwise."""
    session = ls.session
    previous = {p.uri: p.value for p in params.previous_result_ids}
    skip = frozenset(p for p in (uri_to_path(t.uri) for t in session.texts.values()) if p)
    folders = session.folders or ([session.root_uri] if session.root_uri else [])
    items: list[types.WorkspaceDocumentDiagnosticReport] = []
    for folder in folders:
        path = to_fs_path(folder) if folder.startswith("file:") else None
        settings = session.folder_settings.get(folder, session.global_settings)
        if path is None or not settings.enable or settings.diagnostic_mode != MODE_WORKSPACE or not os.path.isdir(path):
            continue
        job = workspace.Scan(path, settings, session.encoding, skip, previous)
        try:
            items.extend(await ls.scheduler.background(workspace.scan, job))
        except Exception as exc:  # a bug or a dead worker: a message, and the open files still work
            log.error("workspace diagnostics of %s failed", path, exc_info=exc)
            ls.log_to_client(f"torchpit: workspace diagnostics of {path} failed: {exc}", types.MessageType.Error)
    return types.WorkspaceDiagnosticReport(items=items)


DIAGNOSTIC_OPTIONS = types.DiagnosticOptions(identifier=SOURCE, inter_file_dependencies=False, workspace_diagnostics=True)

FEATURES = [
    (types.TEXT_DOCUMENT_DIAGNOSTIC, DIAGNOSTIC_OPTIONS, pull),
    (types.WORKSPACE_DIAGNOSTIC, None, workspace_pull),
]
