"""A raw stdio connection to a real ``python -m torchpit server``: bytes in, frames out.

For the transport tests, which send broken frames on purpose (an LSP client library would
refuse to). Replies are read by a thread and parsed strictly (the server's output must be
well formed); every wait has a timeout, so a deaf server fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any

SERVER_CMD = [sys.executable, "-m", "torchpit", "server"]


def frame(body: bytes | str | Any, *, name: str = "Content-Length", eol: str = "\r\n", length: int | None = None) -> bytes:
    """One frame; ``body`` may be bytes, text or a JSON value."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    data = body.encode() if isinstance(body, str) else body
    n = len(data) if length is None else length
    return f"{name}: {n}{eol}{eol}".encode() + data


def request(msg_id: Any, method: str, params: Any = None) -> dict:
    msg = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def notification(method: str, params: Any = None) -> dict:
    msg: dict = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def explain(msg_id: Any) -> dict:
    """A request the server answers at once, without any document."""
    return request(msg_id, "workspace/executeCommand", {"command": "torchpit.explain", "arguments": ["PIT101"]})


class RawServer:
    def __init__(self, cwd: str | None = None) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(SERVER_CMD, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, env=env)
        self.messages: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        self.stderr = b""
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    # ------------------------------------------------------------------ io
    def _read_stdout(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            assert length is not None, "the server sent a frame without Content-Length"
            self.messages.put(json.loads(out.read(length)))

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr += line

    def send(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send_json(self, msg: Any) -> None:
        self.send(frame(msg))

    def close_stdin(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()

    # ------------------------------------------------------------------ waiting
    def wait_for(self, predicate, timeout: float = 20.0) -> dict:
        """The first message (seen or to come) that satisfies ``predicate``."""
        for msg in self.seen:
            if predicate(msg):
                self.seen.remove(msg)
                return msg
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such message within {timeout}s; got {self.seen!r}; stderr:\n{self.stderr.decode(errors='replace')[-3000:]}")
            try:
                msg = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            if predicate(msg):
                return msg
            self.seen.append(msg)

    def response(self, msg_id: Any, timeout: float = 20.0) -> dict:
        """The response to request ``msg_id`` (``id: null`` for replies to unreadable messages)."""
        return self.wait_for(lambda m: "method" not in m and m.get("id", "missing") == msg_id, timeout)

    def call(self, msg: dict, timeout: float = 20.0) -> dict:
        self.send_json(msg)
        return self.response(msg["id"], timeout)

    def initialize(self) -> dict:
        reply = self.call(request(0, "initialize", {"processId": None, "rootUri": None, "capabilities": {}}), timeout=60)
        self.send_json(notification("initialized", {}))
        return reply

    def wait_exit(self, timeout: float = 20.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server did not exit within {timeout}s; stderr:\n{self.stderr.decode(errors='replace')[-3000:]}") from None

    def shutdown_and_exit(self, msg_id: Any = "bye") -> int:
        assert "result" in self.call(request(msg_id, "shutdown"))
        self.send_json(notification("exit"))
        return self.wait_exit()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f and f.close()
            except OSError:
                pass
