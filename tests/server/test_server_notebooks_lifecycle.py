"""Notebook cells, the probe, and the server's lifecycle (shutdown, parent death, CLI)."""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys

import pytest
from lsprotocol import types

from .conftest import PIT301_SRC, change_cell, SERVER_CMD, codes, open_doc, uri_of, wait_diags, wait_until

CELLS = [
    "%matplotlib inline\nimport torch.nn as nn\nimport torch.nn.functional as F",
    "# Training notes",  # a markdown cell
    "logits = model(x)\nloss = F.cross_entropy(F.softmax(logits, dim=1), y)",
    PIT301_SRC.split("\n", 3)[3],
]


def notebook_params(nb_uri: str, version: int = 1, cell_uri=lambda nb_uri, i: f"{nb_uri}#cell{i}"):
    cells, docs = [], []
    for i, src in enumerate(CELLS):
        uri = cell_uri(nb_uri, i)
        markdown = i == 1
        cells.append(types.NotebookCell(kind=types.NotebookCellKind.Markup if markdown else types.NotebookCellKind.Code, document=uri))
        docs.append(types.TextDocumentItem(uri=uri, language_id="markdown" if markdown else "python", version=1, text=src))
    return types.DidOpenNotebookDocumentParams(
        notebook_document=types.NotebookDocument(uri=nb_uri, notebook_type="jupyter-notebook", version=version, cells=cells),
        cell_text_documents=docs,
    )


async def test_notebook_cells_get_their_own_diagnostics(start, tmp_path):
    client = await start(init_options={"debounce": 0}, notebooks=True)
    nb_uri = uri_of(tmp_path / "explore.ipynb")
    client.notebook_document_did_open(notebook_params(nb_uri))
    cell2 = await wait_diags(client, f"{nb_uri}#cell2")
    cell3 = await wait_diags(client, f"{nb_uri}#cell3")
    assert codes(cell2) == ["PIT101"] and codes(cell3) == ["PIT301"]
    assert cell2[0].range == types.Range(types.Position(1, 23), types.Position(1, 47))  # cell coordinates
    assert cell3[0].range.start.line == 7
    assert await wait_diags(client, f"{nb_uri}#cell0") == []

    # a quick fix in a cell edits that cell, at its version
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=f"{nb_uri}#cell2"),
            range=cell2[0].range,
            context=types.CodeActionContext(diagnostics=cell2),
        )
    )
    change = acts[0].edit.document_changes[0]
    assert change.text_document.uri == f"{nb_uri}#cell2" and change.edits[0].new_text == "logits"

    # edit cell 2: its diagnostics go, cell 3's stay
    n = len(client.publishes)
    change_cell(client, nb_uri, 2, f"{nb_uri}#cell2", 2, [types.TextDocumentContentChangeWholeDocument(text="loss = F.cross_entropy(model(x), y)")])
    await wait_until(lambda: any(p.uri == f"{nb_uri}#cell2" for p in client.publishes[n:]), what="cell republish")
    assert client.diagnostics[f"{nb_uri}#cell2"] == [] or not client.diagnostics[f"{nb_uri}#cell2"]
    assert codes(client.diagnostics[f"{nb_uri}#cell3"]) == ["PIT301"]

    client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=nb_uri),
            cell_text_documents=[types.TextDocumentIdentifier(uri=f"{nb_uri}#cell{i}") for i in range(4)],
        )
    )
    await wait_until(lambda: not client.diagnostics[f"{nb_uri}#cell3"], what="cells cleared")


def vscode_cell_uri(nb_uri: str, i: int) -> str:
    """A cell URI as VS Code sends it: the fragment is base64 with its ``=`` padding
    percent-encoded (pygls stores the document under the unquoted URI)."""
    return nb_uri.replace("file:", "vscode-notebook-cell:", 1) + f"#W{i}sZmlsZQ%3D%3D"


async def test_vscode_cell_uris_with_escapes(start, tmp_path):
    """Regression: cells whose URI holds %3D%3D got no diagnostics and every request on them
    failed with "document not analysed" (-32602)."""
    client = await start(init_options={"debounce": 0}, notebooks=True)
    nb_uri = uri_of(tmp_path / "my notebooks" / "explore.ipynb")
    assert "%20" in nb_uri
    cell2, cell3 = vscode_cell_uri(nb_uri, 2), vscode_cell_uri(nb_uri, 3)
    client.notebook_document_did_open(notebook_params(nb_uri, cell_uri=vscode_cell_uri))
    diags2 = await wait_diags(client, cell2)  # published under the URI as sent
    assert codes(diags2) == ["PIT101"] and codes(await wait_diags(client, cell3)) == ["PIT301"]
    assert "==" not in "".join(p.uri for p in client.publishes)

    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cell2), range=diags2[0].range, context=types.CodeActionContext(diagnostics=diags2)
        )
    )
    change = acts[0].edit.document_changes[0]
    assert change.text_document.uri == cell2 and change.edits[0].new_text == "logits"
    hov = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=cell2), position=diags2[0].range.start))
    assert "PIT101" in hov.contents.value

    n = len(client.publishes)
    change_cell(client, nb_uri, 2, cell2, 2, [types.TextDocumentContentChangeWholeDocument(text="loss = F.cross_entropy(model(x), y)")])
    await wait_until(lambda: any(p.uri == cell2 and not p.diagnostics for p in client.publishes[n:]), what="cell 2 fixed")
    client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=nb_uri),
            cell_text_documents=[types.TextDocumentIdentifier(uri=vscode_cell_uri(nb_uri, i)) for i in range(4)],
        )
    )
    await wait_until(lambda: not client.diagnostics[cell3], what="cells cleared")


async def test_vscode_cell_uris_pulled(start, tmp_path):
    client = await start(init_options={"debounce": 0}, notebooks=True, pull=True)
    nb_uri = uri_of(tmp_path / "pulled.ipynb")
    client.notebook_document_did_open(notebook_params(nb_uri, cell_uri=vscode_cell_uri))
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=vscode_cell_uri(nb_uri, 3)))
    assert codes((await client.text_document_diagnostic_async(params)).items) == ["PIT301"]


def command_of(action):
    """The command of a code action. lsprotocol's client-side hook reads any code action that
    has a ``command`` as a Command, with the whole command object's repr as its name."""
    if isinstance(action, types.Command):
        if action.command.startswith("{"):
            raw = ast.literal_eval(action.command)
            return types.Command(title=raw["title"], command=raw["command"], arguments=raw.get("arguments"))
        return action
    return action.command


async def test_probe_action_and_command(start, tmp_path):
    pytest.importorskip("torchpit.probe")
    client = await start(init_options={"debounce": 0, "probe": {"enable": True, "device": "cpu", "timeout": 120}})
    uri = open_doc(client, tmp_path / "p.py", PIT301_SRC)
    (d,) = await wait_diags(client, uri, version=1)
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=d.range, context=types.CodeActionContext(diagnostics=[d])
        )
    )
    (probe,) = [c for c in map(command_of, acts) if c and c.command == "torchpit.runProbe"]
    assert probe.title == "Confirm PIT301 with a probe"
    answer = await client.workspace_execute_command_async(types.ExecuteCommandParams(command=probe.command, arguments=probe.arguments))
    results = answer["results"]
    assert results and results[0]["rule"] == "PIT301" and results[0]["status"] == "confirmed"
    assert answer["summary"].startswith("Probe for PIT301: [confirmed]")
    (report,) = client.progress_reports.values()
    assert [r.kind for r in report] == ["begin", "end"]
    assert any(m.message.startswith("Probe for PIT301: [confirmed]") for m in client.messages)
    await wait_until(lambda: any("probe confirmed" in r.message for r in (client.diagnostics[uri][0].related_information or [])), what="probe note")
    hov = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=d.range.start))
    assert "**Probe:**" in hov.contents.value
    # the VS Code client's convention: (uri, the LSP diagnostic); the probe cache answers this time
    raw = client.protocol._converter.unstructure(d)
    answer = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="torchpit.runProbe", arguments=[uri, raw]))
    assert answer["results"][0]["rule"] == "PIT301"


async def test_no_probe_action_unless_enabled(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "p.py", PIT301_SRC)
    (d,) = await wait_diags(client, uri, version=1)
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri), range=d.range, context=types.CodeActionContext(diagnostics=[d])
        )
    )
    assert not [a for a in acts if command_of(a)]


async def test_shutdown_and_exit(start, tmp_path):
    client = await start()
    await client.shutdown_async(None)
    client.exit(None)
    server = client._server
    await asyncio.wait_for(server.wait(), 10)
    assert server.returncode == 0


async def test_exits_when_the_parent_dies(start, tmp_path):
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        client = await start()
        # re-initialisation is not allowed, so start a bare server process for this one
        proc = await asyncio.create_subprocess_exec(*SERVER_CMD, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        body = (
            '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"processId":%d,"rootUri":null,"capabilities":{}}}' % parent.pid
        ).encode()
        proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await proc.stdin.drain()
        header = await asyncio.wait_for(proc.stdout.readline(), 10)
        assert header.startswith(b"Content-Length")
        parent.kill()
        parent.wait()
        await asyncio.wait_for(proc.wait(), 10)
        assert proc.returncode == 0
        assert client is not None
    finally:
        parent.kill()


async def test_started_through_the_torchpit_cli(start, tmp_path):
    client = await start(init_options={"debounce": 0}, cmd=[sys.executable, "-m", "torchpit", "server", "--log-level", "INFO"])
    uri = open_doc(client, tmp_path / "cli.py", PIT301_SRC)
    assert codes(await wait_diags(client, uri, version=1)) == ["PIT301"]


def test_cli_arguments():
    out = subprocess.run([*SERVER_CMD, "--help"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "--tcp" in out.stdout and "--log-file" in out.stdout
    bad = subprocess.run([*SERVER_CMD, "--tcp", "nowhere"], capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "HOST:PORT" in bad.stderr


async def test_notebook_cells_pulled(start, tmp_path):
    client = await start(init_options={"debounce": 0}, notebooks=True, pull=True)
    nb_uri = uri_of(tmp_path / "pulled.ipynb")
    client.notebook_document_did_open(notebook_params(nb_uri))
    reports = {}
    for i in (0, 2, 3):
        params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=f"{nb_uri}#cell{i}"))
        reports[i] = await client.text_document_diagnostic_async(params)
    assert [codes(reports[i].items) for i in (0, 2, 3)] == [[], ["PIT101"], ["PIT301"]]
    assert reports[2].items[0].range.start == types.Position(1, 23)
    assert client.publishes == []
