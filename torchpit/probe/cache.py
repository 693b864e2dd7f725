"""On-disk cache of rule-probe results, keyed by (torch version, device, probe version).

Layout: ``$XDG_CACHE_HOME/torchpit/probe/<torch version>/<device>-<device name>/<probe>.v<N>.json``
(``~/.cache`` when XDG_CACHE_HOME is unset). Only results that describe torch's behaviour
are stored; timeouts and errors are retried on the next run.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from torchpit.probe.result import CACHEABLE_STATUSES, ProbeResult

#: bump when the worker protocol or the result layout changes
CACHE_FORMAT = 1


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "torchpit" / "probe"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+_-]+", "-", text).strip("-").lower() or "unknown"


def cache_path(torch_version: str, device: str, device_name: str, probe_id: str, version: int) -> Path:
    return (cache_root() / _slug(torch_version) / f"{_slug(device)}-{_slug(device_name)}"
            / f"{_slug(probe_id)}.v{version}.f{CACHE_FORMAT}.json")


def load(path: Path) -> ProbeResult | None:
    try:
        result = ProbeResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    result.cached = True
    return result


def store(path: Path, result: ProbeResult) -> None:
    """Write atomically; a cache that cannot be written is silently skipped."""
    if result.status not in CACHEABLE_STATUSES:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(result.to_dict(), handle, indent=1)
        os.replace(tmp, path)
    except OSError:
        return
