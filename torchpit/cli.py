"""Command line: ``torchpit check | rules | explain | server | probe``.

Exit codes of ``check``: 0 no findings, 1 findings, 2 usage, configuration or I/O error.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

from torchpit import __version__


def _selectors(value: str) -> tuple[str, ...]:
    from torchpit.analyzers.engine.config import ConfigError, validate_selector

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


CHECK_EXAMPLES = """\
examples:
  torchpit check                          analyze the current folder
  torchpit check src/ --select PIT1       only the loss rules (PIT101..PIT105)
  torchpit check --output-format concise  one line per finding
  torchpit check --fix --show-fixes       apply the safe fixes and list them
  torchpit check - --stdin-filename train.py < train.py
  torchpit check --write-baseline .torchpit-baseline.json   record today's findings
  torchpit check --baseline .torchpit-baseline.json         report only new ones

exit codes: 0 no findings, 1 findings, 2 usage, configuration or I/O error.
"""


class _ExampleFormatter(argparse.RawDescriptionHelpFormatter):
    """Help text wrapped as usual, with its "Example: ..." on a line of its own, never broken."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        body, sep, example = text.partition(" Example: ")
        lines = super()._split_lines(body, width)
        return lines + [f"example: {example}"] if sep else lines


def _add_check_parser(sub) -> None:
    from torchpit.formats import FORMATS

    check = sub.add_parser(
        "check",
        help="analyze files and folders",
        description="Analyze Python files and notebooks for PyTorch pitfalls.",
        epilog=CHECK_EXAMPLES,
        formatter_class=_ExampleFormatter,
    )
    add = check.add_argument
    add("paths", nargs="*", metavar="PATH", help="files or folders to analyze, or - for stdin (default: .). Example: torchpit check src/ notebooks/")
    g = check.add_argument_group("rule selection")
    g.add_argument("--select", type=_selectors, metavar="RULES", help="comma-separated codes, prefixes or names; replaces the configuration's selection. Example: --select PIT1,PIT301")
    g.add_argument("--extend-select", type=_selectors, metavar="RULES", help="rules to add to the selection. Example: --extend-select PIT4")
    g.add_argument("--ignore", type=_selectors, default=(), metavar="RULES", help="rules to switch off. Example: --ignore PIT207,missing-eval-mode")
    g = check.add_argument_group("files")
    g.add_argument("--exclude", type=_patterns, metavar="PATTERNS", help="comma-separated gitignore-style patterns not to analyze, replacing the configuration's and the "
                        "defaults (.venv, build, ...). Example: --exclude 'legacy/,*_pb2.py'")
    g.add_argument("--extend-exclude", type=_patterns, default=(), metavar="PATTERNS", help="patterns to exclude on top of those. Example: --extend-exclude 'tests/data/'")
    g.add_argument("--stdin-filename", metavar="PATH", help="with PATH -, the name of the file read from stdin (for the configuration, per-file-ignores and the "
                        "output). Example: torchpit check - --stdin-filename src/train.py < src/train.py")
    g.add_argument("--config", help="use this pyproject.toml instead of the nearest one. Example: --config ci/pyproject.toml")
    g.add_argument("--max-file-size", type=_size, metavar="BYTES", help="do not analyze files above this size (for a notebook, its code cells); "
                        "overrides max-file-size, default 1000000; 0: no limit. Example: --max-file-size 5000000")
    g = check.add_argument_group("output")
    g.add_argument("--output-format", "--format", dest="output_format", choices=FORMATS, default="full", metavar="FORMAT",
                   help="full (default: the source lines with the flagged range underlined), concise (one line per finding; "
                        "'text' is its old name), json, json-lines, sarif, github (workflow annotations), junit, gitlab (Code Quality). "
                        "Example: --output-format sarif")
    g.add_argument("--output-file", "-o", metavar="FILE", help="write the output to FILE instead of stdout. Example: -o torchpit.sarif")
    g.add_argument("--color", choices=["auto", "always", "never"], default="auto", help="colour the text output: auto (default) colours on a terminal unless NO_COLOR is set, or when "
                        "FORCE_COLOR is set. Example: --color never")
    g.add_argument("--statistics", action="store_true", help="count findings per rule instead of listing them (JSON with --output-format json). Example: torchpit check --statistics")
    g.add_argument("--show-fixes", action="store_true", help="list the fixes applied (with --fix) or that --fix would apply, per file and rule. Example: torchpit check --fix --show-fixes")
    g.add_argument("--quiet", "-q", action="store_true", help="print findings only, no summary. Example: torchpit check -q")
    g.add_argument("--exit-zero", action="store_true", help="exit 0 even when there are findings. Example: torchpit check --exit-zero")
    g = check.add_argument_group("fixes")
    g.add_argument("--fix", action="store_true", help="apply the safe fixes, then report what is left. Example: torchpit check --fix")
    g.add_argument("--unsafe-fixes", action="store_true", help="also apply (with --fix) or show the fixes that may change behaviour. Example: --fix --unsafe-fixes")
    g.add_argument("--fix-only", action="store_true", help="apply the fixes and report only what was fixed; exit 0 unless something failed. Example: torchpit check --fix-only")
    g.add_argument("--diff", action="store_true", help="print the changes the fixes would make, write nothing; exit 1 if there are any. Example: torchpit check --diff")
    g.add_argument("--add-noqa", action="store_true", help="append '# noqa: CODE' to every line with a finding (existing noqa comments are extended). Example: torchpit check --add-noqa src/")
    g = check.add_argument_group("adoption")
    g.add_argument("--write-baseline", metavar="FILE", help="record every current finding in FILE and exit 0. Example: --write-baseline .torchpit-baseline.json")
    g.add_argument("--baseline", metavar="FILE", help="report only findings not recorded in FILE (matched on code, file and the flagged line's text, so "
                        "moving lines does not bring them back). Example: --baseline .torchpit-baseline.json")
    g = check.add_argument_group("running")
    g.add_argument("--watch", "-w", action="store_true", help="check again whenever a file changes (Ctrl-C stops). Example: torchpit check --watch src/")
    g.add_argument("--no-jedi", action="store_true", help="no type inference across modules (faster). Example: torchpit check --no-jedi")
    g.add_argument("--no-cache", action="store_true", help="do not read or write the result cache. Example: torchpit check --no-cache")
    g.add_argument("--cache-dir", help="where the cache lives (default: .torchpit_cache, or $TORCHPIT_CACHE_DIR). Example: --cache-dir /tmp/tp-cache")
    g.add_argument("--jobs", "-j", type=int, help="worker processes (default: one per CPU). Example: -j 4")
    g.add_argument("--probe", action="store_true", help="confirm findings by running the rule's probe on your torch (needs torch). Example: torchpit check --probe")
    g.add_argument("--probe-device", default="auto", choices=["auto", "cuda", "mps", "cpu"], help="device for --probe (default: auto). Example: --probe-device cpu")
    check.set_defaults(func=cmd_check)


def _size(value: str) -> int:
    from torchpit.analyzers.engine.config import ConfigError, validate_size

    try:
        return validate_size(int(value) if value.strip().isdigit() else value, "--max-file-size")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc).replace("--max-file-size: ", "")) from None


def _patterns(value: str) -> tuple[str, ...]:
    return tuple(p.strip() for p in value.split(",") if p.strip())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="torchpit",
        description="Catch PyTorch pitfalls: a linter, a language server and a probe.",
    )
    parser.add_argument("--version", action="version", version=f"torchpit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_check_parser(sub)

    rules = sub.add_parser("rules", help="list every rule")
    rules.add_argument("--format", choices=["text", "json"], default="text")
    rules.set_defaults(func=cmd_rules)

    explain = sub.add_parser("explain", help="print what a code means (a rule, or PIT001-PIT004)")
    explain.add_argument("rule", help="a code (PIT101, PIT001) or a rule name (softmax-before-cross-entropy)")
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
    from torchpit.check_command import CheckRequest, UsageProblem, run_once, watch

    try:
        request = CheckRequest.from_args(args)
    except UsageProblem as exc:
        return _err(str(exc))
    if args.watch:
        return watch(request)
    return run_once(request)


def cmd_rules(args: argparse.Namespace) -> int:
    from torchpit.analyzers.engine.registry import all_rules

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
    from torchpit.explain import explain

    text = explain(args.rule)
    if text is None:
        return _err(f"unknown rule {args.rule!r} (see `torchpit rules`)")
    sys.stdout.write(text)
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
