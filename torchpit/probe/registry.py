"""The catalog of rule probes.

Probe modules register their functions with :func:`probe`. Registering imports no torch:
probe functions import nothing at module level and receive torch through their context.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from torchpit.probe.result import ProbeInfo

PROBE_MODULES = (
    "torchpit.probe.probes.losses",
    "torchpit.probe.probes.autograd",
    "torchpit.probe.probes.modes",
    "torchpit.probe.probes.indexing",
)

#: environment variables set for the subprocess of each CUDA-only variant
VARIANT_ENV: dict[str, dict[str, str]] = {
    "launch-blocking": {"CUDA_LAUNCH_BLOCKING": "1"},
}


@dataclass(frozen=True)
class Finding:
    """What a probe function reports: a status, the tail of the summary, the figures."""

    status: str
    message: str
    observations: dict[str, Any]


@dataclass(frozen=True)
class ProbeContext:
    """What a probe function gets: torch, the device string, the variant being run."""

    torch: Any
    device: str
    variant: str | None = None

    @property
    def is_cuda(self) -> bool:
        return self.device == "cuda"

    def sync(self) -> None:
        if self.is_cuda:
            self.torch.cuda.synchronize()


ProbeFn = Callable[[ProbeContext], Finding]

_PROBES: dict[str, tuple[ProbeInfo, ProbeFn]] = {}


def probe(
    probe_id: str,
    rule: str,
    title: str,
    *,
    version: int = 1,
    needs_cuda: bool = False,
    cuda_only_variants: tuple[str, ...] = (),
) -> Callable[[ProbeFn], ProbeFn]:
    """Register a probe function under ``probe_id``."""
    unknown = [v for v in cuda_only_variants if v not in VARIANT_ENV]
    if unknown:
        raise ValueError(f"unknown probe variants: {unknown}")

    def register(fn: ProbeFn) -> ProbeFn:
        info = ProbeInfo(probe_id, rule, title, version, needs_cuda, cuda_only_variants)
        _PROBES[probe_id] = (info, fn)
        return fn

    return register


def _load() -> dict[str, tuple[ProbeInfo, ProbeFn]]:
    for module in PROBE_MODULES:
        importlib.import_module(module)
    return _PROBES


def all_probes() -> list[ProbeInfo]:
    return [info for info, _ in _load().values()]


def get_probe(probe_id: str) -> tuple[ProbeInfo, ProbeFn]:
    probes = _load()
    if probe_id not in probes:
        raise KeyError(f"unknown probe {probe_id!r}")
    return probes[probe_id]


def error_text(exc: BaseException, limit: int = 300) -> str:
    """``Type: first line of the message``, shortened: how errors appear in observations."""
    lines = str(exc).strip().splitlines()
    first = lines[0] if lines else ""
    return f"{type(exc).__name__}: {first}"[:limit]
