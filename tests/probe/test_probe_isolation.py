"""A worker that hangs, aborts, segfaults or prints garbage never takes down the caller.

The misbehaving workers are stand-in interpreters (small shell scripts passed as ``python=``):
the isolation layer treats them exactly like a torch worker that went wrong.
"""

from __future__ import annotations

import stat
import sys
import time
from pathlib import Path

import pytest

from torchpit.probe import TorchUnavailableError, run_call_probe, run_rule_probes

SPEC = {"rule": "PIT401", "op": "torch.index_select",
        "args": [{"tensor": {"shape": [4], "dtype": "float32"}}, {"value": 0},
                 {"tensor": {"values": [1.0], "dtype": "float32"}}]}


def fake_python(tmp_path: Path, name: str, body: str) -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return str(script)


def running(pid: int) -> bool:
    """Alive and not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_hanging_worker_times_out_and_is_killed(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild.pid"
    python = fake_python(tmp_path, "hang", f"sleep 30 & echo $! > {pid_file}; wait")
    started = time.monotonic()
    result = run_call_probe(SPEC, device="cpu", timeout=2.0, python=python)
    assert time.monotonic() - started < 10
    assert result.status == "timeout"
    assert "no answer within 2s; the worker was killed" in result.summary
    assert result.rule == "PIT401"
    if pid_file.exists() and pid_file.read_text().strip():  # the worker got as far as starting it
        grandchild = int(pid_file.read_text())
        deadline = time.monotonic() + 5
        while running(grandchild) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(grandchild)  # the whole process group was killed


def test_aborting_worker_is_an_error_result(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "abort", f"exec {sys.executable} -c 'import os; os.abort()'")
    result = run_call_probe(SPEC, device="cpu", python=python)
    assert result.status == "error"
    assert "killed by SIGABRT without an answer" in result.summary


def test_segfaulting_worker_is_an_error_result_with_its_stderr(tmp_path: Path) -> None:
    crash = "import ctypes; ctypes.string_at(0)"
    python = fake_python(tmp_path, "segv", f"exec {sys.executable} -X faulthandler -c '{crash}'")
    result = run_call_probe(SPEC, device="cpu", python=python)
    assert result.status == "error"
    assert "killed by SIGSEGV" in result.summary
    assert "in string_at" in result.summary  # the tail of the faulthandler's stderr comes back


def test_garbage_output_is_an_error_result(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "garbage", "echo 'not a result'; exit 3")
    result = run_call_probe(SPEC, device="cpu", python=python)
    assert result.status == "error"
    assert "exited with status 3 without an answer" in result.summary


def test_rule_probes_report_a_hung_environment_check(tmp_path: Path) -> None:
    python = fake_python(tmp_path, "hang", "sleep 30")
    with pytest.raises(TorchUnavailableError, match=r"could not check torch: no answer within 1s"):
        run_rule_probes(["PIT207"], device="cpu", timeout=1.0, python=python)
