"""Code actions, hover and commands over a real server."""

from __future__ import annotations

import asyncio
import concurrent.futures

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from .conftest import (
    BOTH_SRC,
    PIT101_SRC,
    PIT103_SRC,
    apply_text_edits,
    change_doc,
    codes,
    edits_of,
    open_doc,
    wait_diags,
)


async def send_raw(client, method, params):
    """A request the typed client would refuse to build (malformed params)."""
    future: concurrent.futures.Future = concurrent.futures.Future()
    msg_id = f"raw-{id(future)}"
    client.protocol._request_futures[msg_id] = future
    client.protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
    return await asyncio.wait_for(asyncio.wrap_future(future), 10)


async def actions_for(client, uri, diags, only=None, rng=None):
    rng = rng or (diags[0].range if diags else types.Range(types.Position(0, 0), types.Position(0, 0)))
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=rng,
            context=types.CodeActionContext(diagnostics=diags, only=only),
        )
    ) or []


async def apply(client, uri, text, version, action):
    edits, edit_version = edits_of(action.edit, uri)
    assert edit_version in (None, version - 1)
    new = apply_text_edits(text, edits)
    change_doc(client, uri, version, new)
    return new, await wait_diags(client, uri, version=version)


@pytest.mark.parametrize("client_name", ["visual-studio-code", "neovim@v0.7.0"])
async def test_quick_fix_removes_the_diagnostic(start, tmp_path, client_name):
    client = await start(client_name, init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "q.py", PIT101_SRC)
    diags = await wait_diags(client, uri, version=1)
    if client_name.startswith("neovim"):
        diags = [types.Diagnostic(range=d.range, message=d.message, code=d.code, source=d.source) for d in diags]  # no data
    acts = await actions_for(client, uri, diags, only=[types.CodeActionKind.QuickFix])
    titles = [a.title for a in acts]
    assert titles == ["Fix PIT101: Pass the logits (drop the softmax)", "Disable PIT101 for this line"]
    fix = acts[0]
    assert fix.is_preferred and fix.kind == types.CodeActionKind.QuickFix
    if client_name.startswith("neovim"):
        assert fix.edit.changes and not fix.edit.document_changes  # no documentChanges support
    else:
        assert fix.edit.document_changes[0].text_document.version == 1
    new, after = await apply(client, uri, PIT101_SRC, 2, fix)
    assert "F.cross_entropy(logits, y)" in new and after == []


async def test_noqa_action_adds_and_appends(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "n.py", BOTH_SRC)
    diags = await wait_diags(client, uri, version=1)
    d101 = next(d for d in diags if d.code == "PIT101")
    (noqa,) = [a for a in await actions_for(client, uri, [d101]) if a.title.startswith("Disable")]
    assert noqa.title == "Disable PIT101 for this line" and not noqa.is_preferred
    text, after = await apply(client, uri, BOTH_SRC, 2, noqa)
    assert "F.cross_entropy(F.softmax(logits, dim=1), y)  # noqa: PIT101\n" in text
    assert codes(after) == ["PIT301"]

    # a line that already has a noqa for another code gets this one appended, not a second comment
    text = text.replace("x = F.dropout(x, p=0.5)", "x = F.dropout(x, p=0.5)  # noqa: PIT101")
    change_doc(client, uri, 3, text)
    (d301,) = await wait_diags(client, uri, version=3)
    (noqa,) = [a for a in await actions_for(client, uri, [d301]) if a.title.startswith("Disable")]
    text, after = await apply(client, uri, text, 4, noqa)
    assert "x = F.dropout(x, p=0.5)  # noqa: PIT101, PIT301\n" in text
    assert after == []


async def test_fix_all_applies_safe_fixes(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "f.py", BOTH_SRC)
    diags = await wait_diags(client, uri, version=1)
    acts = await actions_for(client, uri, [], only=[types.CodeActionKind.SourceFixAll])
    assert [a.kind for a in acts] == ["source.fixAll.torchpit"]
    text, after = await apply(client, uri, BOTH_SRC, 2, acts[0])
    assert after == [] and "training=self.training" in text and "F.softmax" not in text
    assert len(diags) == 2


async def test_unsafe_fix_says_so_and_is_not_in_fix_all(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "u.py", PIT103_SRC)
    (d,) = await wait_diags(client, uri, version=1)
    acts = await actions_for(client, uri, [d])
    assert acts[0].title == "Fix PIT103: Detach the constant side (unsafe)" and not acts[0].is_preferred
    assert not [a for a in acts if a.kind == "source.fixAll.torchpit"]


async def test_no_noqa_for_syntax_errors_and_stale_data_is_not_used(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "s.py", "x = (\n" + PIT101_SRC)
    diags = await wait_diags(client, uri, version=1)
    syntax = next(d for d in diags if d.code == "PIT001")
    assert [a.title for a in await actions_for(client, uri, [syntax])] == []
    # The client sends back a diagnostic computed for version 1 after the text changed:
    # its fix is not used (it would corrupt the new text).
    stale = next(d for d in diags if d.code == "PIT101")
    change_doc(client, uri, 2, "\n\n" + "x = (\n" + PIT101_SRC)
    await wait_diags(client, uri, version=2)
    assert await actions_for(client, uri, [stale], only=[types.CodeActionKind.QuickFix]) == []


async def test_apply_fix_command(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    uri = open_doc(client, tmp_path / "c.py", PIT101_SRC)
    (d,) = await wait_diags(client, uri, version=1)
    result = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="torchpit.applyFix", arguments=[{"uri": uri, "code": "PIT101", "line": d.range.start.line}])
    )
    assert result == {"applied": True}
    (params,) = client.applied_edits
    edits, version = edits_of(params.edit, uri)
    assert version == 1 and edits[0].new_text == "logits"


async def test_hover_on_diagnostic_and_noqa(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    src = BOTH_SRC.replace("return self.fc(x)", "return self.fc(x)  # noqa: PIT301")
    uri = open_doc(client, tmp_path / "h.py", src)
    diags = await wait_diags(client, uri, version=1)
    d = next(d for d in diags if d.code == "PIT101")
    hov = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=d.range.start))
    assert hov.contents.kind == types.MarkupKind.Markdown
    assert hov.contents.value.startswith("# softmax-before-cross-entropy (PIT101)")
    assert hov.range == d.range
    line = next(i for i, l in enumerate(src.splitlines()) if "# noqa: PIT301" in l)
    col = src.splitlines()[line].index("PIT301") + 2
    hov = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line, col)))
    assert hov.contents.value.startswith("# functional-dropout-without-training (PIT301)")
    nothing = await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 0)))
    assert nothing is None


async def test_explain_and_debug_info(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    text = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="torchpit.explain", arguments=["PIT301"]))
    assert text.startswith("# functional-dropout-without-training (PIT301)")
    with pytest.raises(JsonRpcException, match="unknown rule"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="torchpit.explain", arguments=["PIT999"]))
    uri = open_doc(client, tmp_path / "d.py", PIT101_SRC)
    await wait_diags(client, uri, version=1)
    info = await client.workspace_execute_command_async(types.ExecuteCommandParams(command="torchpit.showDebugInfo"))
    assert info["versions"]["torchpit"] and info["versions"]["jedi"]
    assert info["server"]["positionEncoding"] == "utf-16" and info["server"]["diagnostics"] == "push"
    assert info["settings"]["(global)"]["debounce"] == 0
    assert info["documents"][uri]["timingsMs"]["total"] > 0


async def test_bad_requests_get_errors_and_the_server_lives_on(start, tmp_path):
    client = await start(init_options={"debounce": 0})
    missing = (tmp_path / "nope.py").as_uri()
    with pytest.raises(JsonRpcException, match="not open"):
        await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=missing), position=types.Position(0, 0)))
    uri = open_doc(client, tmp_path / "ok.py", PIT101_SRC)
    await wait_diags(client, uri, version=1)
    with pytest.raises(JsonRpcException, match="past the end"):
        await client.text_document_hover_async(types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(500, 0)))
    with pytest.raises(JsonRpcException, match="invalid params for textDocument/hover"):
        await send_raw(client, "textDocument/hover", {"textDocument": 5, "position": "here"})
    with pytest.raises(JsonRpcException, match="applyFix expects"):
        await client.workspace_execute_command_async(types.ExecuteCommandParams(command="torchpit.applyFix", arguments=[42]))
    change_doc(client, uri, 2, PIT101_SRC + "\n")
    assert codes(await wait_diags(client, uri, version=2)) == ["PIT101"]
