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


def make_project(root: Path) -> Path:
    (root / "pkg").mkdir()
    (root / "pkg" / "buggy.py").write_text(BUGGY)
    (root / "pkg" / "clean.py").write_text(CLEAN)
    return root


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def test_concise_output_and_exit_codes(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", "--output-format", "concise", cwd=project)
    assert r.returncode == 1, r.stderr
    assert "pkg/buggy.py:11:24: PIT301 [*]" in r.stdout
    assert "pkg/buggy.py:15:28: PIT101 [*]" in r.stdout
    assert "Found 2 findings: 2 warnings." in r.stdout
    old_name = run(torchpit_cmd, "check", "pkg", "--no-cache", "--format", "text", cwd=project)
    assert old_name.stdout == r.stdout  # --format text: the old flag and name still give the one-line form
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
    assert fixed.stdout == "Found 2 findings (2 fixed, 0 remaining).\n"  # the summary, once
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
    from torchpit.analyzers.engine.registry import rule_by_code

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
    blocks = text.stdout.split("\n\n")
    pit101 = next(b for b in blocks if b.startswith("PIT101"))
    assert "\nprobe [confirmed]: on your torch" in pit101  # under the finding it confirms
    concise = run(torchpit_cmd, "check", "pkg", "--probe", "--probe-device", "cpu", "--no-cache", "--output-format", "concise", cwd=project)
    lines = concise.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if ": PIT101" in line)
    assert lines[at + 1].startswith("    probe [confirmed]: on your torch")


# ---------------------------------------------------------------------- strictness (issue 15)
@pytest.mark.parametrize("option", ["--select", "--ignore", "--extend-select"])
def test_unknown_rule_code_on_the_command_line_is_exit_2(torchpit_cmd, project, option):
    r = run(torchpit_cmd, "check", "pkg", option, "PIT999", "--no-cache", cwd=project)
    assert r.returncode == 2, r.stdout  # PIT999 used to select nothing: "All checks passed!", exit 0
    assert "unknown rule selector 'PIT999'" in r.stderr and "All checks passed" not in r.stdout
    typo = run(torchpit_cmd, "check", "pkg", option, "PIT1O1", "--no-cache", cwd=project)
    assert typo.returncode == 2 and "(did you mean 'PIT101'?)" in typo.stderr
    builtin = run(torchpit_cmd, "check", "pkg", option, "PIT002", "--no-cache", cwd=project)
    assert builtin.returncode == 2 and "'PIT002' is not a rule" in builtin.stderr


def test_unknown_rule_code_in_per_file_ignores_is_exit_2(torchpit_cmd, project):
    (project / "pyproject.toml").write_text('[tool.torchpit]\nper-file-ignores = {"pkg/buggy.py" = ["PIT3", "PIT310"]}\n')
    r = run(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project)
    assert r.returncode == 2
    assert "per-file-ignores.'pkg/buggy.py': unknown rule selector 'PIT310' (did you mean 'PIT301'?)" in r.stderr
    assert str(project / "pyproject.toml") in r.stderr


def test_unknown_code_in_noqa_is_a_warning_naming_the_comment(torchpit_cmd, project):
    (project / "pkg" / "buggy.py").write_text(BUGGY.replace("dim=1), y)", "dim=1), y)  # noqa: PIT999, E501"))
    r = run(torchpit_cmd, "check", "pkg/buggy.py", "--no-cache", "--output-format", "concise", cwd=project)
    assert r.returncode == 1
    assert "PIT101" in r.stdout  # PIT999 suppresses nothing
    assert (
        "torchpit: warning: pkg/buggy.py:15:60: unknown rule code PIT999 in `# noqa: PIT999, E501`: it suppresses nothing"
        in r.stderr
    )
    assert "E501" not in r.stderr.replace("# noqa: PIT999, E501", "")  # other linters' codes are not ours to judge
    cached = run(torchpit_cmd, "check", "pkg/buggy.py", cwd=project)
    again = run(torchpit_cmd, "check", "pkg/buggy.py", cwd=project)  # served from the cache: still warned
    assert "unknown rule code PIT999" in cached.stderr and "unknown rule code PIT999" in again.stderr
    (project / "pkg" / "buggy.py").write_text(BUGGY.replace("dim=1), y)", "dim=1), y)  # noqa: PIT101"))
    clean = run(torchpit_cmd, "check", "pkg/buggy.py", "--no-cache", cwd=project)
    assert clean.stderr == "" and "PIT101" not in clean.stdout


@pytest.mark.parametrize("code", ["PIT001", "PIT002", "PIT003", "PIT004"])
def test_explain_builtin_codes(torchpit_cmd, project, code):
    from torchpit.analyzers.core.diagnostics import BUILTIN_CODES

    r = run(torchpit_cmd, "explain", code.lower(), cwd=project)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"# {BUILTIN_CODES[code]} ({code})\n")
    assert "## What it means" in r.stdout and "## What to do" in r.stdout


def test_full_output_shows_evidence_only_where_it_is_not_the_flagged_range(torchpit_cmd, tmp_path):
    """`F.cross_entropy(F.softmax(x))`: the softmax is the flagged argument itself, so no second
    snippet repeats it; through a variable, the softmax's own line is shown as related."""
    (tmp_path / "inline.py").write_text("import torch.nn.functional as F\n\ndef f(x, y):\n    return F.cross_entropy(F.softmax(x, dim=1), y)\n")
    (tmp_path / "via.py").write_text("import torch.nn.functional as F\n\ndef f(x, y):\n    p = F.softmax(x, dim=1)\n    return F.cross_entropy(p, y)\n")
    inline = run(torchpit_cmd, "check", "inline.py", "--no-cache", "--color", "never", cwd=tmp_path)
    via = run(torchpit_cmd, "check", "via.py", "--no-cache", "--color", "never", cwd=tmp_path)
    assert "PIT101" in inline.stdout and ":::" not in inline.stdout and "softmax applied here" not in inline.stdout
    assert "::: via.py:4:9" in via.stdout and "softmax applied here" in via.stdout


def test_raw_scores_of_a_model_in_another_module_are_named_in_related(torchpit_cmd, tmp_path):
    """PIT102 on the raw output of a model defined in another module of the project: the related
    location says what is there (it said "None applied here" before rules/related.py)."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "rawproj"\n')
    (tmp_path / "models.py").write_text(textwrap.dedent("""
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(10, 3)

            def forward(self, x):
                return self.fc(x)
    """))
    (tmp_path / "train.py").write_text(textwrap.dedent("""
        import torch.nn.functional as F

        from models import Net


        def step(x, y):
            net = Net()
            return F.nll_loss(net(x), y)
    """))
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--output-format", "json", "--exit-zero", cwd=tmp_path)
    found = [f for f in json.loads(r.stdout) if f["code"] == "PIT102"]
    assert len(found) == 1
    related = found[0]["related"]
    assert [x["message"] for x in related] == ["the model's forward returns this layer's raw output"]
    assert related[0]["filename"].endswith("models.py")
