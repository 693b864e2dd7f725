"""Notebook documents: open, change, save, close. A notebook's code cells are analysed
together as one unit; each cell gets its own diagnostics (``analyzers/notebook.localize``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from . import diagnostics, documents

if TYPE_CHECKING:
    from ..server import TorchpitServer

SYNC_OPTIONS = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook",
            cells=[types.NotebookCellLanguage(language="python")],
        )
    ],
    save=True,
)


def did_open(ls: "TorchpitServer", params: types.DidOpenNotebookDocumentParams) -> None:
    documents.opened(ls, ls.session.open_notebook(params))


def did_change(ls: "TorchpitServer", params: types.DidChangeNotebookDocumentParams) -> None:
    unit, problems = ls.session.change_notebook(params)
    for desync in problems:
        diagnostics.out_of_sync(ls, desync)
    if unit is not None and not problems and ls.session.in_sync(unit):
        documents.edited(ls, unit)


def did_save(ls: "TorchpitServer", params: types.DidSaveNotebookDocumentParams) -> None:
    unit = ls.session.units.get(ls.session.key_of(params.notebook_document.uri))
    if unit is not None:
        documents.saved(ls, unit)


def did_close(ls: "TorchpitServer", params: types.DidCloseNotebookDocumentParams) -> None:
    cells = [c.uri for c in params.cell_text_documents]
    documents.closed(ls, ls.session.close_notebook(params.notebook_document.uri, cells))


FEATURES = [
    (types.NOTEBOOK_DOCUMENT_DID_OPEN, None, did_open),
    (types.NOTEBOOK_DOCUMENT_DID_CHANGE, None, did_change),
    (types.NOTEBOOK_DOCUMENT_DID_SAVE, None, did_save),
    (types.NOTEBOOK_DOCUMENT_DID_CLOSE, None, did_close),
]
