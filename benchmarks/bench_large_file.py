"""A very large file in the torchpit server: time to the first publish, per keystroke, memory.

Opens one generated training script of ``--mb`` megabytes, types ``--edits`` characters in it
(waiting for each publish), reads the resident memory, closes it and reads it again.

    python benchmarks/bench_large_file.py [--mb 10] [--edits 5] [--max-file-size BYTES]

``--max-file-size 0`` switches the limit off (the analysis then runs on the whole file).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import Client  # noqa: E402
from training_script import make_training_script  # noqa: E402


async def run(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="torchpit-large-"))
    settings = {"debounce": 0}
    if args.max_file_size is not None:
        settings["maxFileSize"] = args.max_file_size
    client = Client([sys.executable, "-m", "torchpit.server"], settings)
    try:
        await client.start(root)
        rss_start = client.rss_mb()
        text = make_training_script(300)
        text = text * max(1, int(args.mb * 1e6 // len(text)))
        path = root / "huge.py"
        path.write_text(text)
        t0 = time.perf_counter()
        uri = client.open(path, text)
        _, n = await client.wait_publish(uri, 1, 0, timeout=600)
        first = time.perf_counter() - t0
        times = []
        for v in range(2, args.edits + 2):
            count = len(client.publishes.get(uri, []))
            t0 = time.perf_counter()
            client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": v},
                "contentChanges": [{"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 0}}, "text": "#"}],
            })
            await client.wait_publish(uri, v, count, timeout=600)
            times.append(time.perf_counter() - t0)
        rss_open = client.rss_mb()
        count = len(client.publishes.get(uri, []))
        client.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        await client.wait_publish(uri, None, count)
        await asyncio.sleep(1.0)
        rss_closed = client.rss_mb()
    finally:
        await client.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{len(text.encode()) / 1e6:.1f} MB, {text.count(chr(10))} lines; maxFileSize {args.max_file_size if args.max_file_size is not None else 'default'}")
    print(f"first publish {first:.2f} s ({n} diagnostics); per keystroke median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms")
    print(f"RSS: {rss_start:.0f} MB before, {rss_open:.0f} MB open, {rss_closed:.0f} MB after close")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=10.0)
    parser.add_argument("--edits", type=int, default=5)
    parser.add_argument("--max-file-size", type=int, default=None, help="the torchpit.maxFileSize setting (bytes; 0: no limit)")
    asyncio.run(run(parser.parse_args()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
