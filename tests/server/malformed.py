"""Malformed protocol traffic: the cases the server's transport must survive (issue 14), in one
place for the transport's tests (``tests/server/test_transport.py``) and the fuzzer's long run
(``benchmarks/fuzz.py --malformed``).

A :class:`Case` is bytes to send and the replies that must come back for them: request id
(``None`` for a reply to a message whose id could not be read) -> ``RESULT`` or a JSON-RPC
error code. Other replies may come too. After any case the server must answer the next valid
request; the tests and the fuzzer check that with a request of their own.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from typing import Any

from .rawstdio import explain, frame, notification, request

PARSE_ERROR, INVALID_REQUEST = -32700, -32600
RESULT = "result"
BODY = json.dumps(explain(1)).encode()


@dataclass(frozen=True)
class Case:
    name: str
    data: bytes
    replies: dict[Any, Any] = field(default_factory=dict)  # id -> RESULT or an error code


def outcome(reply: dict[str, Any]) -> Any:
    """What a reply is, in a case's terms: RESULT or its error code."""
    return reply["error"]["code"] if "error" in reply else RESULT


# Broken frames: the request itself is read, or the broken frame is lost (or answered with a
# parse error) and the stream recovers at the next header.
FRAMES = [
    Case("lowercase-header", frame(explain(1), name="content-length"), {1: RESULT}),
    Case("uppercase-header", frame(explain(1), name="CONTENT-LENGTH"), {1: RESULT}),
    Case("lf-only-headers", frame(explain(1), eol="\n"), {1: RESULT}),
    Case("lf-only-two-headers", b"Content-Type: application/vscode-jsonrpc; charset=utf-8\n" + frame(explain(1), eol="\n"), {1: RESULT}),
    Case("content-length-too-large", frame(explain(1), length=len(BODY) + 500), {1: RESULT}),
    Case("content-length-too-small", frame(explain(1), length=12), {None: PARSE_ERROR}),
    Case("missing-content-length", b"Content-Type: application/vscode-jsonrpc\r\n\r\n" + BODY),
    Case("content-length-not-a-number", b"Content-Length: twelve\r\n\r\n" + BODY),
    Case("content-length-negative", b"Content-Length: -5\r\n\r\n" + BODY),
    Case("content-length-absurd", b"Content-Length: 99999999999999\r\n\r\n" + BODY),
    Case("garbage", b"\x00\xff garbage without a line end"),
    Case("garbage-lines", b"garbage\r\nmore: garbage\n\n\n" + BODY),
]

# Frames that hold more than one message, broken ones among them.
SEQUENCES = [
    Case("content-length-too-large-then-a-frame", frame(explain(1), length=len(BODY) + 5000) + frame(explain(2)), {1: RESULT, 2: RESULT}),
    Case("truncated-header-then-frames", b"Content-Len" + frame(explain(1)) + b"Content-Length: 7" + frame(explain(2)), {1: RESULT, 2: RESULT}),
]

# Well-framed bodies that are not JSON (or not UTF-8): -32700, id null.
UNREADABLE_JSON = [
    Case("truncated-json", frame(b'{"jsonrpc": "2.0", "id": 1, "method": "workspace/execu'), {None: PARSE_ERROR}),
    Case("invalid-json", frame(b'{"jsonrpc": "2.0", "id": 1, method: "shutdown"}'), {None: PARSE_ERROR}),
    Case("not-utf8", frame(b'\xff\xfe{"jsonrpc": "2.0"}'), {None: PARSE_ERROR}),
    Case("empty-body", frame(b""), {None: PARSE_ERROR}),
]

# JSON that is not a JSON-RPC 2.0 message: -32600, with the request's id when it has a usable one.
INVALID_REQUESTS = [
    Case("no-method", frame({"jsonrpc": "2.0", "id": 7}), {7: INVALID_REQUEST}),
    Case("no-method-no-id", frame({"jsonrpc": "2.0", "params": {}}), {None: INVALID_REQUEST}),
    Case("batch", frame([explain(7), explain(8)]), {None: INVALID_REQUEST}),
    Case("empty-batch", frame([]), {None: INVALID_REQUEST}),
    Case("jsonrpc-1.0", frame({"jsonrpc": "1.0", "id": 7, "method": "workspace/executeCommand"}), {7: INVALID_REQUEST}),
    Case("no-jsonrpc", frame({"id": 7, "method": "shutdown"}), {7: INVALID_REQUEST}),
    Case("method-not-a-string", frame({"jsonrpc": "2.0", "id": 7, "method": 42}), {7: INVALID_REQUEST}),
    Case("bad-id", frame({"jsonrpc": "2.0", "id": {"x": 1}, "method": "shutdown"}), {None: INVALID_REQUEST}),
    Case("not-an-object", frame(42), {None: INVALID_REQUEST}),
]

# Every case after which the server goes on (the fuzzer sends each at least once).
CASES = [*FRAMES, *SEQUENCES, *UNREADABLE_JSON, *INVALID_REQUESTS]

# The end of a session: shutdown is answered, then every request (a second shutdown too) gets
# -32600, and exit exits with 0. Each step: (message, what its reply must be).
AFTER_SHUTDOWN = [
    (request(1, "shutdown"), RESULT),
    (explain(2), INVALID_REQUEST),
    (request(3, "shutdown"), INVALID_REQUEST),
]
EXIT = notification("exit")


def random_broken(rng: random.Random) -> bytes:
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
