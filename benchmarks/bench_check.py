"""Throughput of `torchpit check` against a bare parse and (if installed) TorchFix.

Runs over any folder of real PyTorch code (nothing is fetched at run time), e.g.:

    python benchmarks/bench_check.py /path/to/pytorch-image-models /path/to/yolov5

and prints, from one run on this machine: files, lines, and seconds and lines per second for
1. `ast.parse` + `ast.walk` of every file (one process; the floor for any AST linter),
2. `torchpit check --no-cache` (cold cache, jedi on, a process per core), and with `--no-jedi`,
3. `torchpit check` again with a warm cache,
4. TorchFix (`torchfix`), when it is installed.
Figures are reported as ratios to (1), measured in the same run: ``--repeat`` rounds (default 3)
alternate the measurements, and each ratio is the median of the rounds' own ratios.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path


def python_files(roots: list[str]) -> list[Path]:
    out = []
    for root in roots:
        for p in sorted(Path(root).rglob("*.py")):
            if not any(part in {".git", ".venv", "venv", "node_modules", "__pycache__"} for part in p.parts):
                out.append(p)
    return out


def bare_parse(files: list[Path]) -> tuple[float, int]:
    texts = []
    for f in files:
        try:
            texts.append(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            pass
    start = time.perf_counter()
    nodes = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for t in texts:
            try:
                tree = ast.parse(t)
            except SyntaxError:
                continue
            for _ in ast.walk(tree):
                nodes += 1
    return time.perf_counter() - start, nodes


def timed(cmd: list[str], cwd: str | None = None, env: dict | None = None) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env)
    return time.perf_counter() - start, proc


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("roots", nargs="+", help="folders of Python code")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each figure is the median of its rounds (default 3)")
    args = ap.parse_args()

    files = python_files(args.roots)
    lines = sum(f.read_bytes().count(b"\n") for f in files)
    print(f"corpus: {len(files)} files, {lines} lines, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")

    cache = tempfile.mkdtemp(prefix="torchpit-bench-")
    env = dict(os.environ, TORCHPIT_CACHE_DIR=cache)
    base = [sys.executable, "-m", "torchpit", "check", "--exit-zero", "-q", "--statistics", *args.roots]
    # The rounds alternate the measurements, so that a slow stretch of a shared machine falls on
    # all of them; each round's ratios compare figures taken a few seconds apart.
    rounds: list[dict[str, float]] = []
    stats = ""
    for i in range(max(1, args.repeat)):
        r: dict[str, float] = {}
        r["ast.parse + walk"], _ = bare_parse(files)
        r["torchpit check (cold, jedi on)"], proc = timed([*base, "--no-cache"], env=env)
        stats = proc.stdout.strip()
        r["torchpit check (cold, --no-jedi)"], _ = timed([*base, "--no-cache", "--no-jedi"], env=env)
        timed(base, env=env)  # fill the cache
        r["torchpit check (warm cache)"], _ = timed(base, env=env)
        rounds.append(r)
        print(f"round {i + 1}: " + ", ".join(f"{k} {v:.2f} s ({v / r['ast.parse + walk']:.2f}x)" for k, v in r.items()))
    shutil.rmtree(cache, ignore_errors=True)
    results: dict[str, float | None] = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    ratios = {k: statistics.median(r[k] / r["ast.parse + walk"] for r in rounds) for k in rounds[0]}

    torchfix = shutil.which("torchfix") or (str(Path(sys.executable).with_name("torchfix")) if Path(sys.executable).with_name("torchfix").exists() else None)
    if torchfix:
        results["TorchFix"], _ = timed([torchfix, *args.roots])
    else:
        results["TorchFix"] = None

    floor = results["ast.parse + walk"] or 1e-9
    print(f"\nmedian of {len(rounds)} rounds (x parse: the median of the rounds' own ratios)")
    print(f"{'tool':34} {'seconds':>9} {'lines/s':>10} {'x parse':>8}")
    for name, secs in results.items():
        if secs is None:
            print(f"{name:34} {'(not installed)':>29}")
            continue
        print(f"{name:34} {secs:9.2f} {lines / secs:10.0f} {ratios.get(name, secs / floor):8.2f}")
    print("\nfindings per rule (cold run):\n" + (stats or "(none)"))
    if args.json:
        Path(args.json).write_text(json.dumps({"files": len(files), "lines": lines, "seconds": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
