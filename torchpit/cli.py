"""Command line: ``torchpit check | rules | explain | server | probe``.

Exit codes of ``check``: 0 no findings, 1 findings, 2 usage, configuration or I/O error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Sequence

from torchpit import __version__


def _selectors(value: str) -> tuple[str, ...]:
    from torchpit.analyzers.config import ConfigError, validate_selector

    out = []
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        try:
            out.append(validate_selector(part, "command line"))
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc).replace("command line: ", "")) from None
    return tuple(out)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchpit",
        description="Catch PyTorch pitfalls: a linter, a language server and a probe.",
    )
    parser.add_argument("--version", action="version", version=f"torchpit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    check = sub.add_parser("check", help="analyze files and folders", description="Analyze Python files and notebooks.")
    check.add_argument("paths", nargs="*", default=["."], metavar="PATH", help="files or folders (default: .)")
    check.add_argument("--format", choices=["text", "json", "sarif", "github"], default="text", help="output format")
    check.add_argument("--fix", action="store_true", help="apply safe fixes")
    check.add_argument("--unsafe-fixes", action="store_true", help="also apply (with --fix) or show unsafe fixes")
    check.add_argument("--diff", action="store_true", help="print the changes fixes would make; write nothing")
    check.add_argument("--statistics", action="store_true", help="count findings per rule")
    check.add_argument("--select", type=_selectors, help="comma-separated rule codes, prefixes or names (replaces the configuration's)")
    check.add_argument("--extend-select", type=_selectors, help="rules to add to the selection")
    check.add_argument("--ignore", type=_selectors, default=(), help="rules to switch off")
    check.add_argument("--no-jedi", action="store_true", help="no type inference across modules (faster)")
    check.add_argument("--no-cache", action="store_true", help="do not read or write the result cache")
    check.add_argument("--cache-dir", help="where the cache lives (default: .torchpit_cache, or $TORCHPIT_CACHE_DIR)")
    check.add_argument("--config", help="use this pyproject.toml instead of the nearest one")
    check.add_argument("--jobs", "-j", type=int, help="worker processes (default: one per CPU)")
    check.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings")
    check.add_argument("--probe", action="store_true", help="confirm findings with the probe (needs torch)")
    check.add_argument("--probe-device", default="auto", help="device for --probe: auto|cuda|mps|cpu")
    check.add_argument("--quiet", "-q", action="store_true", help="print findings only, no summary")
    check.set_defaults(func=cmd_check)

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", choices=["text", "json"], default="text")
    rules.set_defaults(func=cmd_rules)

    explain = sub.add_parser("explain", help="print a rule's documentation")
    explain.add_argument("rule", help="a code (PIT101) or name (softmax-before-cross-entropy)")
    explain.set_defaults(func=cmd_explain)

    # `torchpit server ARGS` hands ARGS to the server's own parser (see main()); this entry
    # only lists the command in `torchpit --help`.
    sub.add_parser("server", help="run the language server (stdio by default; --tcp HOST:PORT)", add_help=False)

    try:
        from torchpit.probe import cli as probe_cli
    except ImportError:  # pragma: no cover - the probe ships with torchpit
        probe_cli = None
    if probe_cli is not None:
        probe_cli.add_parser(sub)
    return parser


def _err(message: str) -> int:
    print(f"torchpit: error: {message}", file=sys.stderr)
    return 2


def cmd_check(args: argparse.Namespace) -> int:
    from torchpit import formats
    from torchpit.analyzers.config import ConfigError
    from torchpit.batch import FixMode, Overrides, RunOptions, UsageError, run_check

    if args.config and not os.path.isfile(args.config):
        return _err(f"{args.config}: no such configuration file")
    options = RunOptions(
        overrides=Overrides(
            select=args.select,
            extend_select=args.extend_select,
            ignore=tuple(args.ignore or ()),
            jedi=False if args.no_jedi else None,
            config_file=args.config,
        ),
        fix_mode=FixMode(fix=args.fix, unsafe=args.unsafe_fixes, diff=args.diff),
        use_cache=not args.no_cache,
        cache_dir=args.cache_dir,
        jobs=args.jobs,
    )
    try:
        results = sorted(run_check(args.paths, options), key=lambda r: r.path)
    except (UsageError, ConfigError) as exc:
        return _err(str(exc))
    for r in results:
        for message in r.rule_errors:
            print(f"torchpit: warning: {message}", file=sys.stderr)
    if args.probe:
        from torchpit.probe_attach import attach_probe_results

        problem = attach_probe_results(results, device=args.probe_device)
        if problem:
            print(f"torchpit: probe unavailable: {problem}", file=sys.stderr)
    fixed = sum(r.fixed for r in results)
    if args.diff:
        diffs = [r.diff for r in results if r.diff]
        sys.stdout.write("".join(diffs))
        if not args.quiet:
            print(f"Would fix {fixed} error{'s' if fixed != 1 else ''}." if fixed else "No fixes available.", file=sys.stderr)
        return 1 if diffs and not args.exit_zero else 0
    out = sys.stdout
    if args.format == "json":
        out.write(formats.format_json(results) + "\n")
    elif args.format == "sarif":
        out.write(formats.format_sarif(results) + "\n")
    elif args.format == "github":
        text = formats.format_github(results)
        if text:
            out.write(text + "\n")
    else:
        text = "" if args.statistics else formats.format_text(results, unsafe=args.unsafe_fixes)
        if text:
            out.write(text + "\n")
        if args.probe:
            from torchpit.probe_attach import format_probe_text

            probe_text = format_probe_text(results)
            if probe_text:
                out.write(probe_text + "\n")
        if args.statistics:
            stats = formats.statistics(results, unsafe=args.unsafe_fixes)
            if stats:
                out.write(stats + "\n")
        if not args.quiet:
            line = formats.summary(results, unsafe=args.unsafe_fixes, fixed=fixed)
            if line:
                out.write(line + "\n")
    found = any(r.diagnostics for r in results)
    return 1 if found and not args.exit_zero else 0


def cmd_rules(args: argparse.Namespace) -> int:
    from torchpit.analyzers.registry import all_rules

    rules = all_rules()
    if args.format == "json":
        print(
            json.dumps(
                [
                    {
                        "code": r.code,
                        "name": r.name,
                        "summary": r.summary,
                        "severity": r.severity.value,
                        "fix": r.fix_availability.value,
                        "explanation": r.docs(),
                    }
                    for r in rules
                ],
                indent=2,
            )
        )
        return 0
    width = max(len(r.name) for r in rules)
    for r in rules:
        print(f"{r.code}  {r.name:<{width}}  {r.summary}")
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from torchpit.analyzers.registry import rule_by_code

    rule = rule_by_code(args.rule)
    if rule is None:
        return _err(f"unknown rule {args.rule!r} (see `torchpit rules`)")
    sys.stdout.write(rule.markdown())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["server"]:
        from torchpit.server import main as server_main

        return server_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
