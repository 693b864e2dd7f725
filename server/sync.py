"""Document synchronisation at the protocol level: the session keeps the texts.

pygls' built-in handlers for the document notifications would keep a second copy of every
text in its ``Workspace``, split with ``str.splitlines`` (wrong for LSP: see ``text.py``), and
they adjust the client's positions in place before our handlers see them. :class:`SessionSync`
replaces them with handlers that only call ours. It also catches a ``didChange`` whose params
cannot be read at all (a negative position fails lsprotocol's schema, and pygls would drop the
notification with a log line): the session then marks the document out of sync, naming it,
instead of silently keeping a text that no longer matches the editor's.
"""

from __future__ import annotations

import logging
from typing import Any

from cattrs import transform_error
from lsprotocol import types
from pygls.protocol.language_server import lsp_method

from .handlers.documents import unreadable_change

log = logging.getLogger("torchpit.server")

_CHANGES = {
    types.TEXT_DOCUMENT_DID_CHANGE: types.DidChangeTextDocumentNotification,
    types.NOTEBOOK_DOCUMENT_DID_CHANGE: types.DidChangeNotebookDocumentNotification,
}


class UnreadableChange:
    """A document change notification whose params did not match the schema."""

    def __init__(self, method: str, uri: str | None, reason: str) -> None:
        self.method = method
        self.uri = uri
        self.reason = reason


def _uri_of(data: dict[str, Any]) -> str | None:
    params = data.get("params")
    doc = params.get("textDocument") or params.get("notebookDocument") if isinstance(params, dict) else None
    uri = doc.get("uri") if isinstance(doc, dict) else None
    return uri if isinstance(uri, str) else None


def _describe(exc: Exception) -> str:
    """Where the params broke the schema: ``invalid value @ $.params.content_changes[0].range.start``."""
    try:
        return "; ".join(transform_error(exc, path="$")) or str(exc)
    except Exception:
        return str(exc) or type(exc).__name__


def _to_user_handler(method: str):
    def handler(self, params: Any):
        if (user_handler := self.fm.features.get(method)) is not None:
            yield user_handler, (params,), None

    handler.__name__ = f"lsp_{method.replace('/', '__')}"
    return lsp_method(method)(handler)


class SessionSync:
    """A mixin for the server's protocol class (before it in the bases)."""

    # The same attribute names as pygls' built-ins, so these replace them.
    lsp_text_document__did_open = _to_user_handler(types.TEXT_DOCUMENT_DID_OPEN)
    lsp_text_document__did_change = _to_user_handler(types.TEXT_DOCUMENT_DID_CHANGE)
    lsp_text_document__did_close = _to_user_handler(types.TEXT_DOCUMENT_DID_CLOSE)
    lsp_notebook_document__did_open = _to_user_handler(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    lsp_notebook_document__did_change = _to_user_handler(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    lsp_notebook_document__did_close = _to_user_handler(types.NOTEBOOK_DOCUMENT_DID_CLOSE)

    def structure_message(self, data: dict[str, Any]):
        method = data.get("method") if isinstance(data, dict) and "jsonrpc" in data and "id" not in data else None
        if method in _CHANGES:
            try:
                return self._converter.structure(data, _CHANGES[method])  # type: ignore[attr-defined]
            except Exception as exc:
                return UnreadableChange(method, _uri_of(data), _describe(exc))
        return super().structure_message(data)  # type: ignore[misc]

    def handle_message(self, message: Any):
        if isinstance(message, UnreadableChange):
            if getattr(self, "_shutdown", False):
                return None
            unreadable_change(self._server, message.uri, message.method, message.reason)  # type: ignore[attr-defined]
            return None
        return super().handle_message(message)  # type: ignore[misc]
