"""Command line: ``torchpit check | rules | explain | server | probe``."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torchpit")
    sub = parser.add_subparsers(dest="command", required=True)
    check = sub.add_parser("check")
    check.add_argument("paths", nargs="*", default=["."])
    args = parser.parse_args(argv)
    from pathlib import Path

    from torchpit.analyzers.engine import analyze

    found = 0
    for root in args.paths:
        files = [Path(root)] if Path(root).is_file() else sorted(Path(root).rglob("*.py"))
        for f in files:
            for d in analyze(f.read_text(encoding="utf-8", errors="replace"), str(f)).diagnostics:
                found += 1
                print(f"{f}:{d.range.start.line + 1}:{d.range.start.col + 1}: {d.code} {d.message}")
    return 1 if found else 0
