"""Keystroke latency of the torchpit server under load: many open documents, several edited
at a time, for a while. Does the latency stay what it was at the start?

It opens ``--docs`` generated training scripts (~300 lines each) and waits for their
diagnostics; then ``--editors`` simulated typists each type into a document (one character
per ``didChange``, waiting for the publish of that version before the next; a new document
every ``--switch`` characters) for ``--duration`` seconds. Latency is ``didChange`` ->
``publishDiagnostics`` of that version. Prints p50/p95 over the first and the last fifth of
the run and per sixth of it, with the server's CPU time per edit (which, unlike wall time,
other processes on the machine hardly move), and its resident memory at the start and the end.

    python benchmarks/bench_load.py [--duration 30] [--docs 200] [--editors 4] [--debounce 0] [--pool thread|process] [--profile PATH]

The issue's figures were for ``--duration 120``. Each sample also says whether it was the first
keystroke in its document since the typist moved there (the document's incremental state was
dropped long ago: a fresh analysis), and the summary counts those apart.

``--while-opening N`` measures something else: one document is being typed in (one character
per ``didChange``, waiting for each publish) while the ``--docs`` others are opened at once,
``N`` keystrokes in all; it prints their latency and when the last opened document was
published. (The same queue forms when a settings change re-analyses every open document.)
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import Client, percentile  # noqa: E402
from training_script import make_training_script  # noqa: E402

TYPED = "value = compute(step, 3)  # note\n"
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_s(pid: int) -> float:
    """The CPU time (user + system) the process has used: unlike wall time, hardly moved by
    other processes competing for the CPUs."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return float("nan")


def thread_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds by thread: the main thread (it runs the event loop) and the others by id
    (the analysis worker is the busiest of those; Python gives the OS no thread names)."""
    out: dict[str, float] = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            fields = open(f"/proc/{pid}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out["event loop" if tid == str(pid) else f"thread {tid}"] = (int(fields[11]) + int(fields[12])) / CLK_TCK
    return out


async def sample_cpu(pid: int, stop_at: float, out: list[tuple[float, float]]) -> None:
    while True:
        out.append((time.perf_counter(), cpu_s(pid)))
        if time.perf_counter() >= stop_at:
            return
        await asyncio.sleep(0.25)


async def typist(client: Client, docs: list[tuple[str, str]], switch: int, stop_at: float, out: list[tuple[float, float]],
                 first: set[float] | None = None) -> None:
    versions = {uri: 1 for uri, _ in docs}
    ends = {uri: (text.count("\n"), 0) for uri, text in docs}  # where the typist types: the end
    i = 0
    while time.perf_counter() < stop_at:
        uri = docs[(i // switch) % len(docs)][0]
        ch = TYPED[i % len(TYPED)]
        line, col = ends[uri]
        versions[uri] += 1
        count = len(client.publishes.get(uri, []))
        t0 = time.perf_counter()
        client.notify("textDocument/didChange", {
            "textDocument": {"uri": uri, "version": versions[uri]},
            "contentChanges": [{"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": ch}],
        })
        t1, _ = await client.wait_publish(uri, versions[uri], count)
        out.append((t0, (t1 - t0) * 1000))
        if first is not None and i % switch == 0:
            first.add(t0)
        ends[uri] = (line + 1, 0) if ch == "\n" else (line, col + 1)
        i += 1


def summary(samples: list[tuple[float, float]], cpu: list[tuple[float, float]] | None = None) -> str:
    values = [ms for _, ms in samples]
    if not values:
        return "no samples"
    out = f"n={len(values):>5}  p50 {statistics.median(values):6.1f} ms  p95 {percentile(values, 0.95):6.1f} ms  max {max(values):6.1f} ms"
    if cpu:
        t0, t1 = samples[0][0], samples[-1][0]
        inside = [c for t, c in cpu if t0 <= t <= t1]
        if len(inside) >= 2 and len(values) > 1:
            out += f"  server CPU {(inside[-1] - inside[0]) * 1000 / len(values):5.1f} ms/edit"
    return out


async def run(args: argparse.Namespace) -> dict:
    root = Path(tempfile.mkdtemp(prefix="torchpit-load-"))
    profile = ["-m", "cProfile", "-o", str(Path(args.profile).resolve())] if args.profile else []
    client = Client([sys.executable, *profile, "-m", "torchpit.server", "--pool", args.pool], {"debounce": args.debounce})
    samples: list[tuple[float, float]] = []
    firsts: set[float] = set()  # the send times of each document's first keystroke
    cpu: list[tuple[float, float]] = []  # (time, server CPU seconds)
    try:
        await client.start(root)
        docs = []
        t_open = time.perf_counter()
        for i in range(args.docs):
            p = root / f"module_{i:03d}.py"
            text = make_training_script(args.lines, idx=i)
            p.write_text(text)
            docs.append((client.open(p, text), text))
        for uri, _ in docs:
            await client.wait_publish(uri, 1, 0, timeout=900)
        open_s = time.perf_counter() - t_open
        rss_start = client.rss_mb()
        t_start = time.perf_counter()
        stop_at = t_start + args.duration
        assert client.proc is not None
        sampler = asyncio.ensure_future(sample_cpu(client.proc.pid, stop_at + 5, cpu))
        threads_start = thread_cpu_s(client.proc.pid)
        await asyncio.gather(*(typist(client, docs[w :: args.editors], args.switch, stop_at, samples, firsts) for w in range(args.editors)))
        sampler.cancel()
        threads_end = thread_cpu_s(client.proc.pid)
        rss_end = client.rss_mb()
    finally:
        await client.stop()
        shutil.rmtree(root, ignore_errors=True)
    samples.sort()
    fifth = args.duration / 5
    first = [s for s in samples if s[0] - t_start < fifth]
    last = [s for s in samples if s[0] - t_start >= args.duration - fifth]
    print(f"{args.docs} documents ({args.lines} lines) opened in {open_s:.1f} s; {args.editors} typists for {args.duration:.0f} s, "
          f"debounce {args.debounce} ms")
    print(f"first fifth: {summary(first, cpu)}")
    print(f"last fifth:  {summary(last, cpu)}")
    window = max(args.duration / 6, 1.0)
    k = 0
    while k * window < args.duration:
        part = [s for s in samples if k * window <= s[0] - t_start < (k + 1) * window]
        print(f"  {k * window:5.0f}-{(k + 1) * window:<5.0f}s {summary(part, cpu)}")
        k += 1
    print(f"all:         {summary(samples, cpu)}")
    print(f"  first keystroke in a document: {summary([s for s in samples if s[0] in firsts])}")
    print(f"  the other keystrokes:          {summary([s for s in samples if s[0] not in firsts])}")
    print(f"RSS: {rss_start:.0f} MB at the start, {rss_end:.0f} MB at the end")
    if samples:
        by_thread = {name: (threads_end.get(name, 0.0) - threads_start.get(name, 0.0)) * 1000 / len(samples) for name in threads_end}
        print("server CPU per edit by thread: " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in sorted(by_thread.items(), key=lambda kv: -kv[1]) if ms >= 0.05))
    return {"first_p95": percentile([ms for _, ms in first], 0.95) if first else None, "last_p95": percentile([ms for _, ms in last], 0.95) if last else None}


async def run_while_opening(args: argparse.Namespace) -> None:
    root = Path(tempfile.mkdtemp(prefix="torchpit-load-"))
    client = Client([sys.executable, "-m", "torchpit.server", "--pool", args.pool], {"debounce": args.debounce})
    samples: list[float] = []
    try:
        await client.start(root)
        p = root / "typed.py"
        text = make_training_script(args.lines, idx=args.docs)
        p.write_text(text)
        uri = client.open(p, text)
        await client.wait_publish(uri, 1, 0, timeout=900)
        line, version = text.count("\n"), 1
        col = 0

        async def keystroke(i: int) -> float:
            nonlocal version, line, col
            ch = TYPED[i % len(TYPED)]
            version += 1
            count = len(client.publishes.get(uri, []))
            t0 = time.perf_counter()
            client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{"range": {"start": {"line": line, "character": col}, "end": {"line": line, "character": col}}, "text": ch}],
            })
            t1, _ = await client.wait_publish(uri, version, count, timeout=900)
            line, col = (line + 1, 0) if ch == "\n" else (line, col + 1)
            return (t1 - t0) * 1000

        await keystroke(0)  # it is being typed in
        others = []
        t_open = time.perf_counter()
        for i in range(args.docs):
            q = root / f"module_{i:03d}.py"
            other = make_training_script(args.lines, idx=i)
            q.write_text(other)
            others.append(client.open(q, other))
        for i in range(1, args.while_opening + 1):
            samples.append(await keystroke(i))
        for other in others:
            await client.wait_publish(other, 1, 0, timeout=900)
        opened_s = time.perf_counter() - t_open
    finally:
        await client.stop()
        shutil.rmtree(root, ignore_errors=True)
    print(f"{args.while_opening} keystrokes while {args.docs} documents ({args.lines} lines) open, debounce {args.debounce} ms, pool {args.pool}")
    print(f"keystrokes: first {samples[0]:.1f} ms, p50 {statistics.median(samples):.1f} ms, max {max(samples):.1f} ms")
    print(f"the last opened document published {opened_s:.1f} s after the first didOpen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of typing (the issue's run: 120)")
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--lines", type=int, default=300)
    parser.add_argument("--editors", type=int, default=4, help="documents edited at a time")
    parser.add_argument("--switch", type=int, default=40, help="characters typed in a document before the next")
    parser.add_argument("--debounce", type=int, default=0)
    parser.add_argument("--pool", choices=["thread", "process"], default="thread", help="the server's --pool")
    parser.add_argument("--profile", metavar="PATH", help="run the server under cProfile, writing its stats here")
    parser.add_argument("--while-opening", type=int, metavar="N", help="instead: N keystrokes in one document while --docs others open")
    args = parser.parse_args()
    asyncio.run(run_while_opening(args) if args.while_opening else run(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
