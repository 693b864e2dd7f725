"""The probe subcommand: add_parser/run as the main CLI will use them, and python -m torchpit.probe."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from torchpit.probe import ProbeResult
from torchpit.probe.cli import add_parser


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="torchpit")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["probe", *argv])


def run_cli(*argv: str) -> tuple[int, str]:
    args = parse(*argv)
    out = io.StringIO()
    return args.func(args, out), out.getvalue()


def test_list_prints_one_probe_per_line() -> None:
    code, text = run_cli("--list")
    assert code == 0
    lines = text.splitlines()
    assert len(lines) == 20
    assert lines[0].split()[:2] == ["PIT101", "softmax-before-cross-entropy"]
    assert any("[CUDA-only variant: launch-blocking]" in line for line in lines)


def test_text_output_and_no_cache(cpu_results: dict[str, ProbeResult], session_cache: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(session_cache))  # PIT207 and PIT301 are cached there
    code, text = run_cli("--rule", "PIT301", "--rule", "PIT207", "--device", "cpu")
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith("PIT207  confirmed     missing-zero-grad (cached): on your torch 2.13.0")
    assert lines[1].startswith("PIT301  confirmed     functional-dropout-without-training (cached): ")
    assert lines[2].startswith("device: cpu (CPU), torch 2.13.0")
    code, text = run_cli("--rule", "PIT207", "--device", "cpu", "--no-cache")
    assert code == 0
    assert text.startswith("PIT207  confirmed     missing-zero-grad: on your torch 2.13.0")


def test_json_output_of_a_spec_file(tmp_path: Path) -> None:
    spec = {"rule": "PIT403", "op": "torch.nn.functional.interpolate",
            "args": [{"tensor": {"shape": [3, 64, 64], "dtype": "float32"}}], "kwargs": {"size": {"value": 32}}}
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    code, text = run_cli("--spec", str(path), "--format", "json", "--device", "cpu")
    assert code == 0
    data = json.loads(text)
    assert data["environment"]["device"] == "cpu"
    assert data["environment"]["torch_version"].startswith("2.13.0")
    (result,) = data["results"]
    assert result["status"] == "confirmed"
    assert result["observations"]["outcome"]["output"]["shape"] == [3, 64, 32]


@pytest.mark.parametrize(("argv", "message"), [
    (("--spec", '{"rule": "PIT403", "op": "builtins.open"}'), "invalid call spec: op: 'builtins.open'"),
    (("--spec", "{not json"), "the call spec is not valid JSON"),
    (("--spec", "/nonexistent/spec.json"), "cannot read call spec '/nonexistent/spec.json'"),
    (("--rule", "PIT999"), "no probe for rule 'PIT999'"),
])
def test_usage_errors_exit_2_with_one_line(argv: tuple[str, ...], message: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_cli(*argv)
    err = capsys.readouterr().err
    assert (code, text) == (2, "")
    assert err.startswith(f"torchpit probe: {message}") and err.count("\n") == 1


def test_python_dash_m_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "torchpit.probe", "--list", "--format", "json"],
                          capture_output=True, text=True, check=True)
    ids = [entry["id"] for entry in json.loads(proc.stdout)]
    assert "functional-dropout-without-training" in ids and len(ids) == 20
    bad = subprocess.run([sys.executable, "-m", "torchpit.probe", "--device", "tpu"], capture_output=True, text=True)
    assert bad.returncode == 2 and "invalid choice: 'tpu'" in bad.stderr
