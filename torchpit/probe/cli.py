"""``torchpit probe``: run the probes from the command line.

The main CLI registers this with :func:`add_parser`; ``python -m torchpit.probe`` runs it alone.
Exit status: 0 when the probes ran (whatever they found), 2 on a usage error, a malformed
spec, or when torch is missing or the device is unusable (one line on stderr, no traceback).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from torchpit.probe.result import ProbeResult, SpecError, TorchUnavailableError
from torchpit.probe.runner import (
    ProbeEnvironment, list_probes, probe_environment, run_call_probe, run_rule_probes,
)
from torchpit.probe.worker import DEVICES

USAGE_ERROR = 2


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register the ``probe`` subcommand on an argparse subparsers object."""
    parser = subparsers.add_parser(
        "probe", help="confirm pitfalls on your own torch and device",
        description="Run tiny synthetic programs, each in its own subprocess, that show how "
                    "each pitfall behaves on the installed torch and the chosen device.")
    configure(parser)
    return parser


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--rule", action="append", metavar="CODE", help="probe only this rule (repeatable)")
    parser.add_argument("--device", choices=DEVICES, default="auto",
                        help="auto picks cuda, then mps, then cpu (default: auto)")
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per probe (default: 60)")
    parser.add_argument("--no-cache", action="store_true", help="run every probe again, ignoring the cache")
    parser.add_argument("--list", action="store_true", help="list the probes and exit")
    parser.add_argument("--spec", metavar="FILE_OR_JSON",
                        help="run a call-site probe from a call spec (a JSON file or inline JSON)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    stdout = out or sys.stdout
    if args.list:
        _print_list(args.format, stdout)
        return 0
    started = time.monotonic()
    try:
        if args.spec:
            results = [run_call_probe(_load_spec(args.spec), args.device, args.timeout)]
            env = _environment_of(results[0])
        else:
            results = run_rule_probes(args.rule, args.device, args.timeout, use_cache=not args.no_cache)
            env = probe_environment(args.device, args.timeout) if not results else _environment_of(results[0])
    except (TorchUnavailableError, SpecError, ValueError) as exc:
        print(f"torchpit probe: {exc}", file=sys.stderr)
        return USAGE_ERROR
    elapsed = time.monotonic() - started
    if args.format == "json":
        json.dump({"environment": env.to_dict(), "results": [r.to_dict() for r in results]}, stdout, indent=2)
        stdout.write("\n")
    else:
        _print_text(results, env, elapsed, stdout)
    return 0


def _load_spec(source: str) -> dict[str, Any]:
    text = source if source.lstrip().startswith("{") else _read(source)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"the call spec is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError("the call spec must be a JSON object")
    return data


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpecError(f"cannot read call spec {path!r}: {exc.strerror}") from None


def _environment_of(result: ProbeResult) -> ProbeEnvironment:
    return ProbeEnvironment(result.torch_version, result.device, result.device_name, sys.executable)


def _print_list(fmt: str, out: TextIO) -> None:
    infos = list_probes()
    if fmt == "json":
        json.dump([info.to_dict() for info in infos], out, indent=2)
        out.write("\n")
        return
    for info in infos:
        extras = (["needs CUDA for its figures"] if info.needs_cuda else []) + [
            f"CUDA-only variant: {v}" for v in info.cuda_only_variants]
        suffix = f"  [{'; '.join(extras)}]" if extras else ""
        out.write(f"{info.rule}  {info.id:<38} {info.title}{suffix}\n")


def _print_text(results: list[ProbeResult], env: ProbeEnvironment, elapsed: float, out: TextIO) -> None:
    for result in results:
        cached = " (cached)" if result.cached else ""
        out.write(f"{result.rule}  {result.status:<13} {result.probe}{cached}: {result.summary}\n")
    torch_part = f"torch {env.torch_version}" if env.torch_version else "torch not reached"
    out.write(f"device: {env.device} ({env.device_name or '?'}), {torch_part}, "
              f"python {env.python}; {len(results)} result(s) in {elapsed:.1f}s\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m torchpit.probe")
    configure(parser)
    args = parser.parse_args(argv)
    return int(args.func(args))
