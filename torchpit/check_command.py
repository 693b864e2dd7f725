"""``torchpit check``: from the parsed options to the output and the exit code.

Exit codes: 0 no findings, 1 findings, 2 usage, configuration or I/O error.
The findings (and, for the text formats, the summary) go to stdout or ``--output-file``; the
summary of ``--diff`` and every warning go to stderr, as ruff does. Reading stdin with
``--fix`` prints the fixed source on stdout and the findings left on stderr.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, Callable

from torchpit import formats, render
from torchpit.analyzers.engine.config import ConfigError
from torchpit.analyzers.engine.fixes import write_atomic
from torchpit.batch import FileResult, FixMode, Overrides, RunOptions, UsageError, check_source, config_loader, discover, run_check

TEXT_FORMATS = ("full", "concise", "text")
JSON_FORMATS = ("json", "json-lines")


class UsageProblem(Exception):
    """Options that do not go together; exit code 2."""


@dataclass
class CheckRequest:
    args: argparse.Namespace
    paths: list[str]
    stdin: bool = False
    stdin_name: str = "-"
    output_format: str = "full"
    fix_mode: FixMode = field(default_factory=FixMode)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "CheckRequest":
        paths = list(args.paths or [])
        stdin = paths == ["-"] or (not paths and args.stdin_filename is not None)
        if "-" in paths and not stdin:
            raise UsageProblem("- (stdin) cannot be combined with other paths")
        if args.stdin_filename is not None and not stdin:
            raise UsageProblem("--stdin-filename needs the path - (read from stdin)")
        if args.config and not os.path.isfile(args.config):
            raise UsageProblem(f"{args.config}: no such configuration file")
        exclusive = [name for name, on in (("--fix", args.fix), ("--fix-only", args.fix_only), ("--diff", args.diff), ("--add-noqa", args.add_noqa)) if on]
        if args.add_noqa and len(exclusive) > 1:
            raise UsageProblem(f"--add-noqa cannot be combined with {', '.join(n for n in exclusive if n != '--add-noqa')}")
        if args.diff and (args.fix or args.fix_only):
            raise UsageProblem("--diff shows the fixes without applying them: use it without --fix/--fix-only")
        if stdin and (args.add_noqa or args.watch):
            raise UsageProblem(f"{'--add-noqa' if args.add_noqa else '--watch'} needs files, not stdin")
        if args.write_baseline and args.baseline:
            raise UsageProblem("use --write-baseline FILE to record the findings, or --baseline FILE to hide them, not both")
        fmt = "concise" if args.output_format == "text" else args.output_format
        fix = FixMode(fix=args.fix or args.fix_only, unsafe=args.unsafe_fixes, diff=args.diff or (stdin and (args.fix or args.fix_only)))
        return cls(args, paths or ["."], stdin, args.stdin_filename or "-", fmt, fix)

    def run_options(self) -> RunOptions:
        a = self.args
        return RunOptions(
            overrides=Overrides(
                select=a.select,
                extend_select=a.extend_select,
                ignore=tuple(a.ignore or ()),
                jedi=False if a.no_jedi else None,
                config_file=a.config,
                exclude=a.exclude,
                extend_exclude=tuple(a.extend_exclude or ()),
                max_file_size=a.max_file_size,
            ),
            fix_mode=self.fix_mode,
            use_cache=not a.no_cache,
            cache_dir=a.cache_dir,
            jobs=a.jobs,
        )


# ---------------------------------------------------------------------- analysis
def _analyze(request: CheckRequest, sources: render.Sources, stdin: IO[bytes] | None) -> list[FileResult]:
    options = request.run_options()
    if not request.stdin:
        return sorted(run_check(request.paths, options), key=lambda r: r.path)
    raw = (stdin or sys.stdin.buffer).read()
    name = request.stdin_name
    config = config_loader(options.overrides)(name if name != "-" else os.getcwd())
    display = name  # "-" without --stdin-filename: Python source, as ruff reads it
    sources.given[display] = raw
    result = check_source(display, raw, config, options.fix_mode)
    if result.fixed_text is not None and not request.args.diff:
        # stdin --fix: what is left is what the fixed text still has
        fixed_raw = result.fixed_text.encode("utf-8")
        rest = check_source(display, fixed_raw, config, FixMode())
        rest.fixed, rest.fixed_codes, rest.fixed_text = result.fixed, result.fixed_codes, result.fixed_text
        sources.given[display] = fixed_raw
        result = rest
    return [result]


def _warn(results: list[FileResult], err: IO[str]) -> None:
    seen = set()
    for r in results:
        for message in (*r.rule_errors, *r.warnings):
            if message not in seen:
                seen.add(message)
                print(f"torchpit: warning: {message}", file=err)


# ---------------------------------------------------------------------- one run
def run_once(request: CheckRequest, *, stdin: IO[bytes] | None = None, out: IO[str] | None = None, err: IO[str] | None = None) -> int:
    args = request.args
    out = out or sys.stdout
    err = err or sys.stderr
    sources = render.Sources()
    try:
        results = _analyze(request, sources, stdin)
    except (UsageError, ConfigError) as exc:
        print(f"torchpit: error: {exc}", file=err)
        return 2
    _warn(results, err)

    if args.add_noqa:
        return _add_noqa(results, err)
    if args.write_baseline:
        from torchpit.baseline import write_baseline

        try:
            n = write_baseline(args.write_baseline, results, sources)
        except UsageError as exc:
            print(f"torchpit: error: {exc}", file=err)
            return 2
        print(f"Recorded {render.plural(n, 'finding')} in {args.write_baseline}.", file=err)
        return 0
    baselined = 0
    if args.baseline:
        from torchpit.baseline import Baseline

        try:
            baselined = Baseline.load(args.baseline).filter(results, sources)
        except UsageError as exc:
            print(f"torchpit: error: {exc}", file=err)
            return 2
    if args.probe:
        from torchpit.probe_attach import attach_probe_results

        problem = attach_probe_results(results, device=args.probe_device)
        if problem:
            print(f"torchpit: warning: --probe could not run: {problem}", file=err)

    # Where the report goes: stdout, or stderr when stdout carries the fixed stdin source.
    fixed_stdin = request.stdin and request.fix_mode.fix
    buffer = io.StringIO()
    target: IO[str] = buffer if args.output_file else (err if fixed_stdin else out)
    style = render.Style(render.Style.wanted(args.color, None if args.output_file else target))
    if fixed_stdin:
        r = results[0]
        out.write(r.fixed_text if r.fixed_text is not None else sources.given[r.path].decode("utf-8", errors="surrogateescape"))
    fixed = sum(r.fixed for r in results)
    if args.diff:
        diffs = "".join(r.diff for r in results if r.diff)
        render.write(target, diffs)
        if args.show_fixes:
            render.write(err, render.format_fixes(results, would=True))
        if not args.quiet:
            print(f"Would fix {render.plural(fixed, 'finding')}." if fixed else "No fixes available.", file=err)
        code = 1 if diffs and not args.exit_zero else 0
    elif args.fix_only:
        if request.output_format in TEXT_FORMATS and not fixed_stdin:
            text = render.format_fixes(results) if args.show_fixes else ""
            render.write(target, text or (f"Fixed {render.plural(fixed, 'finding')}." if fixed else "No fixes applied."))
        code = 0
    else:
        _report(request, results, sources, target, style, fixed, baselined)
        found = any(r.diagnostics for r in results)
        code = 1 if found and not args.exit_zero else 0
    if args.output_file:
        try:
            write_atomic(args.output_file, buffer.getvalue())
        except OSError as exc:
            print(f"torchpit: error: {args.output_file}: cannot write: {exc.strerror or exc}", file=err)
            return 2
    return code


def _report(request: CheckRequest, results: list[FileResult], sources: render.Sources, out: IO[str], style: render.Style, fixed: int, baselined: int) -> None:
    args = request.args
    fmt = request.output_format
    unsafe = args.unsafe_fixes
    if args.statistics:
        rows = render.statistics_rows(results, unsafe=unsafe)
        if fmt == "json":
            render.write(out, json.dumps(rows, indent=2))
        elif fmt == "json-lines":
            render.write(out, "\n".join(json.dumps(row) for row in rows))
        else:
            render.write(out, render.format_statistics(rows))
    elif fmt == "full":
        render.write(out, render.format_full(results, sources, unsafe=unsafe, style=style, columns=None if args.output_file else render.terminal_width(out)))
    elif fmt == "concise":
        render.write(out, render.format_concise(results, unsafe=unsafe, style=style))
    else:
        render.write(out, _machine_format(fmt, results, sources))
    if fmt not in TEXT_FORMATS:
        return
    if args.show_fixes:
        applied = request.fix_mode.fix
        render.write(out, render.format_fixes(results, would=not applied, unsafe=unsafe))
    if not args.quiet:
        if fmt == "full" and any(r.diagnostics for r in results) and not args.statistics:
            out.write("\n")
        render.write(out, render.summary(results, unsafe=unsafe, fixed=fixed, baselined=baselined))


def _machine_format(fmt: str, results: list[FileResult], sources: render.Sources) -> str:
    if fmt == "json":
        return formats.format_json(results)
    if fmt == "json-lines":
        return formats.format_json_lines(results)
    if fmt == "sarif":
        return formats.format_sarif(results)
    if fmt == "github":
        return formats.format_github(results)
    if fmt == "junit":
        return formats.format_junit(results)
    if fmt == "gitlab":
        return formats.format_gitlab(results, sources)
    raise ValueError(f"unknown output format {fmt!r}")  # argparse's choices keep this unreachable


def _add_noqa(results: list[FileResult], err: IO[str]) -> int:
    from torchpit.batch import read_bytes, read_python
    from torchpit.noqa import add_noqa_to_notebook, add_noqa_to_text

    total = 0
    for r in results:
        if not any(d.is_rule for d in r.diagnostics):
            continue
        try:
            raw = read_bytes(r.path)
            if r.notebook:
                new, n = add_noqa_to_notebook(raw.decode("utf-8"), r.diagnostics)
                encoding = "utf-8"
            else:
                src = read_python(raw)
                new, n = add_noqa_to_text(src.text, r.diagnostics)
                encoding = src.encoding
            if n:
                write_atomic(r.path, new, encoding)
                total += n
        except (OSError, UnicodeError, ValueError) as exc:
            print(f"torchpit: error: {r.path}: cannot add noqa comments: {exc}", file=err)
            return 2
    print(f"Added {render.plural(total, 'noqa directive')}.", file=err)
    return 0


# ---------------------------------------------------------------------- --watch
def _snapshot(request: CheckRequest) -> dict[str, tuple[int, int]]:
    config_for = config_loader(request.run_options().overrides)
    out = {}
    try:
        files = discover(request.paths, config_for)
    except (UsageError, ConfigError):
        return {}
    for f in files:
        try:
            st = os.stat(f)
        except OSError:
            continue
        out[f] = (st.st_mtime_ns, st.st_size)
    return out


def watch(request: CheckRequest, *, interval: float = 0.5, rounds: int | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Check, then check again each time a file is added, removed or changed. Ctrl-C stops it."""
    out = sys.stdout
    print("Watching for file changes (Ctrl-C to stop).", file=sys.stderr, flush=True)
    code = run_once(request)
    out.flush()
    before = _snapshot(request)
    done = 0
    try:
        while rounds is None or done < rounds:
            sleep(interval)
            now = _snapshot(request)
            if now == before:
                continue
            before = now
            done += 1
            print(f"\n[{time.strftime('%H:%M:%S')}] File change detected, checking again.", file=sys.stderr, flush=True)
            code = run_once(request)
            out.flush()
    except KeyboardInterrupt:
        return 0
    return code
