"""The torchpit language server (pygls): ``torchpit server`` / ``python -m torchpit.server``.

Diagnostics on open, change and save (pushed, or pulled by clients that support it), quick
fixes, ``# noqa`` actions, fix-all, hover docs, notebooks, per-folder settings and an
optional probe. See ``server.py`` for the handlers and the modules next to it for the logic.
"""

from __future__ import annotations

import argparse
import logging
import sys

__all__ = ["main"]


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torchpit server", description="Run the torchpit language server (stdio by default).")
    parser.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on a TCP socket instead of stdio")
    parser.add_argument("--log-file", metavar="PATH", help="write the server's log here (default: stderr)")
    parser.add_argument(
        "--log-level", default="WARNING", type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default: WARNING)",
    )
    parser.add_argument(
        "--pool", choices=["thread", "process"], default="thread",
        help="where analyses run: a worker thread (default) or a worker process",
    )
    return parser.parse_args(argv)


def _setup_logging(path: str | None, level: str) -> None:
    handler: logging.Handler = logging.FileHandler(path, encoding="utf-8") if path else logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # pygls logs every message it sends at INFO: only at DEBUG is that wanted.
    logging.getLogger("pygls").setLevel(level if level == "DEBUG" else max(logging.WARNING, logging.getLevelName(level)))


def main(argv: list[str] | None = None) -> int:
    """Run the server until the client says ``exit`` (or goes away). Returns the exit status."""
    args = _parse_args(argv)
    _setup_logging(args.log_file, args.log_level)
    if args.tcp:
        host, sep, port = args.tcp.rpartition(":")
        if not sep or not port.isdigit():
            print(f"torchpit server: --tcp expects HOST:PORT, got {args.tcp!r}", file=sys.stderr)
            return 2
    from .server import create_server

    server = create_server(args.pool)
    if args.tcp:
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io()
    return 0 if server.shutdown_requested else 1
