"""Where one keystroke's analysis time goes: parse, semantic model, rules, per rule.

Replays, without a server, the edits ``bench_latency.py`` types (the same characters into the
same 2,016-line script) through ``analyze()`` with the document's incremental parser, as the
language server does, and prints the median and p95 of each phase and the slowest rules.

    python benchmarks/bench_phases.py [--edits 200] [--full-parse] [--no-memo] [--no-jedi]

``--full-parse`` parses every version from scratch (what the CLI does), and ``--no-memo``
re-runs the per-node rules on every top-level statement, for comparison.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
from collections import defaultdict
from pathlib import Path
from typing import Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import TYPED  # noqa: E402
from training_script import make_training_script  # noqa: E402

from torchpit.analyzers.engine.config import Config  # noqa: E402
from torchpit.analyzers.engine.analysis import analyze  # noqa: E402
from torchpit.analyzers.syntax.incremental import IncrementalParser  # noqa: E402
from torchpit.analyzers.semantic.inference import JediOptions  # noqa: E402
from torchpit.analyzers.engine.memo import RuleMemo  # noqa: E402


def typed_versions(edits: int) -> Iterator[str]:
    """The document after each of ``bench_latency``'s single-character edits."""
    lines = make_training_script(2000).split("\n")
    line = next(i for i in range(len(lines) // 2, len(lines)) if lines[i] == "        loss.backward()")
    col = len(lines[line]) - len(lines[line].lstrip())
    for i in range(edits):
        ch = TYPED[i % len(TYPED)]
        text = lines[line]
        if ch == "\n":
            lines[line : line + 1] = [text[:col], text[col:]]
            line, col = line + 1, 0
        else:
            lines[line] = text[:col] + ch + text[col:]
            col += 1
        yield "\n".join(lines)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.95 * (len(ordered) - 1))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--edits", type=int, default=200)
    ap.add_argument("--full-parse", action="store_true")
    ap.add_argument("--no-memo", action="store_true")
    ap.add_argument("--no-jedi", action="store_true")
    args = ap.parse_args()
    versions = list(typed_versions(args.edits))
    jedi = JediOptions(enabled=not args.no_jedi, budget_s=1.0)
    parser = None if args.full_parse else IncrementalParser("train.py")
    memo = None if args.no_memo else RuleMemo()
    path = str(Path.cwd() / "train.py")
    analyze(make_training_script(2000), path, Config(), jedi, parser=parser, memo=memo)  # open the document
    gc.collect()
    gc.freeze()  # as the server does after its first analysis
    phases: dict[str, list[float]] = defaultdict(list)
    rules: dict[str, list[float]] = defaultdict(list)
    broken = 0
    for text in versions:
        result = analyze(text, path, Config(), jedi, parser=parser, memo=memo)
        broken += bool(result.parse.errors)
        for k in ("parse", "model", "rules", "total"):
            phases[k].append(result.timings.get(k, 0.0) * 1000)
        for code, seconds in result.rule_timings.items():
            rules[code].append(seconds * 1000)
    print(
        f"{len(versions)} edits, {broken} of them not valid Python; parse: {'full' if args.full_parse else 'incremental'}; "
        f"rule memo: {'off' if memo is None else 'on'}"
    )
    for k, v in phases.items():
        print(f"{k:>6}: p50 {statistics.median(v):6.1f} ms   p95 {p95(v):6.1f} ms")
    print("slowest rules (p50 ms; work shared between rules counts for the first to ask):")
    for code, v in sorted(rules.items(), key=lambda kv: -statistics.median(kv[1]))[:6]:
        print(f"  {code} {statistics.median(v):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
