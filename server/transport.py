"""The JSON-RPC transport: frames in, messages to pygls' protocol, error replies out.

pygls' own reader stops understanding the stream after one bad frame (a wrong or missing
``Content-Length``, a lowercase header name, LF-only line ends) and never answers again,
not even ``shutdown``. This module replaces it:

- :class:`FrameParser` (no I/O) splits a byte stream into frames. Header names are read
  case-insensitively and lines may end in ``\\r\\n`` or ``\\n``. A frame that cannot be read
  is reported and the parser *resynchronises* on the next ``Content-Length`` header; when
  none can be found (the input ends, or too much garbage) it gives up with a reason.
- :func:`check_message` validates a decoded message against JSON-RPC 2.0; :func:`dispatch`
  answers what is malformed (-32700 Parse error, -32600 Invalid Request, id null when the id
  is unknown) and hands the rest to the protocol.
- :class:`TorchpitProtocol` answers requests whose params do not match the LSP schema
  (-32602) and requests after ``shutdown`` (-32600); ``exit`` always exits.
- :func:`serve_io` / :func:`serve_tcp` run the loop over stdio or a socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable

from lsprotocol.types import EXIT
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError
from pygls.io_ import StdoutWriter
from pygls.protocol import LanguageServerProtocol

log = logging.getLogger("torchpit.server.transport")

MAX_HEADER_LINE = 8 * 1024  # a header line longer than this is garbage
MAX_BODY = 512 * 1024 * 1024  # a Content-Length above this is not believed
MAX_SKIP = 64 * 1024 * 1024  # garbage skipped while looking for a header before giving up
IDLE_S = 0.5  # quiet time after which an over-long Content-Length is suspected
READ_CHUNK = 64 * 1024

# A Content-Length header anywhere (a truncated body is often followed by the next header
# on the same line). JSON cannot contain it: a raw line break is not allowed in a string.
_HEADER_RE = re.compile(rb"content-length[ \t]*:[ \t]*\d+[ \t]*\r?\n", re.IGNORECASE)
_TOKEN_RE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


# ====================================================================== frames
@dataclass(frozen=True)
class Frame:
    body: bytes


@dataclass(frozen=True)
class BadFrame:
    """A frame that could not be read; the parser resynchronises after it."""

    reason: str


@dataclass(frozen=True)
class Fatal:
    """The stream cannot be recovered: the server should exit (the client restarts it)."""

    reason: str


Event = Frame | BadFrame | Fatal


class FrameParser:
    """Splits a byte stream into LSP frames (``Content-Length: N`` headers, a blank line,
    N bytes of body). Feed it bytes; it returns what it found. No I/O, no clock."""

    def __init__(self, max_body: int = MAX_BODY, max_skip: int = MAX_SKIP) -> None:
        self.max_body = max_body
        self.max_skip = max_skip
        self._buf = bytearray()
        self._length: int | None = None  # set while reading a body
        self._headers_seen = False  # a header line of the current frame was read
        self._header_length: int | None = None
        self._scanned = 0  # how much of the body was searched for a header already
        self._syncing = False  # looking for the next Content-Length header
        self._skipped = 0
        self._done = False

    def feed(self, data: bytes) -> list[Event]:
        if self._done:
            return []
        self._buf += data
        return self._drain()

    def eof(self) -> list[Event]:
        """The input ended."""
        if self._done:
            return []
        self._done = True
        if self._length is not None:
            return [Fatal(f"the input ended inside a message body ({len(self._buf)} of {self._length} bytes)")]
        if self._syncing:
            return [Fatal("the input ended before another Content-Length header was found")]
        return []

    def idle(self) -> list[Event]:
        """No bytes came for a while. A body still incomplete but already a whole JSON
        message means its Content-Length was too large: take the message as it is."""
        if self._done or self._length is None or not self._buf:
            return []
        try:
            value = json.loads(bytes(self._buf))
        except (ValueError, UnicodeDecodeError):
            return []
        if not isinstance(value, (dict, list)):
            return []
        body, declared = bytes(self._buf), self._length
        self._buf.clear()
        self._start_headers()
        log.warning("Content-Length said %d bytes but the message ended after %d: taking it as it is", declared, len(body))
        return [Frame(body)]

    # ------------------------------------------------------------------ internals
    def _start_headers(self) -> None:
        self._length = None
        self._headers_seen = False
        self._header_length = None
        self._scanned = 0

    def _bad(self, reason: str, resume_at: int) -> BadFrame:
        """Drop the frame being read; look for the next header from ``resume_at`` on."""
        del self._buf[:resume_at]
        self._start_headers()
        self._syncing = True
        self._skipped = 0
        return BadFrame(reason)

    def _drain(self) -> list[Event]:
        events: list[Event] = []
        while not self._done:
            if self._syncing:
                event = self._sync()
            elif self._length is not None:
                event = self._body()
            else:
                event = self._header_line()
            if event is None:
                break
            if isinstance(event, Fatal):
                self._done = True
                self._buf.clear()
            if not isinstance(event, bool):
                events.append(event)
        return events

    def _sync(self) -> Event | bool | None:
        match = _HEADER_RE.search(self._buf)
        if match is None:
            keep = min(len(self._buf), 64)  # a header may be split between two reads
            self._skipped += len(self._buf) - keep
            del self._buf[: len(self._buf) - keep]
            if self._skipped > self.max_skip:
                return Fatal(f"no Content-Length header in the last {self._skipped} bytes")
            return None
        skipped = self._skipped + match.start()
        if skipped:
            log.warning("skipped %d bytes to the next Content-Length header", skipped)
        del self._buf[: match.start()]
        self._syncing = False
        return True

    def _header_line(self) -> Event | bool | None:
        end = self._buf.find(b"\n")
        if end < 0:
            if len(self._buf) > MAX_HEADER_LINE:
                return self._bad(f"a header line longer than {MAX_HEADER_LINE} bytes", 0)
            return None
        line = bytes(self._buf[:end]).rstrip(b"\r")
        if not line.strip():
            del self._buf[: end + 1]
            if not self._headers_seen:
                return True  # blank lines between frames are harmless
            if self._header_length is None:
                return self._bad("a message without a Content-Length header", 0)
            self._length = self._header_length
            return True
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN_RE.fullmatch(name):
            return self._bad(f"not a header line: {_show(line)}", 0)
        self._headers_seen = True
        if name.lower() == b"content-length":
            text = value.strip()
            if not text.isdigit():
                # the next header may follow on this line (`Content-Length: 5Content-Length: 52`)
                return self._bad(f"a bad Content-Length: {_show(text)}", 0)
            length = int(text)
            if length > self.max_body:
                return self._bad(f"a Content-Length of {length} bytes (the limit is {self.max_body})", end + 1)
            if self._header_length is not None and self._header_length != length:
                return self._bad("two different Content-Length headers", end + 1)
            self._header_length = length
        elif _HEADER_RE.search(self._buf, 0, end + 1):  # `garbageContent-Length: 52`
            return self._bad(f"not a header line: {_show(line)}", 0)
        del self._buf[: end + 1]  # other headers (Content-Type) are accepted as they are
        return True

    def _body(self) -> Event | bool | None:
        length = self._length
        assert length is not None
        # The next frame's header inside this body means the Content-Length was too large.
        end = min(len(self._buf), length + 64)
        match = _HEADER_RE.search(self._buf, max(0, self._scanned - 64), end)
        self._scanned = end
        if match is not None and match.start() < length:
            body = bytes(self._buf[: match.start()])
            del self._buf[: match.start()]
            self._start_headers()
            log.warning("Content-Length said %d bytes but the next header began after %d", length, len(body))
            return Frame(body)
        if len(self._buf) < length:
            return None
        body = bytes(self._buf[:length])
        del self._buf[:length]
        self._start_headers()
        return Frame(body)


def _show(data: bytes, limit: int = 60) -> str:
    text = repr(bytes(data[:limit]))[2:-1]
    return text + ("..." if len(data) > limit else "")


# ====================================================================== messages
@dataclass(frozen=True)
class Invalid:
    """A message that gets an error reply: its id (None when unknown) and the error."""

    id: Any
    error: JsonRpcException


def _valid_id(value: Any) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def check_message(data: Any) -> Invalid | None:
    """``None`` for a JSON-RPC 2.0 request, notification or response; else the error reply."""
    if isinstance(data, list):
        return Invalid(None, JsonRpcInvalidRequest("Invalid Request: batch messages are not supported"))
    if not isinstance(data, dict):
        return Invalid(None, JsonRpcInvalidRequest(f"Invalid Request: a message must be an object, got {type(data).__name__}"))
    msg_id = data.get("id")
    reply_id = msg_id if _valid_id(msg_id) else None
    if data.get("jsonrpc") != "2.0":
        return Invalid(reply_id, JsonRpcInvalidRequest(f'Invalid Request: "jsonrpc" must be "2.0", got {data.get("jsonrpc")!r}'))
    if "id" in data and msg_id is not None and not _valid_id(msg_id):
        return Invalid(None, JsonRpcInvalidRequest(f"Invalid Request: bad id {msg_id!r}"))
    if "method" in data:
        if not isinstance(data["method"], str):
            return Invalid(reply_id, JsonRpcInvalidRequest(f"Invalid Request: bad method {data['method']!r}"))
        return None
    if "id" in data and ("result" in data or "error" in data):
        return None  # a response to one of our requests
    return Invalid(reply_id, JsonRpcInvalidRequest("Invalid Request: a message without a method"))


def error_reply(msg_id: Any, error: JsonRpcException) -> dict[str, Any]:
    """A JSON-RPC error response (``"id": null`` kept, which pygls' converter would drop)."""
    reply: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.data is not None:
        reply["data"] = error.data
    return {"jsonrpc": "2.0", "id": msg_id, "error": reply}


def dispatch(protocol: LanguageServerProtocol, body: bytes) -> None:
    """Decode one frame's body and hand it to the protocol, or answer what is malformed."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        log.warning("unreadable message (%s): %s", exc, _show(body))
        protocol._send_data(error_reply(None, JsonRpcParseError(f"Parse error: {exc}")))
        return
    invalid = check_message(data)
    if invalid is not None:
        log.warning("%s: %s", invalid.error.message, _show(body))
        protocol._send_data(error_reply(invalid.id, invalid.error))
        return
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:  # a notification or response that does not fit its schema
        log.warning("ignoring a malformed %s message: %s", data.get("method", "response"), exc.message)
        return
    protocol.handle_message(message)


# ====================================================================== protocol
class _Malformed:
    """A request whose params did not match the LSP schema: answered with InvalidParams."""

    jsonrpc = "2.0"

    def __init__(self, msg_id: Any, method: str, error: JsonRpcException) -> None:
        self.id = msg_id
        self.method = method
        self.error = error


class _Futures(dict):
    """pygls' table of running handlers. ``items()`` is a snapshot: ``shutdown`` cancels the
    futures while iterating it, and a cancelled future leaves the table (below)."""

    def items(self):  # type: ignore[override]
        return list(super().items())


class TorchpitProtocol(LanguageServerProtocol):
    """pygls' protocol, except that a request with malformed params gets an error response
    (pygls would only log it, leaving the client waiting forever), and so does a request
    after ``shutdown`` (pygls drops it); the futures of finished handlers are not kept."""

    def __init__(self, server: Any, converter: Any) -> None:
        super().__init__(server, converter)
        self._request_futures = _Futures()

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                cause = exc.__cause__
                detail = f"{exc.message}: {cause}" if cause else exc.message
                return _Malformed(data["id"], data["method"], JsonRpcInvalidParams(f"invalid params for {data['method']}: {detail}"))
            raise

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None, kwargs: Any = None):
        """pygls keeps the future of every notification, and of every step of a generator
        handler (didOpen, didChange, didClose...), in ``_request_futures`` for ever (only a
        request's own entry is removed, by its reply): each keeps the message's params, a
        didOpen's whole text included. Remove the entry when its future is done."""
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        future = self._request_futures.get(msg_id)
        if future is not None:
            future.add_done_callback(lambda done: self._request_futures.get(msg_id) is done and self._request_futures.pop(msg_id))

    def handle_message(self, message: Any):
        method = getattr(message, "method", None)
        if self._shutdown and method != EXIT:
            if method is not None and getattr(message, "id", None) is not None:
                log.warning("%s request after shutdown: answered with InvalidRequest", method)
                self._send_data(error_reply(message.id, JsonRpcInvalidRequest(f"Invalid Request: the server is shut down ({method})")))
            elif method is not None:
                log.warning("%s notification after shutdown: ignored", method)
            return None
        if isinstance(message, _Malformed):
            log.warning("malformed %s request: %s", message.method, message.error.message)
            self._send_data(error_reply(message.id, message.error))
            return None
        return super().handle_message(message)


# ====================================================================== loops
async def run_frames(
    protocol: LanguageServerProtocol,
    read: Callable[[], Any],
    stop: threading.Event,
    idle_s: float = IDLE_S,
) -> str:
    """Read chunks with ``read()`` (an awaitable giving bytes, ``b""`` at the end) and
    dispatch their frames until ``exit``, the end of the input or an unrecoverable stream.
    Returns why it stopped (``exit`` raises SystemExit through it)."""
    parser = FrameParser()
    pending: asyncio.Future | None = None
    while not stop.is_set():
        if pending is None:
            pending = asyncio.ensure_future(read())
        done, _ = await asyncio.wait({pending}, timeout=idle_s)
        if not done:
            events = parser.idle()
        else:
            chunk, pending = pending.result(), None
            events = parser.feed(chunk) if chunk else parser.eof()
            if not chunk:
                events.append(Fatal("the client closed the input stream"))
        for event in events:
            if isinstance(event, Frame):
                try:
                    dispatch(protocol, event.body)
                except (SystemExit, KeyboardInterrupt, BrokenPipeError):
                    raise
                except Exception as exc:
                    log.exception("unable to handle a message")
                    protocol._server._report_server_error(exc, JsonRpcException)
            elif isinstance(event, BadFrame):
                log.error("bad frame: %s; looking for the next Content-Length header", event.reason)
            else:
                level = logging.INFO if event.reason.startswith("the client closed") else logging.ERROR
                log.log(level, "stopping: %s", event.reason)
                return event.reason
    return "stopped"


def _stdin_reader(stdin: BinaryIO) -> Callable[[], Any]:
    """Chunks of stdin, read by one daemon thread (a blocked read never holds up the exit)
    and handed to the event loop through a queue.

    The raw file descriptor is read when there is one, so that no lock of ``sys.stdin``'s
    buffer is held by the thread when the interpreter shuts down."""
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    read1 = getattr(stdin, "read1", stdin.read)
    chunks: asyncio.Queue[bytes] | None = None

    def work(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes]) -> None:
        while True:
            try:
                data = os.read(fd, READ_CHUNK) if fd is not None else read1(READ_CHUNK)
            except OSError as exc:
                log.error("reading stdin failed: %s", exc)
                data = b""
            try:
                loop.call_soon_threadsafe(queue.put_nowait, data)
            except RuntimeError:  # the loop is closed: the server is exiting
                return
            if not data:
                return

    def read() -> Any:
        nonlocal chunks
        if chunks is None:
            chunks = asyncio.Queue()
            threading.Thread(target=work, args=(asyncio.get_running_loop(), chunks), name="torchpit-stdin", daemon=True).start()
        return chunks.get()

    return read


def serve_io(server: Any, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
    """Run ``server`` over stdio with this transport (instead of pygls' reader)."""
    import sys

    server._stop_event = stop = threading.Event()
    server.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
    read = _stdin_reader(stdin or sys.stdin.buffer)
    try:
        asyncio.run(run_frames(server.protocol, read, stop))
    except BrokenPipeError:
        log.error("the connection to the client is lost: shutting down")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.shutdown()


def serve_tcp(server: Any, host: str, port: int) -> None:
    """Listen on ``host:port``; each connection is read with this transport."""
    server._stop_event = stop = threading.Event()

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.protocol.set_writer(writer)
        await run_frames(server.protocol, lambda: reader.read(READ_CHUNK), stop)
        server.shutdown()

    async def main() -> None:
        server._server = await asyncio.start_server(connection, host, port)
        log.info("serving on %s", ", ".join(str(s.getsockname()) for s in server._server.sockets))
        async with server._server:
            await server._server.serve_forever()

    try:
        asyncio.run(main())
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit):
        pass
