"""What the commands return: ``torchpit.explain`` and ``torchpit.showDebugInfo``."""

from __future__ import annotations

import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Mapping

import torchpit

from .hover import explain


def _version(dist: str) -> str | None:
    try:
        return version(dist)
    except PackageNotFoundError:
        return None


def explain_command(code: Any) -> str:
    """The rule's markdown. Raises ValueError for an unknown code (answered as InvalidParams)."""
    if not isinstance(code, str):
        raise ValueError(f"expected a rule code such as 'PIT101', got {code!r}")
    text = explain(code)
    if text is None:
        raise ValueError(f"unknown rule {code!r}")
    return text


def debug_info(
    *,
    settings: Mapping[str, Any],
    encoding: str,
    mode: str,
    pool: str,
    documents: Mapping[str, Any],
    config_sources: Mapping[str, Any],
    probe_available: bool,
) -> dict[str, Any]:
    import jedi

    return {
        "versions": {
            "torchpit": torchpit.__version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "pygls": _version("pygls"),
            "lsprotocol": _version("lsprotocol"),
            "jedi": jedi.__version__,
        },
        "server": {"positionEncoding": encoding, "diagnostics": mode, "workerPool": pool, "probe": probe_available},
        "settings": dict(settings),
        "jedi": {
            "serverInterpreter": sys.executable,
            "interpreters": sorted({s.get("pythonPath") or sys.executable for s in settings.values()}),
        },
        "configuration": dict(config_sources),
        "documents": dict(documents),
    }
