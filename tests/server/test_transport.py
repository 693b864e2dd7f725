"""The JSON-RPC transport (server/transport.py) under broken frames and malformed messages.

End-to-end: a real ``python -m torchpit server`` over stdio, raw bytes in, raw frames out
(tests/server/rawstdio.py); every wait has a timeout. After each broken input the server
must still answer a normal request and end on shutdown + exit.
"""

from __future__ import annotations

import random

import pytest

from torchpit.server.transport import BadFrame, Fatal, Frame, FrameParser, check_message

from . import malformed
from .malformed import BODY, INVALID_REQUEST, PARSE_ERROR
from .rawstdio import RawServer, explain, frame, notification, request


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
def _check(server: RawServer, case: malformed.Case) -> None:
    server.send(case.data)
    for msg_id, expected in case.replies.items():
        reply = server.response(msg_id)
        assert malformed.outcome(reply) == expected, reply
    still_works(server)


def _params(cases: list[malformed.Case]):
    return [pytest.param(c, id=c.name) for c in cases]


@pytest.mark.parametrize("case", _params(malformed.FRAMES))
def test_a_bad_frame_does_not_make_the_server_deaf(server, case):
    _check(server, case)


@pytest.mark.parametrize("case", _params(malformed.SEQUENCES))
def test_the_frames_after_a_broken_one_are_answered(server, case):
    """A too-large Content-Length followed by a frame; a truncated header followed by frames."""
    _check(server, case)


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
@pytest.mark.parametrize("case", _params(malformed.UNREADABLE_JSON))
def test_unreadable_json_gets_a_parse_error(server, case):
    assert case.replies == {None: PARSE_ERROR}  # id null: the id could not be read
    _check(server, case)


@pytest.mark.parametrize("case", _params(malformed.INVALID_REQUESTS))
def test_an_invalid_request_gets_invalid_request(server, case):
    assert set(case.replies.values()) == {INVALID_REQUEST}
    _check(server, case)


def test_requests_after_shutdown_get_invalid_request(server):
    for msg, expected in malformed.AFTER_SHUTDOWN:
        reply = server.call(msg)
        assert malformed.outcome(reply) == expected, reply
        if expected == malformed.RESULT:
            assert reply == {"jsonrpc": "2.0", "id": msg["id"], "result": None}
    server.send_json(malformed.EXIT)
    assert server.wait_exit() == 0


def test_exit_without_shutdown_exits_with_1(server):
    assert "result" in server.call(explain(1))
    server.send_json(notification("exit"))
    assert server.wait_exit() == 1


# ====================================================================== fuzz
def test_malformed_traffic_fuzz():
    """Fixed seed: broken frames mixed with valid requests; every valid request is answered."""
    rng = random.Random(1414)
    s = RawServer()
    try:
        s.initialize()
        expected = []
        for i in range(60):
            s.send(b"".join(malformed.random_broken(rng) for _ in range(rng.randrange(1, 4))))
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
