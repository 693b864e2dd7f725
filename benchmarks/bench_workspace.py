"""Keystroke latency of the torchpit language server with workspace diagnostics on.

A pull client (as VS Code is) opens a generated ~2,000-line training script in a workspace of
``--files`` more generated files (~300 lines each), and types ``--edits`` single characters
into it; after each ``didChange`` it pulls ``textDocument/diagnostic`` and times the answer.
With ``diagnosticMode: "workspace"``, a second task pulls ``workspace/diagnostic`` over and
over meanwhile (with the result ids of the last answer, as VS Code does), so the typing runs
while the whole workspace is analysed from a cold cache and then re-checked. The same run
with the default ``openFilesOnly`` is the baseline.

    python benchmarks/bench_workspace.py [--files 1000] [--edits 200] [--no-jedi]

It types twice: while the first workspace scan runs (a cold cache), and after its first
report, with the workspace pulled every 2 s. Prints p50/p95 of each, per mode.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import CAPABILITIES, TYPED, Client, percentile  # noqa: E402
from training_script import make_training_script  # noqa: E402

PULL_CAPABILITIES = {
    **CAPABILITIES,
    "textDocument": {**CAPABILITIES["textDocument"], "diagnostic": {"relatedDocumentSupport": False}},
    "workspace": {**CAPABILITIES["workspace"], "diagnostics": {"refreshSupport": True}},
}


PULL_INTERVAL_S = 2.0  # what vscode-languageclient waits between workspace pulls


class PullClient(Client):
    async def start(self, root: Path) -> None:
        import bench_latency

        saved = bench_latency.CAPABILITIES
        bench_latency.CAPABILITIES = PULL_CAPABILITIES  # Client.start sends the module's capabilities
        try:
            await super().start(root)
        finally:
            bench_latency.CAPABILITIES = saved


async def pull_forever(client: Client, stats: dict[str, Any], stop: asyncio.Event) -> None:
    previous: dict[str, str] = {}
    while not stop.is_set():
        t0 = time.perf_counter()
        report = await client.request("workspace/diagnostic", {"previousResultIds": [{"uri": u, "value": v} for u, v in previous.items()]}, timeout=600)
        items = report.get("items", [])
        stats["reports"] += 1
        stats["full"] += sum(1 for i in items if i.get("kind") == "full")
        stats["files"] = max(stats["files"], len(items))
        stats.setdefault("first_s", time.perf_counter() - t0)
        previous = {i["uri"]: i["resultId"] for i in items if i.get("resultId")}
        await asyncio.sleep(PULL_INTERVAL_S)


async def run_mode(mode: str, files: int, edits: int, jedi: bool, workdir: Path) -> dict[str, Any]:
    root = workdir / mode
    root.mkdir()
    for i in range(files):
        (root / f"module_{i:04d}.py").write_text(make_training_script(300, idx=i))
    text = make_training_script(2000)
    main = root / "train.py"
    main.write_text(text)
    os.environ["TORCHPIT_CACHE_DIR"] = str(workdir / f"cache-{mode}")  # a cold cache
    settings = {"debounce": 0, "jedi": jedi, "diagnosticMode": mode}
    client = PullClient([sys.executable, "-m", "torchpit.server"], settings)
    await client.start(root)
    uri = client.open(main, text)
    await client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
    stats: dict[str, Any] = {"reports": 0, "full": 0, "files": 0}
    stop = asyncio.Event()
    puller = asyncio.create_task(pull_forever(client, stats, stop))
    lines = text.split("\n")
    cursor = {"line": next(i for i in range(len(lines) // 2, len(lines)) if lines[i] == "        loss.backward()"), "version": 1}
    cursor["col"] = len(lines[cursor["line"]]) - len(lines[cursor["line"]].lstrip())

    async def type_chars(n: int) -> list[float]:
        out = []
        for _ in range(n):
            ch = TYPED[(cursor["version"] - 1) % len(TYPED)]
            cursor["version"] += 1
            rng = {"start": {"line": cursor["line"], "character": cursor["col"]}, "end": {"line": cursor["line"], "character": cursor["col"]}}
            t0 = time.perf_counter()
            client.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": cursor["version"]}, "contentChanges": [{"range": rng, "text": ch}]})
            await client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
            out.append((time.perf_counter() - t0) * 1000)
            if ch == "\n":
                cursor["line"], cursor["col"] = cursor["line"] + 1, 0
            else:
                cursor["col"] += 1
        return out

    cold = await type_chars(edits)  # while the workspace is analysed for the first time
    reports_while_cold = stats["reports"]
    deadline = time.perf_counter() + 900
    while stats["reports"] == 0 and time.perf_counter() < deadline:
        await asyncio.sleep(0.2)
    warm = await type_chars(edits)  # then, with the workspace pulled every 2 s
    stop.set()
    try:
        await asyncio.wait_for(puller, 900)
    except asyncio.TimeoutError:
        puller.cancel()
    await client.stop()
    return {
        "mode": mode,
        "cold": (statistics.median(cold), percentile(cold, 0.95)),
        "warm": (statistics.median(warm), percentile(warm, 0.95)),
        "reports_while_cold": reports_while_cold,
        "workspace_reports": stats["reports"],
        "workspace_files": stats["files"],
        "first_workspace_report_s": stats.get("first_s"),
    }


async def amain(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="torchpit-bench-ws-"))
    rows = []
    try:
        for mode in ("openFilesOnly", "workspace"):
            rows.append(await run_mode(mode, args.files, args.edits, not args.no_jedi, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"{args.edits} single-character edits to a 2,000-line file, each followed by textDocument/diagnostic; "
          f"{args.files} more files in the workspace; {os.cpu_count()} CPUs; Python {sys.version.split()[0]}")
    print(f"{'mode':<15} {'typing during the first scan':>30} {'typing afterwards':>22} {'1st report s':>13} {'files':>6}")
    for r in rows:
        first = f"{r['first_workspace_report_s']:.1f}" if r["first_workspace_report_s"] is not None else "-"
        cold = f"p50 {r['cold'][0]:.1f} p95 {r['cold'][1]:.1f} ms"
        warm = f"p50 {r['warm'][0]:.1f} p95 {r['warm'][1]:.1f} ms"
        print(f"{r['mode']:<15} {cold:>30} {warm:>22} {first:>13} {r['workspace_files']:>6}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--edits", type=int, default=200)
    parser.add_argument("--no-jedi", action="store_true")
    return asyncio.run(amain(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
