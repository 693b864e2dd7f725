"""Result types shared by the caller side and the worker side (no torch import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

CONFIRMED = "confirmed"
NOT_CONFIRMED = "not-confirmed"
SKIPPED = "skipped"
ERROR = "error"
TIMEOUT = "timeout"
UNAVAILABLE = "unavailable"
STATUSES = (CONFIRMED, NOT_CONFIRMED, SKIPPED, ERROR, TIMEOUT, UNAVAILABLE)

#: statuses that describe torch's behaviour and can be reused from the cache
CACHEABLE_STATUSES = frozenset({CONFIRMED, NOT_CONFIRMED, SKIPPED})


class TorchUnavailableError(RuntimeError):
    """torch cannot be imported, or the requested device cannot be used.

    The message is one line meant for the user (what to install or what is broken).
    """


class SpecError(ValueError):
    """A call spec is malformed; the message names the offending field."""


@dataclass(frozen=True)
class ProbeInfo:
    """A rule probe in the catalog.

    ``needs_cuda``: the rule's claim (a memory figure) can only be confirmed on CUDA;
    on other devices the probe reports ``skipped`` with what it could measure.
    ``cuda_only_variants``: extra runs of the probe that exist only on CUDA (each in its
    own subprocess, e.g. with ``CUDA_LAUNCH_BLOCKING=1``).
    """

    id: str
    rule: str
    title: str
    version: int
    needs_cuda: bool = False
    cuda_only_variants: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ProbeResult:
    """What one probe run showed on the user's torch and device."""

    probe: str
    rule: str
    title: str
    device: str
    device_name: str
    torch_version: str
    status: str
    summary: str
    observations: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    cached: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProbeResult:
        return cls(**{name: data[name] for name in cls.__dataclass_fields__})
