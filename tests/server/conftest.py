"""A real torchpit server over stdio, driven by pytest-lsp's client.

``start(...)`` launches ``python -m torchpit.server`` and initializes it with the chosen
client capabilities (VS Code's or Neovim 0.7's, as pytest-lsp records them), settings and
workspace folders. Every ``publishDiagnostics`` is recorded with its version.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any, Awaitable, Callable

import pytest
import pytest_asyncio
from lsprotocol import types
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features


SERVER_CMD = [sys.executable, "-m", "torchpit.server"]

PIT101_SRC = '''import torch.nn.functional as F


def train_step(model, x, y):
    logits = model(x)
    loss = F.cross_entropy(F.softmax(logits, dim=1), y)
    return loss
'''

PIT301_SRC = '''import torch.nn as nn
import torch.nn.functional as F


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        x = F.dropout(x, p=0.5)
        return self.fc(x)
'''

BOTH_SRC = "import torch.nn as nn\n" + PIT101_SRC + "\n\n" + PIT301_SRC.split("\n", 3)[3]


def make_client() -> LanguageClient:
    client = LanguageClient()

    def on_publish(client: LanguageClient, params: types.PublishDiagnosticsParams) -> None:
        client.diagnostics[params.uri] = params.diagnostics
        client.publishes.append(params)  # type: ignore[attr-defined]

    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = on_publish
    register_lsp_features(client, features)
    client.publishes = []  # type: ignore[attr-defined]
    client.applied_edits = []  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(client: LanguageClient, params: types.ApplyWorkspaceEditParams):
        client.applied_edits.append(params)  # type: ignore[attr-defined]
        return types.ApplyWorkspaceEditResult(applied=True)

    client.registrations = []  # type: ignore[attr-defined]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(client: LanguageClient, params: types.RegistrationParams):
        client.registrations.extend(params.registrations)  # type: ignore[attr-defined]

    return client


def capabilities(name: str, *, pull: bool = False, notebooks: bool = False, utf8: bool = False) -> types.ClientCapabilities:
    caps = client_capabilities(name)
    if pull:
        caps.text_document.diagnostic = types.DiagnosticClientCapabilities(related_document_support=False)
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    if notebooks:
        caps.notebook_document = types.NotebookDocumentClientCapabilities(
            synchronization=types.NotebookDocumentSyncClientCapabilities(execution_summary_support=True)
        )
    if utf8:
        caps.general = caps.general or types.GeneralClientCapabilities()
        caps.general.position_encodings = [types.PositionEncodingKind.Utf8]
    return caps


async def wait_until(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def wait_diags(client: LanguageClient, uri: str, version: int | None = None, timeout: float = 20.0) -> list[types.Diagnostic]:
    """The diagnostics of the latest publish for ``uri`` (at ``version``, if given)."""

    def found():
        for p in reversed(client.publishes):  # type: ignore[attr-defined]
            if p.uri == uri and (version is None or p.version == version):
                return p
        return None

    params = await wait_until(found, timeout, f"diagnostics for {uri} v{version}")
    return list(params.diagnostics)


def codes(diags) -> list[str]:
    return sorted(str(d.code) for d in diags)


def uri_of(path: Path) -> str:
    return from_fs_path(str(path))


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 columns; the tests use ASCII text) to ``text``."""
    lines = text.split("\n")
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line) + 1)

    def offset(p: types.Position) -> int:
        return starts[p.line] + p.character

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


def edits_of(edit: types.WorkspaceEdit, uri: str) -> tuple[list[types.TextEdit], int | None]:
    if edit.document_changes:
        for change in edit.document_changes:
            if isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri:
                return list(change.edits), change.text_document.version
    if edit.changes:
        return list(edit.changes.get(uri, [])), None
    return [], None


Starter = Callable[..., Awaitable[LanguageClient]]


@pytest_asyncio.fixture
async def start(tmp_path: Path):
    clients: list[LanguageClient] = []

    async def _start(
        client_name: str = "visual-studio-code",
        *,
        init_options: Any = None,
        configuration: dict[str, Any] | None = None,
        folders: list[Path] | None = None,
        env: dict[str, str] | None = None,
        pull: bool = False,
        notebooks: bool = False,
        utf8: bool = False,
        args: list[str] | None = None,
        cmd: list[str] | None = None,
    ) -> LanguageClient:
        config = ClientServerConfig(
            server_command=[*(cmd or SERVER_CMD), *(args or [])],
            client_factory=make_client,
            server_env={**os.environ, **(env or {})},
        )
        client = await config.start()
        if configuration:
            for scope, value in configuration.items():
                client.set_configuration(value, section="torchpit", scope_uri=scope or None)
        folders = folders if folders is not None else [tmp_path]
        await client.initialize_session(
            types.InitializeParams(
                capabilities=capabilities(client_name, pull=pull, notebooks=notebooks, utf8=utf8),
                root_uri=uri_of(folders[0]) if folders else None,
                workspace_folders=[types.WorkspaceFolder(uri=uri_of(f), name=f.name) for f in folders] or None,
                initialization_options=init_options,
            )
        )
        clients.append(client)
        return client

    yield _start
    for client in clients:
        try:
            await asyncio.wait_for(client.shutdown_session(), 10)
        except Exception:
            pass
        await client.stop()


def open_doc(client: LanguageClient, path: Path, text: str, version: int = 1) -> str:
    path.write_text(text, encoding="utf-8")
    uri = uri_of(path)
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(text_document=types.TextDocumentItem(uri=uri, language_id="python", version=version, text=text))
    )
    return uri


def change_doc(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def change_cell(client: LanguageClient, nb_uri: str, version: int, cell_uri: str, cell_version: int, changes: list) -> None:
    """A ``notebookDocument/didChange`` that edits one cell's text."""
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=nb_uri, version=version),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=cell_uri, version=cell_version),
                            changes=changes,
                        )
                    ]
                )
            ),
        )
    )


@pytest.fixture
def fast_settings() -> dict[str, Any]:
    return {"debounce": 0}


PIT103_SRC = '''import torch.nn as nn
import torch.nn.functional as F


class DQN(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(x)


policy_net = DQN()


def td_same_net(states, actions, rewards, next_states):
    q = policy_net(states).gather(1, actions).squeeze(1)
    q_next = policy_net(next_states).max(dim=1).values
    target = rewards + 0.99 * q_next
    return F.mse_loss(q, target)
'''
