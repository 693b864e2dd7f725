"""The `torchpit check` options people use (issue 15): stdin, excludes, output file, fixes, noqa, watch, baseline."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.test_cli import BUGGY, CLEAN, make_project, run


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path)


def run_stdin(cmd, *args, cwd, text):
    return subprocess.run([*cmd, *args], cwd=cwd, input=text, capture_output=True, text=True, timeout=120)


# ---------------------------------------------------------------------- stdin
def test_stdin_with_stdin_filename(torchpit_cmd, project):
    (project / "pyproject.toml").write_text('[tool.torchpit]\nper-file-ignores = {"pkg/ignored.py" = ["PIT1"]}\n')
    r = run_stdin(torchpit_cmd, "check", "-", "--stdin-filename", "pkg/new.py", "--output-format", "concise", "--no-cache", cwd=project, text=BUGGY)
    assert r.returncode == 1, r.stderr
    assert "pkg/new.py:11:24: PIT301" in r.stdout and "pkg/new.py:15:28: PIT101" in r.stdout
    full = run_stdin(torchpit_cmd, "check", "-", "--stdin-filename", "pkg/new.py", "--no-cache", cwd=project, text=BUGGY)
    assert "15 |     return F.cross_entropy(F.softmax(model(x), dim=1), y)" in full.stdout  # the source came from stdin
    ignored = run_stdin(torchpit_cmd, "check", "-", "--stdin-filename", "pkg/ignored.py", "--output-format", "concise", cwd=project, text=BUGGY)
    assert "PIT101" not in ignored.stdout and "PIT301" in ignored.stdout  # the file's configuration applies
    assert not (project / "pkg" / "new.py").exists()


def test_stdin_fix_prints_the_fixed_source(torchpit_cmd, project):
    r = run_stdin(torchpit_cmd, "check", "-", "--stdin-filename", "pkg/new.py", "--fix", cwd=project, text=BUGGY)
    assert r.returncode == 0, r.stderr
    assert "F.dropout(x, p=0.5, training=self.training)" in r.stdout and "F.cross_entropy(model(x), y)" in r.stdout
    compile(r.stdout, "new.py", "exec")
    assert "Found 2 findings (2 fixed, 0 remaining)." in r.stderr
    diff = run_stdin(torchpit_cmd, "check", "-", "--stdin-filename", "pkg/new.py", "--diff", cwd=project, text=BUGGY)
    assert diff.returncode == 1 and diff.stdout.startswith("--- a/pkg/new.py\n+++ b/pkg/new.py\n")
    mixed = run_stdin(torchpit_cmd, "check", "-", "pkg", cwd=project, text=BUGGY)
    assert mixed.returncode == 2 and "cannot be combined" in mixed.stderr


# ---------------------------------------------------------------------- exclude
def test_exclude_and_extend_exclude(torchpit_cmd, project):
    (project / "legacy").mkdir()
    (project / "legacy" / "old.py").write_text(BUGGY)
    (project / "build").mkdir()
    (project / "build" / "gen.py").write_text(BUGGY)

    def files(*args: str) -> set[str]:
        r = run(torchpit_cmd, "check", ".", "--output-format", "json", "--no-cache", *args, cwd=project)
        return {Path(d["filename"]).relative_to(project).as_posix() for d in json.loads(r.stdout)}

    assert files() == {"pkg/buggy.py", "legacy/old.py"}  # build/ is excluded by default
    assert files("--extend-exclude", "legacy/") == {"pkg/buggy.py"}
    assert files("--exclude", "legacy/") == {"pkg/buggy.py", "build/gen.py"}  # replaces the defaults
    assert files("--exclude", "legacy/,build/", "--extend-exclude", "pkg/") == set()


# ---------------------------------------------------------------------- output file
def test_output_file(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--output-format", "json", "-o", "report.json", "--no-cache", cwd=project)
    assert r.returncode == 1 and r.stdout == ""
    assert {d["code"] for d in json.loads((project / "report.json").read_text())} == {"PIT101", "PIT301"}
    text = run(torchpit_cmd, "check", "pkg", "--output-file", "report.txt", "--color", "auto", "--no-cache", cwd=project)
    written = (project / "report.txt").read_text()
    assert text.stdout == "" and "Found 2 findings: 2 warnings." in written and "\x1b[" not in written
    bad = run(torchpit_cmd, "check", "pkg", "-o", "no/such/dir/out.txt", "--no-cache", cwd=project)
    assert bad.returncode == 2 and "no/such/dir/out.txt: cannot write" in bad.stderr


# ---------------------------------------------------------------------- fixes
def test_fix_only_reports_only_what_was_fixed(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--fix-only", "--select", "PIT3", cwd=project)
    assert r.returncode == 0 and r.stdout == "Fixed 1 finding.\n"
    text = (project / "pkg" / "buggy.py").read_text()
    assert "training=self.training" in text and "F.softmax" in text  # PIT101 was not selected: not fixed
    again = run(torchpit_cmd, "check", "pkg", "--fix-only", "--select", "PIT3", cwd=project)
    assert again.returncode == 0 and again.stdout == "No fixes applied.\n"


def test_show_fixes_lists_fixes_per_file_and_rule(torchpit_cmd, project):
    (project / "pkg" / "other.py").write_text(BUGGY)
    r = run(torchpit_cmd, "check", "pkg", "--fix", "--show-fixes", cwd=project)
    assert r.returncode == 0
    assert r.stdout.splitlines() == [
        "Fixed 4 findings:",
        "- pkg/buggy.py:",
        "    1 × PIT101 (softmax-before-cross-entropy)",
        "    1 × PIT301 (functional-dropout-without-training)",
        "- pkg/other.py:",
        "    1 × PIT101 (softmax-before-cross-entropy)",
        "    1 × PIT301 (functional-dropout-without-training)",
        "Found 4 findings (4 fixed, 0 remaining).",
    ]


def test_show_fixes_without_fix_lists_what_fix_would_apply(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--show-fixes", "--select", "PIT3", "--no-cache", cwd=project)
    assert r.returncode == 1
    assert "Would fix 1 finding:\n- pkg/buggy.py:\n    1 × PIT301 (functional-dropout-without-training)\n" in r.stdout
    assert (project / "pkg" / "buggy.py").read_text() == BUGGY


# ---------------------------------------------------------------------- --add-noqa
def test_add_noqa_silences_every_current_finding(torchpit_cmd, project):
    target = project / "pkg" / "buggy.py"
    target.write_text(BUGGY.replace("p=0.5))", "p=0.5))  # noqa: E501"))
    r = run(torchpit_cmd, "check", "pkg", "--add-noqa", "--no-cache", cwd=project)
    assert r.returncode == 0 and r.stderr == "Added 2 noqa directives.\n"
    text = target.read_text()
    assert "return self.fc(F.dropout(x, p=0.5))  # noqa: E501, PIT301\n" in text  # an existing comment is extended
    assert "return F.cross_entropy(F.softmax(model(x), dim=1), y)  # noqa: PIT101\n" in text
    after = run(torchpit_cmd, "check", "pkg", "--no-cache", cwd=project)
    assert after.returncode == 0 and "All checks passed!" in after.stdout
    again = run(torchpit_cmd, "check", "pkg", "--add-noqa", "--no-cache", cwd=project)
    assert again.stderr == "Added 0 noqa directives.\n" and target.read_text() == text


def test_add_noqa_leaves_a_line_where_a_comment_would_change_the_program():
    from torchpit.analyzers.engine.analysis import analyze
    from torchpit.noqa import add_noqa_to_text

    source = 'import torch.nn.functional as F\n\ndef f(x, y):\n    return F.cross_entropy(F.softmax(x, dim=1), y) + \\\n        0\n'
    diags = analyze(source, "t.py").diagnostics
    assert [d.code for d in diags] == ["PIT101"]
    new, n = add_noqa_to_text(source, diags)
    assert (new, n) == (source, 0)  # after a backslash a comment is a syntax error: not added


# ---------------------------------------------------------------------- --watch
def test_watch_checks_again_when_a_file_changes(torchpit_cmd, project):
    (project / "pkg" / "buggy.py").write_text(CLEAN)
    proc = subprocess.Popen(
        [*torchpit_cmd, "check", "pkg", "--watch", "--no-cache", "--output-format", "concise"],
        cwd=project,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline() == "All checks passed!\n"
        time.sleep(0.2)
        (project / "pkg" / "buggy.py").write_text(BUGGY)
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if line.startswith("Found "):
                break
        assert any("pkg/buggy.py:15:28: PIT101" in line for line in lines), lines
        assert lines[-1] == "Found 2 findings: 2 warnings.\n"
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_watch_loop_is_bounded_in_process(project, monkeypatch, capsys):
    from torchpit.check_command import CheckRequest, watch
    from torchpit.cli import build_parser

    monkeypatch.chdir(project)
    args = build_parser().parse_args(["check", "pkg", "--no-cache", "--output-format", "concise"])
    edits = iter([lambda: None, lambda: (project / "pkg" / "clean.py").write_text(BUGGY)])

    def fake_sleep(_):
        next(edits, lambda: None)()
        time.sleep(0.01)

    code = watch(CheckRequest.from_args(args), rounds=1, sleep=fake_sleep)
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("Found 2 findings") == 1 and "Found 4 findings: 4 warnings." in out


# ---------------------------------------------------------------------- baseline
def test_baseline_hides_known_findings_even_when_lines_move(torchpit_cmd, project):
    r = run(torchpit_cmd, "check", "pkg", "--write-baseline", "base.json", "--no-cache", cwd=project)
    assert r.returncode == 0 and r.stderr == "Recorded 2 findings in base.json.\n"
    doc = json.loads((project / "base.json").read_text())
    assert {(e["code"], e["file"], e["count"]) for e in doc["findings"]} == {("PIT101", "pkg/buggy.py", 1), ("PIT301", "pkg/buggy.py", 1)}
    same = run(torchpit_cmd, "check", "pkg", "--baseline", "base.json", "--no-cache", cwd=project)
    assert same.returncode == 0 and "All checks passed!" in same.stdout and "2 findings in the baseline not shown." in same.stdout
    # lines move (a header above), and a new pitfall is added at the end
    moved = "# header\n# more header\n" + BUGGY + "\n\ndef again(model, x, y):\n    return F.cross_entropy(F.softmax(model(x), dim=1), y)\n"
    (project / "pkg" / "buggy.py").write_text(moved)
    new = run(torchpit_cmd, "check", "pkg", "--baseline", "base.json", "--output-format", "concise", "--no-cache", cwd=project)
    assert new.returncode == 1
    found = [line for line in new.stdout.splitlines() if ": PIT" in line]
    assert len(found) == 1 and "PIT101" in found[0]  # the third copy of the same line is new
    (project / "broken.json").write_text("{}")
    bad = run(torchpit_cmd, "check", "pkg", "--baseline", "broken.json", cwd=project)
    assert bad.returncode == 2 and "broken.json: not a torchpit baseline" in bad.stderr


# ---------------------------------------------------------------------- help
def test_check_help_explains_every_option_with_an_example(torchpit_cmd, project):
    from torchpit.cli import build_parser

    r = run(torchpit_cmd, "check", "--help", cwd=project)
    assert r.returncode == 0
    check = next(a for a in build_parser()._subparsers._group_actions[0].choices.items() if a[0] == "check")[1]
    for action in check._actions:
        if action.dest in ("help",):
            continue
        assert action.help and "Example:" in action.help, action.dest
        for flag in action.option_strings:
            assert flag in r.stdout
    documented = [a for a in check._actions if a.dest != "help"]
    assert r.stdout.count("\n                        example: ") == len(documented)  # each on a line of its own
    assert "examples:" in r.stdout and "exit codes:" in r.stdout
