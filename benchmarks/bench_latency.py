"""Edit-to-diagnostics latency and memory of the torchpit language server, next to ruff's.

A plain JSON-RPC client over stdio (the same for both servers) opens a generated ~2,000-line
training script, types 200 single characters of code into a training loop in the middle of
it (one ``didChange`` each, waiting for the matching ``publishDiagnostics`` before the next),
and records the time from each ``didChange`` to the diagnostics for that version. Then it
opens 200 more files and reads the server's resident memory from /proc (the server and its
child processes).

    python benchmarks/bench_latency.py [--edits 200] [--files 200] [--no-ruff] [--pool thread|process] [--no-jedi]

torchpit runs with ``debounce: 0`` (so the figures are the analysis and protocol cost, not
the typing delay), jedi on unless ``--no-jedi``. ruff runs as ``ruff server`` with its
default rules. Prints p50/p95 per server and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from training_script import make_training_script  # noqa: E402

CAPABILITIES = {
    "textDocument": {
        "synchronization": {"didSave": True, "dynamicRegistration": False},
        "publishDiagnostics": {"versionSupport": True, "relatedInformation": True, "dataSupport": True, "codeDescriptionSupport": True},
        "codeAction": {"dataSupport": True, "isPreferredSupport": True},
        "hover": {"contentFormat": ["markdown", "plaintext"]},
    },
    "workspace": {"configuration": True, "workspaceFolders": True},
    "window": {"workDoneProgress": False},
    "general": {"positionEncodings": ["utf-16"]},
}


# What the benchmark types (repeated as needed): a warmup schedule inside the training loop.
TYPED = (
    "warm = min(1.0, (step + 1) / hp.warmup_steps)\n        "
    "for group in optimizer.param_groups:\n            "
    "group[\"lr\"] = hp.lr * warm\n        "
    "if step % 50 == 0:\n            "
    "print(f\"lr {optimizer.param_groups[0]['lr']:.2e}\")\n        "
)


class Client:
    """A minimal LSP client: Content-Length framing, requests, and a publish waiter."""

    def __init__(self, cmd: list[str], settings: dict[str, Any] | None) -> None:
        self.cmd = cmd
        self.settings = settings
        self.proc: asyncio.subprocess.Process | None = None
        self.next_id = 0
        self.pending: dict[int, asyncio.Future] = {}
        self.publishes: dict[str, list[tuple[float, int | None, int]]] = {}
        self.publish_event = asyncio.Event()
        self.reader_task: asyncio.Task | None = None

    async def start(self, root: Path) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            cwd=str(root),
        )
        self.reader_task = asyncio.create_task(self._read())
        await self.request("initialize", {
            "processId": os.getpid(),
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": CAPABILITIES,
            "initializationOptions": self.settings or {},
        })
        self.notify("initialized", {})

    def _send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    async def request(self, method: str, params: Any, timeout: float = 120) -> Any:
        self.next_id += 1
        fut: asyncio.Future = asyncio.get_running_loop().create_future()
        self.pending[self.next_id] = fut
        self._send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return await asyncio.wait_for(fut, timeout)

    async def _read(self) -> None:
        assert self.proc and self.proc.stdout
        out = self.proc.stdout
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            msg = json.loads(await out.readexactly(length or 0))
            now = time.perf_counter()
            if "method" in msg and "id" in msg:  # a request from the server
                result: Any = None
                if msg["method"] == "workspace/configuration":
                    result = [self.settings if (i.get("section") in ("torchpit", None)) else None for i in msg["params"]["items"]]
                self._send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            elif "method" in msg:
                self.on_notification(msg, now)
                if msg["method"] == "textDocument/publishDiagnostics":
                    p = msg["params"]
                    self.publishes.setdefault(p["uri"], []).append((now, p.get("version"), len(p["diagnostics"])))
                    self.publish_event.set()
            elif "id" in msg and isinstance(msg["id"], (int, str)) and msg["id"] in self.pending:
                fut = self.pending.pop(msg["id"])
                if not fut.done():
                    if "error" in msg:
                        fut.set_exception(RuntimeError(msg["error"]))
                    else:
                        fut.set_result(msg.get("result"))
            else:
                self.on_other_response(msg, now)

    def on_notification(self, msg: dict[str, Any], now: float) -> None:
        """Every notification from the server, as it arrives (benchmarks/fuzz.py looks at them)."""

    def on_other_response(self, msg: dict[str, Any], now: float) -> None:
        """A response to no request of this client's (benchmarks/fuzz.py sends raw requests)."""

    async def wait_publish(self, uri: str, version: int | None, after_count: int, timeout: float = 120) -> tuple[float, int]:
        """The time of the first publish for ``uri`` after ``after_count`` earlier ones that is for
        ``version`` (or has no version: ruff sends none for some)."""
        deadline = time.perf_counter() + timeout
        while True:
            for t, v, n in self.publishes.get(uri, [])[after_count:]:
                if v is None or version is None or v == version:
                    return t, n
            self.publish_event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError(f"no diagnostics for {uri} v{version}")
            try:
                await asyncio.wait_for(self.publish_event.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    def open(self, path: Path, text: str) -> str:
        uri = path.as_uri()
        self.notify("textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}})
        return uri

    def rss_mb(self) -> float:
        assert self.proc
        return _tree_rss_kb(self.proc.pid) / 1024

    async def stop(self) -> None:
        try:
            await self.request("shutdown", None, timeout=20)
            self.notify("exit", None)
            await asyncio.wait_for(self.proc.wait(), 20)  # type: ignore[union-attr]
        except Exception:
            if self.proc and self.proc.returncode is None:
                self.proc.kill()
        if self.reader_task:
            self.reader_task.cancel()


def _rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _tree_rss_kb(pid: int) -> int:
    total = _rss_kb(pid)
    try:
        children = open(f"/proc/{pid}/task/{pid}/children").read().split()
    except OSError:
        children = []
    return total + sum(_tree_rss_kb(int(c)) for c in children)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


async def run_server(name: str, cmd: list[str], settings: dict[str, Any] | None, edits: int, files: int, workdir: Path) -> dict[str, Any]:
    root = workdir / name.replace("(", "-").replace(")", "").replace("=", "-")
    root.mkdir()
    text = make_training_script(2000)
    main = root / "train.py"
    main.write_text(text)
    client = Client(cmd, settings)
    t_start = time.perf_counter()
    await client.start(root)
    uri = client.open(main, text)
    await client.wait_publish(uri, 1, 0)
    first = time.perf_counter() - t_start
    # Type code, one character per didChange, into a training loop in the middle of the file
    # (the text is briefly not valid Python while a statement is half typed, as in an editor).
    lines = text.split("\n")
    mid = len(lines) // 2
    line = next(i for i in range(mid, len(lines)) if lines[i] == "        loss.backward()")
    col = len(lines[line]) - len(lines[line].lstrip())  # type where a person types: after the indentation
    version = 1
    latencies: list[float] = []
    for i in range(edits):
        version += 1
        ch = TYPED[i % len(TYPED)]
        count = len(client.publishes.get(uri, []))
        t0 = time.perf_counter()
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": version},
            "contentChanges": [{"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": ch}],
        })
        t1, _ = await client.wait_publish(uri, version, count)
        latencies.append((t1 - t0) * 1000)
        if ch == "\n":
            line, col = line + 1, 0
        else:
            col += 1
    engine_ms = None
    if name.startswith("torchpit") and (settings or {}).get("enable", True):
        info = await client.request("workspace/executeCommand", {"command": "torchpit.showDebugInfo"})
        engine_ms = info["documents"][uri]["timingsMs"].get("total")
    rss_one = client.rss_mb()
    # Memory after opening many files.
    others = []
    for i in range(files):
        p = root / f"module_{i:03d}.py"
        src = make_training_script(300, idx=i)
        p.write_text(src)
        others.append(client.open(p, src))
    t_many = time.perf_counter()
    for u in others:
        await client.wait_publish(u, 1, 0, timeout=600)
    many_s = time.perf_counter() - t_many
    rss_many = client.rss_mb()
    await client.stop()
    return {
        "name": name,
        "first_diagnostics_s": first,
        "p50_ms": statistics.median(latencies),
        "p95_ms": percentile(latencies, 0.95),
        "max_ms": max(latencies),
        "engine_total_ms_last": engine_ms,
        "rss_after_open_mb": rss_one,
        "rss_after_files_mb": rss_many,
        "files": files,
        "files_s": many_s,
    }


def report(rows: list[dict[str, Any]]) -> str:
    out = [f"{'server':<22} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'RSS 1 file':>11} {'RSS +files':>11} {'open files s':>12}"]
    for r in rows:
        out.append(
            f"{r['name']:<22} {r['p50_ms']:>8.1f} {r['p95_ms']:>8.1f} {r['max_ms']:>8.1f} "
            f"{r['rss_after_open_mb']:>9.0f}MB {r['rss_after_files_mb']:>9.0f}MB {r['files_s']:>12.1f}"
        )
    tp = [r for r in rows if r["name"].startswith("torchpit") and "enable=false" not in r["name"]]
    ruff = next((r for r in rows if r["name"] == "ruff"), None)
    for r in tp:
        if r.get("engine_total_ms_last") is not None:
            out.append(f"{r['name']}: engine analyze() of the 2,000-line file, last run: {r['engine_total_ms_last']:.1f} ms")
    if ruff:
        for r in tp:
            out.append(
                f"{r['name']} / ruff: p50 x{r['p50_ms'] / ruff['p50_ms']:.1f}, p95 x{r['p95_ms'] / ruff['p95_ms']:.1f}, "
                f"RSS x{r['rss_after_files_mb'] / max(ruff['rss_after_files_mb'], 1):.1f}"
            )
    return "\n".join(out)


async def amain(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="torchpit-bench-"))
    rows = []
    try:
        pools = ["thread", "process"] if args.pool == "both" else [args.pool]
        for pool in pools:
            name = "torchpit" if len(pools) == 1 else f"torchpit-{pool}"
            settings = {"debounce": 0, "jedi": not args.no_jedi}
            cmd = [sys.executable, "-m", "torchpit.server", "--pool", pool]
            rows.append(await run_server(name, cmd, settings, args.edits, args.files, workdir))
        # The same server with analysis switched off: what the protocol and the server cost alone.
        cmd = [sys.executable, "-m", "torchpit.server", "--pool", pools[0]]
        rows.append(await run_server("torchpit(enable=false)", cmd, {"debounce": 0, "enable": False}, args.edits, 0, workdir))
        ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
        if not args.no_ruff and os.path.exists(ruff):
            rows.append(await run_server("ruff", [ruff, "server"], None, args.edits, args.files, workdir))
        elif not args.no_ruff:
            print("ruff not found (pip install ruff): comparing nothing", file=sys.stderr)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{args.edits} single-character edits to a {make_training_script(2000).count(chr(10))}-line training script; "
          f"memory after {args.files} more files (~300 lines each); {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print(report(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--pool", choices=["thread", "process", "both"], default="thread")
    parser.add_argument("--no-jedi", action="store_true")
    parser.add_argument("--no-ruff", action="store_true")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON")
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
