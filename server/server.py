"""The torchpit language server: the server object, its protocol and its handlers' wiring.

One :class:`~torchpit.server.session.Session` owns every open document's state; the
:class:`~torchpit.server.scheduler.Scheduler` runs analyses (debounce, supersession, the
worker pool, staleness); the handlers (``handlers/``, one module per topic) are thin
functions over them and the pure functions of ``analysis``, ``actions``, ``hover``,
``commands`` and ``probes``. Every result is tagged with its unit's *token* (bumped on each
edit and each settings change) and is published only if the token is still current, with
the document version it was computed for.
"""

from __future__ import annotations

import concurrent.futures
import logging
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

import torchpit

from . import actions, handlers, transport
from .handlers import diagnostics
from .handlers.notebooks import SYNC_OPTIONS
from .scheduler import Scheduler
from .session import Session
from .sync import SessionSync

log = logging.getLogger("torchpit.server")


class SessionProtocol(SessionSync, transport.TorchpitProtocol):
    """The protocol the server runs: the frame reader and JSON-RPC checks of ``transport.py``,
    and the session keeps the documents' texts (``sync.py``)."""


class TorchpitServer(LanguageServer):
    def __init__(self, pool: str = "thread") -> None:
        super().__init__(
            "torchpit",
            torchpit.__version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            notebook_document_sync=SYNC_OPTIONS,
            protocol_cls=SessionProtocol,
        )
        self.session = Session()
        self.scheduler = Scheduler(
            self.session,
            pool,
            on_outcome=lambda unit, outcome: diagnostics.on_outcome(self, unit, outcome),
            on_error=lambda job, exc: diagnostics.on_error(self, job, exc),
        )
        self.probe_pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchpit-probe")
        self.shown: set[str] = set()
        self.shutdown_requested = False

    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        transport.serve_io(self, stdin, stdout)  # a reader that survives bad frames (transport.py)

    def start_tcp(self, host: str, port: int) -> None:
        transport.serve_tcp(self, host, port)

    # ------------------------------------------------------------------ capabilities
    @property
    def pull_mode(self) -> bool:
        caps = self.client_capabilities.text_document
        return bool(caps and caps.diagnostic)

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


def create_server(pool: str = "thread") -> TorchpitServer:
    server = TorchpitServer(pool)
    handlers.register(server)
    return server
