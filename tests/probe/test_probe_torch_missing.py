"""torch missing or broken: one line saying what to install or what is broken, no traceback."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from torchpit.probe import TorchUnavailableError, run_call_probe, run_rule_probes, torch_status
from torchpit.probe.cli import run

SPEC = {"rule": "PIT403", "op": "torch.nn.functional.interpolate",
        "args": [{"tensor": {"shape": [3, 8, 8], "dtype": "float32"}}], "kwargs": {"size": {"value": 4}}}


@pytest.fixture(scope="module")
def python_without_torch(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A real interpreter with no torch: a bare venv (no pip, no site-packages)."""
    venv = tmp_path_factory.mktemp("no-torch") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    probe = subprocess.run([str(python), "-c", "import torch"], capture_output=True)
    assert probe.returncode != 0, "the bare venv should not see torch"
    return str(python)


def cli_args(**overrides: object) -> argparse.Namespace:
    base = dict(list=False, spec=None, rule=["PIT207"], device="cpu", timeout=30.0,
                no_cache=False, format="text")
    return argparse.Namespace(**{**base, **overrides})


def test_torch_status_says_what_to_install(python_without_torch: str) -> None:
    ok, message = torch_status(python=python_without_torch)
    assert not ok
    assert message == (f"torch is not installed for {python_without_torch}; "
                       "install it with: pip install torch")


def test_probes_raise_one_line_when_torch_is_missing(python_without_torch: str) -> None:
    with pytest.raises(TorchUnavailableError, match=r"install it with: pip install torch$"):
        run_rule_probes(["PIT207"], device="cpu", python=python_without_torch)
    with pytest.raises(TorchUnavailableError, match=r"install it with: pip install torch$"):
        run_call_probe(SPEC, device="cpu", python=python_without_torch)


def test_broken_torch_install_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    fake = tmp_path / "fake-site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise OSError('libcudart.so.13: cannot open shared object file: No such file or directory')\n")
    monkeypatch.setenv("PYTHONPATH", str(fake.parent))
    ok, message = torch_status()
    assert not ok
    assert message == ("torch is installed but fails to import (OSError: libcudart.so.13: cannot open shared "
                       "object file: No such file or directory); the install is broken: reinstall torch "
                       "for this Python")
    assert run(cli_args()) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("torchpit probe: torch is installed but fails to import (OSError")


def test_cuda_on_a_cpu_build_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(cli_args(device="cuda")) == 2
    err = capsys.readouterr().err
    assert err.startswith("torchpit probe: CUDA requested but torch 2.13.0")
    assert "is a build without CUDA" in err and err.count("\n") == 1
