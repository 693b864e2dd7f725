"""The real `torchpit` command, run as a user runs it."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

BUGGY = textwrap.dedent(
    """\
    import torch.nn as nn
    import torch.nn.functional as F


    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(8, 2)

        def forward(self, x):
            return self.fc(F.dropout(x, p=0.5))


    def step(model, x, y):
        return F.cross_entropy(F.softmax(model(x), dim=1), y)
    """
)
CLEAN = "import torch\n\nx = torch.zeros(3)\n"


def run(cmd: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "buggy.py").write_text(BUGGY)
    (tmp_path / "pkg" / "clean.py").write_text(CLEAN)
    return tmp_path


def test_text_output_and_exit_codes(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project)
    assert r.returncode == 1, r.stderr
    assert "pkg/buggy.py:11:24: PIT301 [*]" in r.stdout
    assert "pkg/buggy.py:15:28: PIT101 [*]" in r.stdout
    assert "Found 2 errors." in r.stdout
    clean = run(torchpit_cmd, "check", "pkg/clean.py", "--no-cache", cwd=project)
    assert clean.returncode == 0 and "All checks passed!" in clean.stdout
    assert run(torchpit_cmd, "check", "pkg", "--exit-zero", "--no-cache", cwd=project).returncode == 0


def test_missing_path_is_a_usage_error(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "does/not/exist", cwd=project)
    assert r.returncode == 2
    assert r.stderr.strip() == "torchpit: error: does/not/exist: no such file or directory"


def test_json_uses_ruff_field_names(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--format", "json", "--no-cache", cwd=project)
    data = json.loads(r.stdout)
    assert {d["code"] for d in data} == {"PIT101", "PIT301"}
    d = next(x for x in data if x["code"] == "PIT101")
    for key in ("code", "message", "filename", "location", "end_location", "fix", "url", "noqa_row", "cell"):
        assert key in d
    assert d["location"] == {"row": 15, "column": 28}
    assert d["fix"]["applicability"] == "safe"
    assert d["fix"]["edits"][0]["content"] == "model(x)"
    assert d["url"].endswith("/PIT101.md")
    assert d["related"][0]["message"] == "softmax applied here"


def test_sarif_is_2_1_0_with_rules_and_regions(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--format", "sarif", "--no-cache", cwd=project)
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0"
    run0 = doc["runs"][0]
    rules = run0["tool"]["driver"]["rules"]
    assert any(rule["id"] == "PIT101" and rule["help"]["markdown"] for rule in rules)
    res = next(x for x in run0["results"] if x["ruleId"] == "PIT301")
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "pkg/buggy.py"
    assert loc["region"]["startLine"] == 11
    assert rules[res["ruleIndex"]]["id"] == "PIT301"


def test_github_annotations(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--format", "github", "--no-cache", cwd=project)
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("::warning title=torchpit (PIT301),file=pkg/buggy.py,line=11,col=24,")
    assert "50%25 of activations" in lines[0]  # '%' escaped as the workflow syntax requires


def test_fix_writes_safe_fixes_and_diff_writes_nothing(torchpit_cmd, project):
    target = project / "pkg" / "buggy.py"
    diff = run(torchpit_cmd, "check", "pkg", "--diff", cwd=project)
    assert diff.returncode == 1
    assert "+        return self.fc(F.dropout(x, p=0.5, training=self.training))" in diff.stdout
    assert target.read_text() == BUGGY
    fixed = run(torchpit_cmd, "check", "pkg", "--fix", cwd=project)
    assert fixed.returncode == 0, fixed.stdout
    assert "Fixed 2 errors." in fixed.stdout
    text = target.read_text()
    assert "F.dropout(x, p=0.5, training=self.training)" in text
    assert "F.cross_entropy(model(x), y)" in text
    compile(text, "buggy.py", "exec")


def test_select_ignore_and_statistics(torchpit_cmd, project):
    only = run(torchpit_cmd, "check", "pkg", "--select", "PIT3", "--no-cache", cwd=project)
    assert "PIT301" in only.stdout and "PIT101" not in only.stdout
    ign = run(torchpit_cmd, "check", "pkg", "--ignore", "softmax-before-cross-entropy", "--no-cache", cwd=project)
    assert "PIT101" not in ign.stdout and "PIT301" in ign.stdout
    stats = run(torchpit_cmd, "check", "pkg", "--statistics", "-q", "--no-cache", cwd=project)
    assert stats.stdout.splitlines() == ["    1\tPIT101\t[*] softmax-before-cross-entropy", "    1\tPIT301\t[*] functional-dropout-without-training"]
    bad = run(torchpit_cmd, "check", "pkg", "--select", "PITX", cwd=project)
    assert bad.returncode == 2 and "unknown rule selector 'PITX'" in bad.stderr


def test_second_run_is_served_from_the_cache(project, monkeypatch):
    from torchpit.batch import RunOptions, run_check

    monkeypatch.chdir(project)
    opts = RunOptions(cache_dir=str(project / ".cache"))
    first = list(run_check(["pkg"], opts))
    second = list(run_check(["pkg"], opts))
    assert not any(r.cached for r in first)
    assert all(r.cached for r in second)
    assert [d.to_dict() for r in first for d in r.diagnostics] == [d.to_dict() for r in second for d in r.diagnostics]
    (project / "pkg" / "buggy.py").write_text(BUGGY + "\n# changed\n")
    third = {r.path: r.cached for r in run_check(["pkg"], opts)}
    assert third == {"pkg/buggy.py": False, "pkg/clean.py": True}
    assert not any(r.cached for r in run_check(["pkg"], RunOptions(use_cache=False)))


def test_parallel_run_matches_serial(project, monkeypatch):
    from torchpit.batch import RunOptions, run_check

    for i in range(12):
        (project / "pkg" / f"copy_{i}.py").write_text(BUGGY)
    monkeypatch.chdir(project)
    serial = sorted((r.path, len(r.diagnostics)) for r in run_check(["pkg"], RunOptions(use_cache=False, jobs=1)))
    parallel = sorted((r.path, len(r.diagnostics)) for r in run_check(["pkg"], RunOptions(use_cache=False, jobs=2)))
    assert serial == parallel and len(serial) == 14


def test_rules_and_explain(torchpit_cmd, project):
    from torchpit.analyzers.registry import rule_by_code

    rules = run(torchpit_cmd, "rules", cwd=project)
    assert rules.returncode == 0 and "PIT101  softmax-before-cross-entropy" in rules.stdout
    listed = json.loads(run(torchpit_cmd, "rules", "--format", "json", cwd=project).stdout)
    assert {"code", "name", "summary", "severity", "fix", "explanation"} <= set(listed[0])
    explain = run(torchpit_cmd, "explain", "PIT101", cwd=project)
    assert explain.stdout == rule_by_code("PIT101").markdown()
    assert run(torchpit_cmd, "explain", "functional-dropout-without-training", cwd=project).returncode == 0
    unknown = run(torchpit_cmd, "explain", "PIT999", cwd=project)
    assert unknown.returncode == 2 and "unknown rule 'PIT999'" in unknown.stderr


def test_discovery_skips_git_venv_gitignored_and_excluded(project):
    from torchpit.batch import config_loader, discover, Overrides

    (project / ".git").mkdir()
    (project / ".git" / "hook.py").write_text(BUGGY)
    venv = project / "myenv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr\n")
    (venv / "lib.py").write_text(BUGGY)
    (project / ".gitignore").write_text("generated/\n*_pb2.py\n")
    (project / "generated").mkdir()
    (project / "generated" / "g.py").write_text(BUGGY)
    (project / "pkg" / "api_pb2.py").write_text(BUGGY)
    (project / "third").mkdir()
    (project / "third" / "t.py").write_text(BUGGY)
    (project / "pyproject.toml").write_text('[tool.torchpit]\nexclude = ["third/"]\n')
    files = discover([str(project)], config_loader(Overrides()))
    names = sorted(Path(f).relative_to(project).as_posix() for f in files)
    assert names == ["pkg/buggy.py", "pkg/clean.py"]


def test_check_probe_attaches_observations(torchpit_cmd, project):
    pytest.importorskip("torch")
    r = run(torchpit_cmd, "check", "pkg", "--probe", "--probe-device", "cpu", "--no-cache", "--format", "json", cwd=project)
    data = json.loads(r.stdout)
    d = next(x for x in data if x["code"] == "PIT301")
    res = d["probe_results"][0]
    assert res["rule"] == "PIT301" and res["status"] == "confirmed"
    assert "of activations in eval mode" in res["summary"]
    text = run(torchpit_cmd, "check", "pkg", "--probe", "--probe-device", "cpu", "--no-cache", cwd=project)
    assert "probe PIT101 [confirmed]: on your torch" in text.stdout
