"""The JSON-RPC transport (server/transport.py) under broken frames and malformed messages.

End-to-end: a real ``python -m torchpit server`` over stdio, raw bytes in, raw frames out
(tests/server/rawstdio.py); every wait has a timeout. After each broken input the server
must still answer a normal request and end on shutdown + exit.
"""

from __future__ import annotations

import json
import random

import pytest

from torchpit.server.transport import BadFrame, Fatal, Frame, FrameParser, check_message

from .rawstdio import RawServer, explain, frame, notification, request

BODY = json.dumps(explain(1)).encode()
PARSE_ERROR, INVALID_REQUEST = -32700, -32600


@pytest.fixture
def server():
    s = RawServer()
    s.initialize()
    yield s
    s.kill()


def still_works(s: RawServer, msg_id: str = "after") -> None:
    reply = s.call(explain(msg_id))
    assert "PIT101" in reply["result"], reply
    assert s.shutdown_and_exit() == 0


# ====================================================================== frames
@pytest.mark.parametrize(
    "data, replies",
    [
        # the request itself is read
        pytest.param(frame(explain(1), name="content-length"), {1: "result"}, id="lowercase-header"),
        pytest.param(frame(explain(1), name="CONTENT-LENGTH"), {1: "result"}, id="uppercase-header"),
        pytest.param(frame(explain(1), eol="\n"), {1: "result"}, id="lf-only-headers"),
        pytest.param(b"Content-Type: application/vscode-jsonrpc; charset=utf-8\n" + frame(explain(1), eol="\n"), {1: "result"}, id="lf-only-two-headers"),
        pytest.param(frame(explain(1), length=len(BODY) + 500), {1: "result"}, id="content-length-too-large"),
        # the broken frame is lost (or answered with a parse error), the stream recovers
        pytest.param(frame(explain(1), length=12), {None: PARSE_ERROR}, id="content-length-too-small"),
        pytest.param(b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + BODY, {}, id="missing-content-length"),
        pytest.param(b"Content-Length: twelve\r\n\r\n" + BODY, {}, id="content-length-not-a-number"),
        pytest.param(b"Content-Length: -5\r\n\r\n" + BODY, {}, id="content-length-negative"),
        pytest.param(b"Content-Length: 99999999999999\r\n\r\n" + BODY, {}, id="content-length-absurd"),
        pytest.param(b"\x00\xff garbage without a line end", {}, id="garbage"),
        pytest.param(b"garbage\r\nmore: garbage\n\n\n" + BODY, {}, id="garbage-lines"),
    ],
)
def test_a_bad_frame_does_not_make_the_server_deaf(server, data, replies):
    server.send(data)
    for msg_id, expected in replies.items():
        reply = server.response(msg_id)
        assert (reply["error"]["code"] if "error" in reply else "result") == expected, reply
    still_works(server)


def test_the_request_after_a_too_large_content_length_is_answered(server):
    server.send(frame(explain(1), length=len(BODY) + 5000) + frame(explain(2)))
    assert "result" in server.response(1)
    assert "result" in server.response(2)
    still_works(server)


def test_a_truncated_header_followed_by_a_frame(server):
    server.send(b"Content-Len" + frame(explain(1)) + b"Content-Length: 7" + frame(explain(2)))
    assert "result" in server.response(1)
    assert "result" in server.response(2)
    still_works(server)


def test_unrecoverable_input_exits_with_a_logged_reason():
    s = RawServer()
    try:
        s.initialize()
        s.send(b"Content-Type: x\r\n\r\n" + BODY + b" and no header follows")
        s.close_stdin()
        assert s.wait_exit() == 1  # no shutdown: the client sees a crash and restarts it
        assert b"the input ended before another Content-Length header was found" in s.stderr
    finally:
        s.kill()


# ====================================================================== messages
@pytest.mark.parametrize(
    "body, reply_id",
    [
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, "method": "workspace/execu', None, id="truncated-json"),
        pytest.param(b'{"jsonrpc": "2.0", "id": 1, method: "shutdown"}', None, id="invalid-json"),
        pytest.param(b'\xff\xfe{"jsonrpc": "2.0"}', None, id="not-utf8"),
        pytest.param(b"", None, id="empty-body"),
    ],
)
def test_unreadable_json_gets_a_parse_error(server, body, reply_id):
    server.send(frame(body))
    reply = server.response(reply_id)
    assert reply["error"]["code"] == PARSE_ERROR
    assert "id" in reply and reply["id"] is None
    still_works(server)


@pytest.mark.parametrize(
    "msg, reply_id",
    [
        pytest.param({"jsonrpc": "2.0", "id": 7}, 7, id="no-method"),
        pytest.param({"jsonrpc": "2.0", "params": {}}, None, id="no-method-no-id"),
        pytest.param([explain(7), explain(8)], None, id="batch"),
        pytest.param([], None, id="empty-batch"),
        pytest.param({"jsonrpc": "1.0", "id": 7, "method": "workspace/executeCommand"}, 7, id="jsonrpc-1.0"),
        pytest.param({"id": 7, "method": "shutdown"}, 7, id="no-jsonrpc"),
        pytest.param({"jsonrpc": "2.0", "id": 7, "method": 42}, 7, id="method-not-a-string"),
        pytest.param({"jsonrpc": "2.0", "id": {"x": 1}, "method": "shutdown"}, None, id="bad-id"),
        pytest.param(42, None, id="not-an-object"),
    ],
)
def test_an_invalid_request_gets_invalid_request(server, msg, reply_id):
    server.send_json(msg)
    reply = server.response(reply_id)
    assert reply["error"]["code"] == INVALID_REQUEST, reply
    still_works(server)


def test_requests_after_shutdown_get_invalid_request(server):
    assert server.call(request(1, "shutdown")) == {"jsonrpc": "2.0", "id": 1, "result": None}
    assert server.call(explain(2))["error"]["code"] == INVALID_REQUEST
    assert server.call(request(3, "shutdown"))["error"]["code"] == INVALID_REQUEST
    server.send_json(notification("exit"))
    assert server.wait_exit() == 0


def test_exit_without_shutdown_exits_with_1(server):
    assert "result" in server.call(explain(1))
    server.send_json(notification("exit"))
    assert server.wait_exit() == 1


# ====================================================================== fuzz
def _broken(rng: random.Random) -> bytes:
    """One random broken frame (or message), whose reply, if any, is not checked."""
    body = json.dumps(explain(rng.choice(["x", 99, None]))).encode()
    kind = rng.randrange(10)
    if kind == 0:
        return frame(body, length=rng.randrange(0, len(body)))
    if kind == 1:
        return frame(body, length=len(body) + rng.randrange(1, 5000))
    if kind == 2:
        return b"Content-Type: x\r\n\r\n" + body
    if kind == 3:
        return frame(body[: rng.randrange(len(body))])
    if kind == 4:
        return frame(rng.choice([b"[]", b"[1, 2]", b'{"jsonrpc": "1.0", "id": 5}', b'{"jsonrpc": "2.0"}', b"null", b"{}"]))
    if kind == 5:
        return bytes(rng.choice(b"abcxyz:{}\"0123456789 \r\n\t\xff") for _ in range(rng.randrange(1, 80)))
    if kind == 6:
        header = frame(body)
        return header[: rng.randrange(1, 20)]  # a header cut short
    if kind == 7:
        return frame(body, name=rng.choice(["content-length", "CONTENT-LENGTH", "Content-length"]), eol=rng.choice(["\n", "\r\n"]))
    if kind == 8:
        return b"Content-Length: " + rng.choice([b"-1", b"1e3", b"0x10", b"", b"12 34"]) + b"\r\n\r\n" + body
    return frame(json.dumps(notification("textDocument/didOpen", {"textDocument": rng.choice([None, 5, {}])})))


def test_malformed_traffic_fuzz():
    """Fixed seed: broken frames mixed with valid requests; every valid request is answered."""
    rng = random.Random(1414)
    s = RawServer()
    try:
        s.initialize()
        expected = []
        for i in range(60):
            s.send(b"".join(_broken(rng) for _ in range(rng.randrange(1, 4))))
            if rng.random() < 0.5:
                msg_id = f"valid-{i}"
                s.send(frame(explain(msg_id)))
                expected.append(msg_id)
        for msg_id in expected:
            assert "PIT101" in s.response(msg_id, timeout=30)["result"]
        assert len(expected) > 20
        still_works(s)
    finally:
        s.kill()


# ====================================================================== units
def _feed_all(parser: FrameParser, data: bytes, chunk: int) -> list:
    events = []
    for i in range(0, len(data), chunk):
        events += parser.feed(data[i : i + chunk])
    return events


@pytest.mark.parametrize("chunk", [1, 3, 64, 10_000])
def test_frames_split_anywhere_are_read_whole(chunk):
    data = frame(b'{"a": 1}') + frame(b'{"b": 2}', name="content-length", eol="\n") + frame(b'{"c": 3}', length=3) + frame(b'{"d": 4}')
    events = _feed_all(FrameParser(), data, chunk)
    assert [e.body for e in events if isinstance(e, Frame)][:2] == [b'{"a": 1}', b'{"b": 2}']
    assert events[-1] == Frame(b'{"d": 4}')
    assert any(isinstance(e, BadFrame) for e in events)


def test_too_much_garbage_is_fatal():
    parser = FrameParser(max_skip=1000)
    events = parser.feed(b"not a header\n") + parser.feed(b"x" * 5000)
    assert isinstance(events[-1], Fatal) and "no Content-Length header" in events[-1].reason
    assert parser.feed(frame(b"{}")) == []  # it stays stopped


def test_an_over_long_content_length_is_taken_as_it_is_when_the_input_is_quiet():
    parser = FrameParser()
    assert parser.feed(frame(b'{"a": 1}', length=100)) == []
    assert parser.idle() == [Frame(b'{"a": 1}')]
    assert parser.feed(frame(b'{"b": 2}')) == [Frame(b'{"b": 2}')]


def test_a_partial_body_is_not_taken_early():
    parser = FrameParser()
    assert parser.feed(frame(b'{"a": 1}')[:-2]) == []
    assert parser.idle() == []
    assert parser.feed(b'1}') == [Frame(b'{"a": 1}')]


def test_check_message_accepts_requests_notifications_and_responses():
    assert check_message(request(1, "x")) is None
    assert check_message(notification("x")) is None
    assert check_message({"jsonrpc": "2.0", "id": 1, "result": None}) is None
    assert check_message({"jsonrpc": "2.0", "id": 1, "error": {"code": 1, "message": "m"}}) is None
    assert check_message({"jsonrpc": "2.0", "id": True, "method": "x"}).id is None
