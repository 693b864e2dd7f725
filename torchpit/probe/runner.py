"""Caller side: choose probes, run each in its own worker subprocess, cache the results.

Nothing here imports torch; the language server can call these functions directly.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from torchpit.probe import cache
from torchpit.probe.isolation import WorkerOutcome, run_worker
from torchpit.probe.registry import VARIANT_ENV, all_probes
from torchpit.probe.result import (
    ERROR, SKIPPED, TIMEOUT, UNAVAILABLE, ProbeInfo, ProbeResult, TorchUnavailableError,
)
from torchpit.probe.spec import CallSpec, describe_call, parse_call_spec, unknown_arguments
from torchpit.probe.worker import DEVICES


@dataclass(frozen=True)
class ProbeEnvironment:
    """The torch and device the probes run on, as a worker reported them."""

    torch_version: str
    device: str
    device_name: str
    python: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)

    @property
    def label(self) -> str:
        return "CPU" if self.device == "cpu" else f"{self.device.upper()} ({self.device_name})"


@dataclass(frozen=True)
class _Task:
    info: ProbeInfo
    variant: str | None

    @property
    def probe_id(self) -> str:
        return f"{self.info.id}:{self.variant}" if self.variant else self.info.id

    @property
    def title(self) -> str:
        return f"{self.info.title} ({self.variant})" if self.variant else self.info.title


def list_probes() -> list[ProbeInfo]:
    """Every rule probe, in rule order."""
    return sorted(all_probes(), key=lambda info: (info.rule, info.id))


def probes_for_rule(code: str) -> list[ProbeInfo]:
    """The probes that demonstrate rule ``code`` (e.g. "PIT301"); empty if it has none."""
    return [info for info in list_probes() if info.rule == code.upper()]


def probe_environment(device: str = "auto", timeout: float = 60, python: str | None = None) -> ProbeEnvironment:
    """Ask a worker which torch and device it sees; raise TorchUnavailableError if it cannot run."""
    _check_device(device)
    outcome = run_worker({"kind": "env", "device": device}, timeout, python)
    answer = _require_answer(outcome)
    env = answer["env"]
    return ProbeEnvironment(env["torch_version"], env["device"], env["device_name"], python or sys.executable)


def torch_status(python: str | None = None, timeout: float = 60) -> tuple[bool, str]:
    """(True, "torch 2.13.0+cpu on CPU") when probes can run, else (False, what to do about it)."""
    try:
        env = probe_environment("auto", timeout, python)
    except TorchUnavailableError as exc:
        return False, str(exc)
    return True, f"torch {env.torch_version} on {env.label}"


def run_rule_probes(
    rules: list[str] | None = None,
    device: str = "auto",
    timeout: float = 60,
    use_cache: bool = True,
    *,
    python: str | None = None,
    jobs: int | None = None,
) -> list[ProbeResult]:
    """Run the probes of ``rules`` (all probes when None), each in a fresh subprocess.

    ``device``: auto|cuda|mps|cpu. ``timeout``: seconds per probe. ``python``: the interpreter
    whose torch is probed (default: this one). ``jobs``: probes run side by side.
    Raises ValueError for an unknown device or a rule without a probe, and
    TorchUnavailableError when torch is missing or the device cannot be used.
    """
    infos = _select(rules)
    env = probe_environment(device, timeout, python)
    tasks = [_Task(info, None) for info in infos]
    tasks += [_Task(info, variant) for info in infos for variant in info.cuda_only_variants]
    tasks.sort(key=lambda task: (task.info.rule, task.probe_id))
    workers = max(1, jobs or min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda task: _run_task(task, env, timeout, use_cache), tasks))


def run_call_probe(
    spec: dict[str, Any], device: str = "auto", timeout: float = 30, *, python: str | None = None,
) -> ProbeResult:
    """Rebuild the call described by ``spec`` (see torchpit.probe.spec) and run it.

    Raises SpecError for a malformed spec, ValueError for an unknown device and
    TorchUnavailableError when torch is missing or the device cannot be used. An argument
    marked ``{"unknown": ...}`` gives status ``unavailable`` without running anything.
    """
    parsed = parse_call_spec(spec)
    _check_device(device)
    probe_id, title = f"call:{parsed.rule}", f"call-site probe: {describe_call(parsed)}"
    unknown = unknown_arguments(parsed)
    if unknown:
        reasons = "; ".join(f"{path} is unknown ({why})" for path, why in unknown)
        return ProbeResult(probe_id, parsed.rule or "", title, device, "", "", UNAVAILABLE,
                           f"not run: {reasons}", {"unknown_arguments": dict(unknown)})
    started = time.monotonic()
    outcome = run_worker({"kind": "call", "device": device, "spec": spec}, timeout, python)
    duration = round(time.monotonic() - started, 3)
    return _call_result(parsed, probe_id, title, device, outcome, duration)


def _check_device(device: str) -> None:
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")


def _select(rules: list[str] | None) -> list[ProbeInfo]:
    if rules is None:
        return list_probes()
    selected: list[ProbeInfo] = []
    for code in rules:
        found = probes_for_rule(code)
        if not found:
            known = sorted({info.rule for info in list_probes()})
            raise ValueError(f"no probe for rule {code!r}; rules with probes: {', '.join(known)}")
        selected += [info for info in found if info not in selected]
    return selected


def _require_answer(outcome: WorkerOutcome) -> dict[str, Any]:
    if outcome.answer is None:
        raise TorchUnavailableError(f"could not check torch: {outcome.failure}")
    if not outcome.answer.get("ok"):
        message = str(outcome.answer.get("message", "unknown problem"))
        if outcome.answer.get("problem") == "bad-request":
            raise ValueError(message)
        raise TorchUnavailableError(message)
    return outcome.answer


def _result(task: _Task, env: ProbeEnvironment, status: str, message: str,
            observations: dict[str, Any], duration: float) -> ProbeResult:
    return ProbeResult(
        probe=task.probe_id, rule=task.info.rule, title=task.title, device=env.device,
        device_name=env.device_name, torch_version=env.torch_version, status=status,
        summary=f"on your torch {env.torch_version} and {env.label}, {message}",
        observations=observations, duration_s=duration,
    )


def _run_task(task: _Task, env: ProbeEnvironment, timeout: float, use_cache: bool) -> ProbeResult:
    if task.variant and env.device != "cuda":
        return _result(task, env, SKIPPED, f"the {task.variant} variant needs CUDA (skipped)", {}, 0.0)
    path = cache.cache_path(env.torch_version, env.device, env.device_name, task.probe_id, task.info.version)
    if use_cache:
        hit = cache.load(path)
        if hit is not None:
            return hit
    request = {"kind": "rule", "device": env.device, "probe": task.info.id, "variant": task.variant}
    started = time.monotonic()
    outcome = run_worker(request, timeout, env.python, VARIANT_ENV.get(task.variant or ""))
    duration = round(time.monotonic() - started, 3)
    result = _result(task, env, *_finding_of(outcome), duration)
    cache.store(path, result)
    return result


def _finding_of(outcome: WorkerOutcome) -> tuple[str, str, dict[str, Any]]:
    """(status, message, observations) from whatever the worker did."""
    if outcome.timed_out:
        return TIMEOUT, f"the probe {outcome.failure}", {}
    if outcome.answer is None:
        return ERROR, f"{outcome.failure}", {"returncode": outcome.returncode}
    if not outcome.answer.get("ok"):
        return ERROR, str(outcome.answer.get("message")), {"problem": outcome.answer.get("problem")}
    finding = outcome.answer["finding"]
    return finding["status"], finding["message"], finding["observations"]


def _call_result(spec: CallSpec, probe_id: str, title: str, device: str,
                 outcome: WorkerOutcome, duration: float) -> ProbeResult:
    answer = outcome.answer
    if answer is not None and not answer.get("ok"):
        _require_answer(outcome)  # raises the one-line message
    if answer is None:
        status, message, observations = _finding_of(outcome)
        return ProbeResult(probe_id, spec.rule or "", title, device, "", "", status, message,
                           observations, duration)
    env = ProbeEnvironment(answer["env"]["torch_version"], answer["env"]["device"],
                           answer["env"]["device_name"], "")
    status, message, observations = _finding_of(outcome)
    return ProbeResult(probe_id, spec.rule or "", title, env.device, env.device_name, env.torch_version,
                       status, f"on your torch {env.torch_version} and {env.label}, {message}",
                       observations, duration)
