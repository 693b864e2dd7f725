"""`torchpit check` output as a ruff user expects it (issue 15): formats, colour, counts, diffs."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.test_cli import BUGGY, run

RELATED = """\
import torch.nn.functional as F


def step(model, x, y):
    probs = F.softmax(model(x), dim=1)
    return F.cross_entropy(probs, y)
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "buggy.py").write_text(BUGGY)
    return tmp_path


def env(**changes: str | None) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")}
    out.update({k: v for k, v in changes.items() if v is not None})
    return out


def run_env(cmd, *args, cwd, environ):
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=120, env=environ)


def run_in_terminal(cmd, *args, cwd, environ) -> str:
    """stdout on a pseudo-terminal, as a user at a terminal sees it."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([*cmd, *args], cwd=cwd, stdout=slave, stderr=subprocess.DEVNULL, env=environ)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=120)
    return b"".join(chunks).decode().replace("\r\n", "\n")


# ---------------------------------------------------------------------- full (the default)
def test_full_format_shows_location_source_underline_related_and_fix(torchpit_cmd, project):
    (project / "pkg" / "buggy.py").write_text(RELATED)
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("PIT101 [*] cross_entropy expects raw logits")
    assert lines[1] == " --> pkg/buggy.py:6:28"
    assert lines[2] == "  |"
    assert lines[3] == "6 |     return F.cross_entropy(probs, y)"
    assert lines[4] == "  |                            ^^^^^ PIT101"  # columns 28..32, the flagged `probs`
    assert lines[5] == "  |"
    assert lines[6] == " ::: pkg/buggy.py:5:13"
    assert lines[8] == "5 |     probs = F.softmax(model(x), dim=1)"
    assert lines[9] == "  |             " + "-" * len("F.softmax(model(x), dim=1)") + " softmax applied here"
    assert lines[11].startswith("help: ")
    assert lines[-2:] == ["Found 1 finding: 1 warning.", "[*] 1 fixable with the `--fix` option."]
    assert "\x1b[" not in r.stdout  # a pipe gets no colour


def test_colour_follows_color_no_color_and_force_color(torchpit_cmd, project):
    args = ("check", "pkg", "--no-cache")
    assert "\x1b[" not in run_env(torchpit_cmd, *args, cwd=project, environ=env()).stdout
    assert "\x1b[" in run_env(torchpit_cmd, *args, cwd=project, environ=env(FORCE_COLOR="1")).stdout
    assert "\x1b[" not in run_env(torchpit_cmd, *args, cwd=project, environ=env(FORCE_COLOR="1", NO_COLOR="1")).stdout
    assert "\x1b[" in run_env(torchpit_cmd, *args, "--color", "always", cwd=project, environ=env(NO_COLOR="1")).stdout
    assert "\x1b[" not in run_env(torchpit_cmd, *args, "--color", "never", cwd=project, environ=env(FORCE_COLOR="1")).stdout
    concise = run_env(torchpit_cmd, *args, "--output-format", "concise", "--color", "always", cwd=project, environ=env())
    assert "\x1b[" in concise.stdout
    assert "\x1b[" in run_in_terminal(torchpit_cmd, *args, cwd=project, environ=env())
    assert "\x1b[" not in run_in_terminal(torchpit_cmd, *args, cwd=project, environ=env(NO_COLOR="1"))


def test_long_messages_wrap_at_the_terminal_width(torchpit_cmd, project):
    text = run_in_terminal(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project, environ=env(COLUMNS="60", NO_COLOR="1"))
    block = text.split("\n\n")[0].splitlines()
    header = block[: next(i for i, line in enumerate(block) if "-->" in line)]
    assert len(header) > 1 and all(len(line) <= 60 for line in header)
    assert all(line.startswith(" " * len("PIT301 [*] ")) for line in header[1:])
    assert " ".join(part.strip() for part in header).startswith("PIT301 [*] F.dropout without training= stays on")
    piped = run_env(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project, environ=env(COLUMNS="60"))
    assert len(piped.stdout.splitlines()[0]) > 60  # a pipe or a file is not wrapped


# ---------------------------------------------------------------------- machine formats
def test_json_lines_is_one_json_object_per_finding(torchpit_cmd, project):
    whole = json.loads(run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "json", cwd=project).stdout)
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "json-lines", cwd=project)
    assert r.returncode == 1
    assert [json.loads(line) for line in r.stdout.splitlines()] == whole
    assert len(whole) == 2


def test_junit_has_a_failed_test_case_per_finding(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "junit", cwd=project)
    root = ET.fromstring(r.stdout)
    assert root.tag == "testsuites" and root.get("failures") == "2"
    suite = root.find("testsuite")
    assert suite.get("name") == "pkg/buggy.py"
    cases = suite.findall("testcase")
    assert [(c.get("name"), c.get("line")) for c in cases] == [("org.torchpit.PIT301", "11"), ("org.torchpit.PIT101", "15")]
    assert cases[0].find("failure").get("message").startswith("F.dropout without training=")


def test_gitlab_code_quality_fingerprints_survive_moved_lines(torchpit_cmd, project):
    first = json.loads(run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "gitlab", cwd=project).stdout)
    assert {x["check_name"] for x in first} == {"PIT101", "PIT301"}
    item = next(x for x in first if x["check_name"] == "PIT301")
    assert item["severity"] == "minor" and item["location"]["path"] == "pkg/buggy.py"
    assert item["location"]["positions"]["begin"] == {"line": 11, "column": 24}
    (project / "pkg" / "buggy.py").write_text("# a new first line\n" + BUGGY)
    moved = json.loads(run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "gitlab", cwd=project).stdout)
    assert sorted(x["fingerprint"] for x in moved) == sorted(x["fingerprint"] for x in first)
    assert len({x["fingerprint"] for x in moved}) == 2


# ---------------------------------------------------------------------- counts and summary
def test_summary_counts_errors_and_warnings_once_on_stdout(torchpit_cmd, project):
    (project / "pyproject.toml").write_text('[tool.torchpit]\nseverity = {PIT1 = "error"}\n')
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project)
    assert r.stdout.count("Found ") == 1
    assert "Found 2 findings: 1 error, 1 warning.\n" in r.stdout and r.stderr == ""
    fixed = run(torchpit_cmd, "check", "pkg", "--fix", "--select", "PIT3", cwd=project)
    assert fixed.stdout == "Found 1 finding (1 fixed, 0 remaining).\n"
    rest = run(torchpit_cmd, "check", "pkg", "--fix", "--select", "PIT1", "--diff", cwd=project)
    assert rest.returncode == 2  # --diff and --fix together is a usage error


def test_statistics_with_every_format(torchpit_cmd, project):
    rows = json.loads(run(torchpit_cmd, "check", "pkg", "--statistics", "--output-format", "json", "--no-cache", cwd=project).stdout)
    assert rows == [
        {"code": "PIT101", "name": "softmax-before-cross-entropy", "count": 1, "fixable": True},
        {"code": "PIT301", "name": "functional-dropout-without-training", "count": 1, "fixable": True},
    ]
    lines = run(torchpit_cmd, "check", "pkg", "--statistics", "--output-format", "json-lines", "--no-cache", cwd=project).stdout
    assert [json.loads(x) for x in lines.splitlines()] == rows
    for fmt in ("full", "concise", "sarif", "github", "junit", "gitlab"):
        out = run(torchpit_cmd, "check", "pkg", "--statistics", "-q", "--output-format", fmt, "--no-cache", cwd=project).stdout
        assert out.splitlines() == ["    1\tPIT101\t[*] softmax-before-cross-entropy", "    1\tPIT301\t[*] functional-dropout-without-training"], fmt


# ---------------------------------------------------------------------- diffs
def test_diff_headers_have_no_dot_slash(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", ".", "--diff", "--no-cache", cwd=project)
    assert r.returncode == 1
    assert "--- a/pkg/buggy.py\n+++ b/pkg/buggy.py\n" in r.stdout and "a/./" not in r.stdout
    assert r.stderr.strip() == "Would fix 2 findings."


def test_notebook_diff_is_per_cell(torchpit_cmd, tmp_path):
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": ["import torch.nn.functional as F\n"]},
        {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
         "source": ["%%time\n", "loss = F.cross_entropy(F.softmax(x, dim=1), y)"]},
    ]
    nb = {"cells": cells, "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb, indent=1))
    r = run(torchpit_cmd, "check", "nb.ipynb", "--diff", "--no-cache", cwd=tmp_path)
    assert r.stdout.splitlines() == [
        "--- a/nb.ipynb:cell 3",
        "+++ b/nb.ipynb:cell 3",
        "@@ -1,2 +1,2 @@",
        " %%time",
        "-loss = F.cross_entropy(F.softmax(x, dim=1), y)",
        "+loss = F.cross_entropy(x, y)",
    ]
    assert json.loads((tmp_path / "nb.ipynb").read_text()) == nb  # nothing written


# ---------------------------------------------------------------------- probe
def test_probe_that_cannot_run_says_why_in_user_terms(project, monkeypatch):
    pytest.importorskip("torch")
    from torchpit import probe
    from torchpit.batch import RunOptions, run_check
    from torchpit.probe_attach import CALL_NOT_REBUILT, attach_probe_results

    monkeypatch.chdir(project)
    results = list(run_check(["pkg"], RunOptions(use_cache=False)))
    assert any(d.probe for r in results for d in r.diagnostics)

    def bad_spec(spec, device="auto"):
        raise probe.SpecError("invalid call spec: args[0].shape: expected a list")

    monkeypatch.setattr(probe, "torch_status", lambda: (True, "torch on CPU"))
    monkeypatch.setattr(probe, "run_rule_probes", lambda codes, device="auto": [])
    monkeypatch.setattr(probe, "run_call_probe", bad_spec)
    assert attach_probe_results(results, device="cpu") is None
    summaries = [res["summary"] for r in results for found in r.probes.values() for res in found]
    assert summaries and all(s == CALL_NOT_REBUILT for s in summaries)
    assert "spec" not in CALL_NOT_REBUILT

    def no_cuda(codes, device="auto"):
        raise probe.TorchUnavailableError("CUDA was asked for, but torch sees no CUDA device")

    monkeypatch.setattr(probe, "run_rule_probes", no_cuda)
    assert attach_probe_results(results, device="cuda") == "CUDA was asked for, but torch sees no CUDA device"


def test_probe_device_must_be_known(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--probe", "--probe-device", "tpu", cwd=project)
    assert r.returncode == 2 and "invalid choice: 'tpu'" in r.stderr and "Traceback" not in r.stderr


def test_related_location_in_another_notebook_cell(torchpit_cmd, tmp_path):
    def code(*lines: str) -> dict:
        return {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": list(lines)}

    nb = {
        "cells": [code("import torch.nn.functional as F\n", "probs = F.softmax(x, dim=1)\n"), code("y = 1\n", "loss = F.cross_entropy(probs, y)\n")],
        "metadata": {"language_info": {"name": "python"}}, "nbformat": 4, "nbformat_minor": 5,
    }
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    r = run(torchpit_cmd, "check", "nb.ipynb", "--no-cache", cwd=tmp_path)
    lines = r.stdout.splitlines()
    assert lines[1] == " --> nb.ipynb:cell 2:2:24"
    at = lines.index(" ::: nb.ipynb:cell 1:2:9")  # the softmax is in the first cell
    assert lines[at + 2] == "2 | probs = F.softmax(x, dim=1)"
    data = json.loads(run(torchpit_cmd, "check", "nb.ipynb", "--no-cache", "--output-format", "json", cwd=tmp_path).stdout)
    assert data[0]["cell"] == 2 and data[0]["related"][0]["cell"] == 1
