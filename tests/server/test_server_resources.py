"""Resource bounds: documents above ``torchpit.maxFileSize`` get bounded work and a message;
memory is handed back to the system after closes."""

from __future__ import annotations

import json

from lsprotocol import types

from torchpit.server.settings import DEFAULT_MAX_FILE_SIZE, Settings, parse_settings

from .conftest import PIT101_SRC, change_doc, codes, open_doc, wait_diags


def test_max_file_size_setting_is_typed_and_validated():
    assert Settings().max_file_size == DEFAULT_MAX_FILE_SIZE > 0
    assert parse_settings({"maxFileSize": 5000})[0].max_file_size == 5000
    assert parse_settings({"maxFileSize": 0})[0].max_file_size == 0  # no limit
    for bad in (-1, "1MB", 1.5, True):
        settings, problems = parse_settings({"maxFileSize": bad})
        assert settings.max_file_size == DEFAULT_MAX_FILE_SIZE
        assert problems and "torchpit.maxFileSize" in problems[0]


async def test_a_file_above_max_file_size_is_not_analysed_and_says_so(start, tmp_path):
    limit = 2000
    client = await start(init_options={"debounce": 0, "maxFileSize": limit})
    big = PIT101_SRC + "# padding\n" * 300
    assert len(big) > limit
    uri = open_doc(client, tmp_path / "big.py", big)
    diags = await wait_diags(client, uri, 1)
    assert codes(diags) == ["PIT003"]
    assert diags[0].severity == types.DiagnosticSeverity.Information
    assert "maxFileSize" in diags[0].message and "did not analyse" in diags[0].message
    for version in (2, 3):
        change_doc(client, uri, version, big + "#" * version)
        await wait_diags(client, uri, version)
    shown = [m for m in client.messages if "maxFileSize" in m.message]
    assert len(shown) == 1 and shown[0].type == types.MessageType.Info  # once, not per keystroke
    # Below the limit again: analysed as usual.
    change_doc(client, uri, 4, PIT101_SRC)
    assert codes(await wait_diags(client, uri, 4)) == ["PIT101"]
    # A file under the limit is analysed.
    small = open_doc(client, tmp_path / "small.py", PIT101_SRC)
    assert codes(await wait_diags(client, small, 1)) == ["PIT101"]


async def test_max_file_size_zero_means_no_limit(start, tmp_path):
    client = await start(init_options={"debounce": 0, "maxFileSize": 0})
    uri = open_doc(client, tmp_path / "big.py", PIT101_SRC + "# padding\n" * 300)
    assert codes(await wait_diags(client, uri, 1)) == ["PIT101"]


class _Sink:
    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass


async def test_finished_notification_handlers_are_not_kept():
    """pygls kept the future of every notification (and of each step of its generator
    handlers) with the message's params, a didOpen's whole text included: memory grew with
    every open/edit/close cycle. Nothing is kept once the handlers are done."""
    import asyncio

    from torchpit.server.server import create_server
    from torchpit.server.transport import dispatch

    server = create_server()
    protocol = server.protocol
    protocol.set_writer(_Sink())

    def send(msg: dict) -> None:
        dispatch(protocol, json.dumps({"jsonrpc": "2.0", **msg}).encode())

    send({"id": 1, "method": "initialize", "params": {"processId": None, "rootUri": None, "capabilities": {}}})
    send({"method": "initialized", "params": {}})
    uri = "file:///tmp/notes.txt"  # not Python: no analysis is scheduled, only the protocol runs
    for cycle in range(20):
        send({"method": "textDocument/didOpen", "params": {"textDocument": {"uri": uri, "languageId": "plaintext", "version": 1, "text": "x" * 10_000}}})
        for v in range(2, 6):
            send({"method": "textDocument/didChange", "params": {"textDocument": {"uri": uri, "version": v}, "contentChanges": [{"text": "y" * v}]}})
        send({"method": "textDocument/didClose", "params": {"textDocument": {"uri": uri}}})
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    assert len(protocol._request_futures) == 0, f"{len(protocol._request_futures)} finished handlers kept"
    server.scheduler.shutdown()
    server.probe_pool.shutdown(wait=False)


def test_closes_in_a_row_trim_once_when_quiet():
    import threading

    from torchpit.server.analysis import Parsers
    from torchpit.server.memory import TRIMMER, Trimmer

    done = threading.Event()
    calls = []
    trimmer = Trimmer(delay=0.05, trim=lambda: calls.append(1) or done.set() or True)
    for _ in range(5):
        trimmer.request()
    assert done.wait(10)
    assert calls == [1] and trimmer.count == 1
    # Closing a document the analysis kept state for asks for a trim; one it never saw does not.
    parsers = Parsers()
    before = TRIMMER._timer
    parsers.forget("file:///never-analysed.py")
    assert TRIMMER._timer is before
    with parsers.use("file:///a.py", None):
        pass
    parsers.forget("file:///a.py")
    assert TRIMMER._timer is not None
