"""Resident memory of the torchpit server across open/edit/close cycles of the same documents.

Each cycle opens the same ``--docs`` generated training scripts (~300 lines each), makes
``--edits`` single-character edits in each (waiting for each publish), closes them all and
waits for the closing publishes; then the server's resident memory is read from /proc.
Memory that keeps growing from cycle to cycle, with the same documents, is a leak (or
fragmentation); a plateau is the goal.

    python benchmarks/bench_memory_cycles.py [--cycles 8] [--docs 20] [--edits 10] [--lines 300]

Environment variables are passed to the server (e.g. ``TORCHPIT_MALLOC_TRIM=0`` to see what
the server's ``malloc_trim`` does).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import Client  # noqa: E402
from training_script import make_training_script  # noqa: E402


async def edit_at_end_of_header(client: Client, uri: str, version: int, ch: str) -> None:
    count = len(client.publishes.get(uri, []))
    client.notify("textDocument/didChange", {
        "textDocument": {"uri": uri, "version": version},
        "contentChanges": [{"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}, "text": ch}],
    })
    await client.wait_publish(uri, version, count)


async def run(args: argparse.Namespace) -> list[float]:
    root = Path(tempfile.mkdtemp(prefix="torchpit-cycles-"))
    client = Client([sys.executable, "-m", "torchpit.server"], {"debounce": 0})
    rss: list[float] = []
    try:
        await client.start(root)
        paths = []
        for i in range(args.docs):
            p = root / f"exp_{i:03d}.py"
            p.write_text(make_training_script(args.lines, idx=i))
            paths.append(p)
        print(f"{'cycle':>5} {'RSS MB':>8} {'delta':>7} {'seconds':>8}")
        for cycle in range(args.cycles):
            t0 = time.perf_counter()
            uris = []
            for p in paths:
                before = len(client.publishes.get(p.as_uri(), []))
                uri = client.open(p, p.read_text())
                await client.wait_publish(uri, 1, before)
                uris.append(uri)
            for uri in uris:
                for v in range(2, args.edits + 2):
                    await edit_at_end_of_header(client, uri, v, "#" if v % 2 else "\n")
            for uri in uris:
                before = len(client.publishes.get(uri, []))
                client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
                await client.wait_publish(uri, None, before)
            await asyncio.sleep(args.settle)
            rss.append(client.rss_mb())
            delta = rss[-1] - rss[-2] if len(rss) > 1 else 0.0
            print(f"{cycle + 1:>5} {rss[-1]:>8.1f} {delta:>+7.1f} {time.perf_counter() - t0:>8.1f}", flush=True)
    finally:
        await client.stop()
        shutil.rmtree(root, ignore_errors=True)
    half = len(rss) // 2
    if half:
        print(f"growth over the second half of the run: {rss[-1] - rss[half - 1]:+.1f} MB "
              f"(first cycle {rss[0]:.1f} MB, last {rss[-1]:.1f} MB, peak {max(rss):.1f} MB)")
    return rss


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=8)
    parser.add_argument("--docs", type=int, default=20)
    parser.add_argument("--edits", type=int, default=10, help="single-character edits per document per cycle")
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--settle", type=float, default=2.0, help="seconds to wait after the closes before reading the memory")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
