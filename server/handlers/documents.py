"""Text documents: open, change, save, close (the text itself is kept by the session)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..session import Unit
from ..settings import RUN_ON_SAVE
from . import configuration, diagnostics

if TYPE_CHECKING:
    from ..server import TorchpitServer


def is_python(doc: types.TextDocumentItem) -> bool:
    return doc.language_id == "python" or doc.uri.endswith((".py", ".pyi"))


def opened(ls: "TorchpitServer", unit: Unit) -> None:
    """A document or notebook was opened (or reopened): analyse it now (push clients)."""
    ls.scheduler.opened(unit)
    if not ls.pull_mode:
        ls.scheduler.schedule(unit, 0.0)


def edited(ls: "TorchpitServer", unit: Unit) -> None:
    """A document or notebook changed: supersede queued work, re-analyse after the debounce
    (before the documents that are not being typed in)."""
    ls.scheduler.edited(unit)
    settings = ls.session.settings_for(unit.uri)[0]
    if not ls.pull_mode and settings.run != RUN_ON_SAVE:
        ls.scheduler.schedule(unit, settings.debounce_ms / 1000)


def saved(ls: "TorchpitServer", unit: Unit) -> None:
    unit.save_token = unit.token
    if not ls.pull_mode:
        ls.scheduler.schedule(unit, 0.0)


def closed(ls: "TorchpitServer", unit: Unit | None) -> None:
    if unit is None:
        return
    ls.scheduler.forget(unit)
    for uri in unit.published | ({unit.uri} if not unit.notebook else set()):
        diagnostics.publish(ls, uri, [])


def did_open(ls: "TorchpitServer", params: types.DidOpenTextDocumentParams) -> None:
    if is_python(params.text_document):
        opened(ls, ls.session.open_text(params.text_document))


def did_change(ls: "TorchpitServer", params: types.DidChangeTextDocumentParams) -> None:
    doc = params.text_document
    unit, desync = ls.session.change_text(doc.uri, doc.version, params.content_changes)
    if desync is not None:
        diagnostics.out_of_sync(ls, desync)
    elif unit is not None:
        edited(ls, unit)


def did_save(ls: "TorchpitServer", params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    if configuration.is_pyproject(uri):
        configuration.pyproject_changed(ls, [uri])
        return
    unit = ls.session.units.get(ls.session.key_of(uri))
    if unit is None or unit.notebook:
        return
    if unit.result_token != unit.token or ls.session.settings_for(uri)[0].run == RUN_ON_SAVE:
        saved(ls, unit)
    else:
        unit.save_token = unit.token


def did_close(ls: "TorchpitServer", params: types.DidCloseTextDocumentParams) -> None:
    closed(ls, ls.session.close_text(params.text_document.uri))


def unreadable_change(ls: "TorchpitServer", uri: str | None, method: str, reason: str) -> None:
    """A ``didChange`` the protocol could not read (a negative position, say): the document's
    text is unknown from here on."""
    if uri is None:
        ls.log_to_client(f"torchpit: a {method} notification could not be read ({reason}); no document named", types.MessageType.Warning)
        return
    diagnostics.out_of_sync(ls, ls.session.lost_sync(uri, f"the {method} notification could not be read ({reason})"))


FEATURES = [
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (types.TEXT_DOCUMENT_DID_SAVE, None, did_save),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
]
