"""Shared fixtures: every test gets its own probe cache; the full CPU probe run happens once."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from torchpit.probe import ProbeResult, run_rule_probes


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("session-cache")


@pytest.fixture(scope="session")
def cpu_results(session_cache: Path) -> Iterator[dict[str, ProbeResult]]:
    """All rule probes, run once on CPU into the session cache (no cache read)."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(session_cache)
    try:
        results = run_rule_probes(device="cpu", use_cache=False)
    finally:
        if saved is None:
            del os.environ["XDG_CACHE_HOME"]
        else:
            os.environ["XDG_CACHE_HOME"] = saved
    yield {result.probe: result for result in results}
