"""The session's copy of each document: LSP line endings, changes it cannot apply, and URIs
spelled two ways (server/text.py, server/session.py, server/uris.py)."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types
from pygls.workspace.position_codec import PositionCodec

from torchpit.analyzers.engine.analysis import analyze
from torchpit.server.text import ChangeError, apply_change, apply_changes
from torchpit.server.uris import normalize_uri

from .conftest import BOTH_SRC, PIT101_SRC, apply_text_edits, change_cell, change_doc, codes, edits_of, open_doc, uri_of, wait_diags, wait_until

# Characters that str.splitlines() breaks lines at but LSP (and Python's tokenizer) do not.
ODD = "\x0c\x0b\x1c\x1d\x1e\x85\u2028\u2029"
ODD_SRC = PIT101_SRC.replace("\n\n\ndef", f'\nNOTE = "a{ODD}b"  # {ODD}\n\n\ndef', 1)


def partial(line: int, col: int, end_line: int, end_col: int, text: str) -> types.TextDocumentContentChangePartial:
    return types.TextDocumentContentChangePartial(range=types.Range(types.Position(line, col), types.Position(end_line, end_col)), text=text)


# ---------------------------------------------------------------------- the pure function
def test_changes_split_lines_only_where_lsp_does():
    codec = PositionCodec("utf-16")
    text = f"a = 1{ODD}\nb = 2\rc = 3\r\nd = 4\n"
    assert apply_change(text, partial(1, 0, 1, 1, "B"), codec) == f"a = 1{ODD}\nB = 2\rc = 3\r\nd = 4\n"
    assert apply_change(text, partial(2, 0, 2, 1, "C"), codec) == f"a = 1{ODD}\nb = 2\rC = 3\r\nd = 4\n"
    assert apply_change(text, partial(3, 4, 3, 5, "5"), codec) == f"a = 1{ODD}\nb = 2\rc = 3\r\nd = 5\n"
    assert apply_change(text, partial(4, 0, 4, 0, "e\n"), codec) == text + "e\n"  # the end of the text
    assert apply_change(text, partial(0, 99, 1, 0, ""), codec) == f"a = 1{ODD}b = 2\rc = 3\r\nd = 4\n"  # past the line's end: its end


@pytest.mark.parametrize("encoding, col", [("utf-16", 7), ("utf-8", 9), ("utf-32", 6)])
def test_changes_count_columns_in_the_negotiated_encoding(encoding, col):
    text = 'x = "😋\x0c"; y = 1\nz = 2\n'
    # the column after the emoji, in this encoding's code units
    assert apply_change(text, partial(0, col, 0, col, "!"), PositionCodec(encoding)) == 'x = "😋!\x0c"; y = 1\nz = 2\n'


def test_impossible_changes_raise_and_apply_nothing():
    codec = PositionCodec("utf-16")
    with pytest.raises(ChangeError, match="not in the document"):
        apply_change("a\nb\n", partial(5, 0, 5, 0, "x"), codec)
    with pytest.raises(ChangeError, match="ends before it starts"):
        apply_change("a\nb\n", partial(1, 1, 0, 0, "x"), codec)
    with pytest.raises(ChangeError):
        apply_changes("a\nb\n", [partial(0, 0, 0, 0, "ok"), partial(9, 0, 9, 0, "x")], codec)
    whole = types.TextDocumentContentChangeWholeDocument(text="new\n")
    assert apply_changes("a\n", [partial(0, 0, 0, 1, "b"), whole, partial(0, 0, 0, 0, "#")], codec) == "#new\n"


def test_uris_spelled_two_ways_are_one_key():
    cell = "vscode-notebook-cell:/home/u/nb.ipynb#W1sdnNjb2RlLXJlbW90ZQ%3D%3D"
    assert normalize_uri(cell) == normalize_uri(cell.replace("%3D%3D", "==")) == "vscode-notebook-cell:/home/u/nb.ipynb#W1sdnNjb2RlLXJlbW90ZQ=="
    assert normalize_uri("file:///a%20b/c.py") == normalize_uri("file:///a b/c.py")


# ---------------------------------------------------------------------- through the server
async def test_edits_below_form_feeds_and_line_separators_land_where_the_client_put_them(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    path = tmp_path / "odd.py"
    text = ODD_SRC
    uri = open_doc(client, path, text)
    (d,) = await wait_diags(client, uri, version=1)
    lines = text.split("\n")
    row = next(i for i, line in enumerate(lines) if "F.softmax" in line)
    assert d.code == "PIT101" and d.range.start.line == row  # the diagnostic's range: LSP lines

    # hover and the quick fix below the odd characters use the same lines
    hov = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=d.range.start))
    assert hov is not None and "PIT101" in hov.contents.value
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(text_document=types.TextDocumentIdentifier(uri=uri), range=d.range, context=types.CodeActionContext(diagnostics=[d]))
    )
    edits, version = edits_of(acts[0].edit, uri)
    assert version == 1
    assert apply_text_edits(text, edits) == text.replace("F.softmax(logits, dim=1)", "logits")

    # an edit below them, as an editor sends it: the pitfall goes; a new one, added lower, is found
    col = lines[row].index("F.softmax")
    change_doc_partial(client, uri, 2, [partial(row, col, row, col + len("F.softmax(logits, dim=1)"), "logits")])
    assert await wait_diags(client, uri, version=2) == []
    text = text.replace("F.softmax(logits, dim=1)", "logits")
    last = len(text.split("\n")) - 1
    added = "\ndef again(logits, y):\n    return F.cross_entropy(F.softmax(logits, dim=1), y)\n"
    change_doc_partial(client, uri, 3, [partial(last, 0, last, 0, added)])
    text += added
    got = await wait_diags(client, uri, version=3)
    want = analyze(text, str(path)).diagnostics
    assert [(str(g.code), g.range.start.line, g.range.start.character) for g in got] == [
        (w.code, w.range.start.line, w.range.start.col) for w in want
    ]
    assert codes(got) == ["PIT101"] and got[0].range.start.line == text.split("\n").index("    return F.cross_entropy(F.softmax(logits, dim=1), y)")


def change_doc_partial(client, uri: str, version: int, changes) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version), content_changes=changes)
    )


def raw_did_change(client, uri: str, version: int, start: tuple[int, int], end: tuple[int, int], text: str) -> None:
    """A didChange as raw JSON (lsprotocol's types refuse negative positions)."""
    rng = {"start": {"line": start[0], "character": start[1]}, "end": {"line": end[0], "character": end[1]}}
    params = {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"range": rng, "text": text}]}
    client.protocol._send_data({"jsonrpc": "2.0", "method": types.TEXT_DOCUMENT_DID_CHANGE, "params": params})


BROKEN = "\nimport torch.nn.functional as F\nloss = F.cross_entropy(F.softmax(z, dim=1), t)\n"


@pytest.mark.parametrize("bad", ["past-the-end", "negative", "reversed"])
async def test_a_change_that_cannot_be_applied_withdraws_the_findings_until_the_whole_text_comes(start, tmp_path, bad):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "sync.py", PIT101_SRC)
    assert codes(await wait_diags(client, uri, version=1)) == ["PIT101"]
    n = len(client.publishes)
    start_end = {"past-the-end": ((40, 0), (40, 0)), "negative": ((-1, 0), (0, 0)), "reversed": ((3, 0), (1, 0))}[bad]
    raw_did_change(client, uri, 2, *start_end, BROKEN)
    logged = await wait_until(lambda: [m for m in client.log_messages if uri in m.message and "no longer matches" in m.message], what="log")
    assert logged[0].type == types.MessageType.Warning
    await wait_until(lambda: any(p.uri == uri for p in client.publishes[n:]), what="withdrawn")
    assert all(not p.diagnostics for p in client.publishes[n:] if p.uri == uri)

    # further range edits are not applied to a text the client does not have: nothing is published
    change_doc_partial(client, uri, 3, [partial(0, 0, 0, 0, "# a comment\n")])
    await asyncio.sleep(0.4)
    assert all(not p.diagnostics for p in client.publishes[n:] if p.uri == uri)
    # requests about it answer nothing rather than edits for the wrong text
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(0, 0)),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    assert not acts

    # the whole text: in sync again, findings for that version
    change_doc(client, uri, 4, BOTH_SRC)
    assert codes(await wait_diags(client, uri, version=4)) == ["PIT101", "PIT301"]


async def test_a_reopened_document_is_back_in_sync(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    path = tmp_path / "reopen.py"
    uri = open_doc(client, path, PIT101_SRC)
    await wait_diags(client, uri, version=1)
    raw_did_change(client, uri, 2, (-3, 0), (-3, 0), "x")
    await wait_until(lambda: [m for m in client.log_messages if uri in m.message], what="log")
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    open_doc(client, path, PIT101_SRC, version=5)
    assert codes(await wait_diags(client, uri, version=5)) == ["PIT101"]


async def test_pull_client_gets_an_empty_report_while_out_of_sync(start, tmp_path):
    client = await start(pull=True, init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "pullsync.py", PIT101_SRC)
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    assert codes((await client.text_document_diagnostic_async(params)).items) == ["PIT101"]
    raw_did_change(client, uri, 2, (99, 0), (99, 1), BROKEN)
    await wait_until(lambda: client.diagnostic_refresh_count > 0, what="workspace/diagnostic/refresh")
    assert not (await client.text_document_diagnostic_async(params)).items
    change_doc(client, uri, 3, PIT101_SRC)
    assert codes((await client.text_document_diagnostic_async(params)).items) == ["PIT101"]


# ---------------------------------------------------------------------- URIs
async def test_notebook_cells_with_percent_encoded_uris(start, tmp_path):
    """VS Code's cell URIs end in base64 whose padding it percent-encodes (``%3D%3D``); pygls
    unquotes them. Diagnostics come back under the URI as the client sent it."""
    client = await start(init_options={"debounce": 0}, notebooks=True)
    path = tmp_path / "vs code.ipynb"
    nb_uri = uri_of(path)
    cells = ["import torch.nn.functional as F", "loss = F.cross_entropy(F.softmax(logits, dim=1), y)"]
    cell_uris = [f"vscode-notebook-cell:{path}#W1sdnNjb2RlLXJlbW90ZQ{i}%3D%3D" for i in range(len(cells))]
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=nb_uri, notebook_type="jupyter-notebook", version=1,
                cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=u) for u in cell_uris],
            ),
            cell_text_documents=[types.TextDocumentItem(uri=u, language_id="python", version=1, text=t) for u, t in zip(cell_uris, cells)],
        )
    )
    (d,) = await wait_diags(client, cell_uris[1])
    assert d.code == "PIT101" and d.range.start == types.Position(0, 23)
    acts = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=cell_uris[1]), range=d.range, context=types.CodeActionContext(diagnostics=[d])
        )
    )
    change = acts[0].edit.document_changes[0]
    assert change.text_document.uri == cell_uris[1] and change.edits[0].new_text == "logits"
    # an edit of that cell, named the other way, is the same cell
    change_cell(client, nb_uri, 2, cell_uris[1].replace("%3D%3D", "=="), 2, [partial(0, 23, 0, 47, "logits")])
    assert await wait_diags(client, cell_uris[1], version=2) == []


def test_notebook_cells_end_their_lines_where_lsp_does():
    from torchpit.analyzers.core.diagnostics import Position
    from torchpit.server.analysis import Cell, Job, run_job
    from torchpit.server.settings import Settings

    cells = (
        Cell("nb#0", 1, "import torch.nn.functional as F\r# a note\r\n%matplotlib inline\r"),
        Cell("nb#1", 1, "x = 1\x0c\nloss = F.cross_entropy(F.softmax(logits, dim=1), y)"),
    )
    out = run_job(Job("nb", 1, 1, None, Settings(jedi=False), None, "utf-16", cells=cells))
    assert out.docs["nb#0"].diagnostics == []
    (d,) = out.docs["nb#1"].diagnostics
    assert d.code == "PIT101" and d.range.start == Position(1, 23)


async def test_notebook_structure_changes_add_and_remove_cells(start, tmp_path):
    client = await start(init_options={"debounce": 0}, notebooks=True)
    nb_uri = uri_of(tmp_path / "cells.ipynb")
    first = f"{nb_uri}#a"
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=nb_uri, notebook_type="jupyter-notebook", version=1, cells=[types.NotebookCell(kind=types.NotebookCellKind.Code, document=first)]
            ),
            cell_text_documents=[types.TextDocumentItem(uri=first, language_id="python", version=1, text="import torch.nn.functional as F")],
        )
    )
    assert await wait_diags(client, first) == []
    added = f"{nb_uri}#b"
    src = "loss = F.cross_entropy(F.softmax(logits, dim=1), y)"
    opened = [types.NotebookCell(kind=types.NotebookCellKind.Code, document=added)]
    restructure(client, nb_uri, 2, types.NotebookCellArrayChange(start=1, delete_count=0, cells=opened), did_open=[types.TextDocumentItem(uri=added, language_id="python", version=1, text=src)])
    assert codes(await wait_diags(client, added)) == ["PIT101"]
    n = len(client.publishes)
    restructure(client, nb_uri, 3, types.NotebookCellArrayChange(start=1, delete_count=1, cells=[]), did_close=[types.TextDocumentIdentifier(uri=added)])
    await wait_until(lambda: [p for p in client.publishes[n:] if p.uri == added and not p.diagnostics], what="the removed cell cleared")


def restructure(client, nb_uri: str, version: int, array: types.NotebookCellArrayChange, **opened_closed) -> None:
    structure = types.NotebookDocumentCellChangeStructure(array=array, **opened_closed)
    client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(uri=nb_uri, version=version),
            change=types.NotebookDocumentChangeEvent(cells=types.NotebookDocumentCellChanges(structure=structure)),
        )
    )
