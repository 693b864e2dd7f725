"""Results are cached per (torch version, device, probe version); --no-cache is in test_probe_cli."""

from __future__ import annotations

from pathlib import Path

import pytest

from torchpit.probe import ProbeResult, run_rule_probes
from torchpit.probe import cache


def test_second_run_is_served_from_the_cache(
        cpu_results: dict[str, ProbeResult], session_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))
    again = run_rule_probes(["PIT207", "PIT301"], device="cpu")
    assert [r.cached for r in again] == [True, True]
    for result in again:
        first = cpu_results[result.probe]
        assert (result.summary, result.observations) == (first.summary, first.observations)
    files = sorted(p.name for p in (session_cache / "torchpit" / "probe").rglob("*.json"))
    assert "missing-zero-grad.v1.f1.json" in files


def test_cache_path_honours_xdg_and_keys_on_torch_device_and_version(private_cache: Path) -> None:
    path = cache.cache_path("2.13.0+cpu", "cuda", "NVIDIA H100 80GB HBM3", "missing-zero-grad", 3)
    assert path == (private_cache / "torchpit" / "probe" / "2.13.0+cpu" / "cuda-nvidia-h100-80gb-hbm3"
                    / "missing-zero-grad.v3.f1.json")


def test_only_behaviour_is_cached(private_cache: Path) -> None:
    path = cache.cache_path("2.13.0+cpu", "cpu", "CPU", "missing-zero-grad", 1)
    result = ProbeResult("missing-zero-grad", "PIT207", "t", "cpu", "CPU", "2.13.0+cpu", "timeout", "s")
    cache.store(path, result)
    assert not path.exists()
    result.status = "confirmed"
    cache.store(path, result)
    assert cache.load(path) == ProbeResult(**{**result.to_dict(), "cached": True})
    path.write_text("{not json", encoding="utf-8")
    assert cache.load(path) is None
