"""Run one worker request in its own subprocess, with a timeout, and never raise for what
happens inside it: a crash, an abort, a hang or garbage output all become a WorkerOutcome."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torchpit
from torchpit.probe.worker import RESULT_MARKER

STDERR_TAIL = 600


@dataclass(frozen=True)
class WorkerOutcome:
    """``answer`` is the worker's JSON answer, or None with ``failure`` saying why."""

    answer: dict[str, Any] | None
    failure: str | None
    timed_out: bool
    returncode: int | None


def worker_command(python: str) -> list[str]:
    return [python, "-X", "faulthandler", "-m", "torchpit.probe.worker"]


def worker_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The caller's environment, with torchpit importable even from another interpreter."""
    env = dict(os.environ)
    root = str(Path(torchpit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def run_worker(request: dict[str, Any], timeout: float, python: str | None = None,
               env_extra: dict[str, str] | None = None) -> WorkerOutcome:
    proc = subprocess.Popen(
        worker_command(python or sys.executable),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=worker_env(env_extra), text=True, errors="replace",
        start_new_session=os.name == "posix",  # so a timeout can kill the whole process group
    )
    try:
        stdout, stderr = proc.communicate(json.dumps(request), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill(proc)
        proc.communicate()
        return WorkerOutcome(None, f"no answer within {timeout:g}s; the worker was killed", True, None)
    answer = parse_answer(stdout)
    if answer is not None:  # a crash while exiting (e.g. a poisoned CUDA context) is not a failure
        return WorkerOutcome(answer, None, False, proc.returncode)
    return WorkerOutcome(None, describe_exit(proc.returncode, stderr), False, proc.returncode)


def _kill(proc: subprocess.Popen[str]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError):
        proc.kill()


def parse_answer(stdout: str) -> dict[str, Any] | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                answer = json.loads(line[len(RESULT_MARKER):])
            except json.JSONDecodeError:
                return None
            return answer if isinstance(answer, dict) else None
    return None


def describe_exit(returncode: int, stderr: str) -> str:
    if returncode < 0:
        try:
            how = f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            how = f"killed by signal {-returncode}"
    else:
        how = f"exited with status {returncode}"
    tail = " | ".join(line.strip() for line in stderr.strip().splitlines()[-4:] if line.strip())
    detail = f": {tail[-STDERR_TAIL:]}" if tail else ""
    return f"the worker {how} without an answer{detail}"
