"""Bad input gets a clear message and nothing is lost (the issue's list, one test each)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from torchpit.analyzers.engine import analyze

PITFALL = "import torch.nn.functional as F\n\ndef f(x, y):\n    return F.cross_entropy(F.softmax(x, dim=1), y)\n"


def run(cmd, *args, cwd):
    return subprocess.run([*cmd, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_non_utf8_and_unreadable_files_are_reported_and_others_still_analyzed(torchpit_cmd, tmp_path):
    (tmp_path / "latin.py").write_bytes(b"x = '\xe9t\xe9'\n")  # Latin-1 bytes, no coding cookie
    (tmp_path / "gone.py").symlink_to(tmp_path / "nowhere.py")  # a dangling link: open() fails
    (tmp_path / "good.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1
    by_file = {(Path(d["filename"]).name, d["code"]): d for d in json.loads(r.stdout)}
    assert ("good.py", "PIT101") in by_file
    assert "cannot decode latin.py as utf-8: byte 0xe9 at offset 5" in by_file[("latin.py", "PIT002")]["message"]
    assert "cannot read" in by_file[("gone.py", "PIT002")]["message"]


def test_coding_cookie_is_honoured(torchpit_cmd, tmp_path):
    (tmp_path / "cookie.py").write_bytes(b"# -*- coding: latin-1 -*-\nname = '\xe9t\xe9'\n" + PITFALL.encode())
    r = run(torchpit_cmd, "check", "cookie.py", "--no-cache", "--output-format", "concise", cwd=tmp_path)
    assert "PIT101" in r.stdout and "PIT002" not in r.stdout


def test_syntax_error_is_reported_and_other_findings_kept():
    text = PITFALL + "\ndef broken(:\n    pass\n\ndef g(x, y):\n    return F.cross_entropy(F.softmax(x, dim=1), y)\n"
    diags = analyze(text, "t.py").diagnostics
    codes = [(d.range.start.line + 1, d.code) for d in diags]
    assert (4, "PIT101") in codes and (10, "PIT101") in codes
    err = next(d for d in diags if d.code == "PIT001")
    assert err.range.start.line + 1 == 6 and err.message.startswith("SyntaxError:")


def test_half_typed_call_keeps_the_rest():
    text = PITFALL + "\nout = model(\n\ndef g(x, y):\n    return F.cross_entropy(F.softmax(x, dim=1), y)\n"
    diags = analyze(text, "t.py").diagnostics
    assert [d.code for d in diags].count("PIT101") == 2
    assert [d.code for d in diags].count("PIT001") == 1


def test_huge_file_does_not_crash():
    text = PITFALL + "".join(f"v{i} = {i} * 2\n" for i in range(50_000))
    result = analyze(text, "huge.py")
    assert [d.code for d in result.diagnostics] == ["PIT101"]


def test_deeply_nested_expression_does_not_crash():
    nested = "x = " + "(" * 1000 + "1" + ")" * 1000 + "\n"
    chain = "y = " + " + ".join(["a"] * 1000) + "\n"
    calls = "z = " + "f(" * 1000 + "1" + ")" * 1000 + "\n"
    for text in (nested, chain, calls, PITFALL + chain):
        result = analyze(text, "deep.py")  # must not raise
        assert all(d.code in ("PIT001", "PIT003", "PIT101") for d in result.diagnostics)
    assert "PIT101" in [d.code for d in analyze(PITFALL + chain, "deep.py").diagnostics]


def test_notebook_with_magics_is_analyzed(torchpit_cmd, tmp_path):
    nb = {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# title"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": ["%matplotlib inline\n", "!pip install torch\n", "import torch.nn.functional as F\n", "files = !ls\n", "F?\n"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": ["%%time\n", "loss = F.cross_entropy(F.softmax(x, dim=1), y)\n"]},
            {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
             "source": ["%%bash\n", "echo this is not python (\n"]},
        ],
        "metadata": {"language_info": {"name": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    (tmp_path / "nb.ipynb").write_text(json.dumps(nb))
    r = run(torchpit_cmd, "check", "nb.ipynb", "--no-cache", "--format", "json", cwd=tmp_path)
    data = json.loads(r.stdout)
    assert [(d["code"], d["cell"], d["location"]["row"]) for d in data] == [("PIT101", 3, 2)]
    text = run(torchpit_cmd, "check", "nb.ipynb", "--no-cache", "--output-format", "concise", cwd=tmp_path).stdout
    assert "nb.ipynb:cell 3:2:24: PIT101" in text
    fixed = run(torchpit_cmd, "check", "nb.ipynb", "--fix", cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stdout
    cell = json.loads((tmp_path / "nb.ipynb").read_text())["cells"][2]["source"]
    assert cell == ["%%time\n", "loss = F.cross_entropy(x, y)\n"]


def test_broken_notebook_is_a_clear_diagnostic(torchpit_cmd, tmp_path):
    (tmp_path / "bad.ipynb").write_text("{not json")
    (tmp_path / "ok.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--output-format", "concise", cwd=tmp_path)
    assert "bad.ipynb:1:1: PIT002 bad.ipynb: not a valid notebook (JSON error at line 1" in r.stdout
    assert "ok.py:4:28: PIT101" in r.stdout


def test_broken_pyproject_is_exit_2_naming_file_and_problem(torchpit_cmd, tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.torchpit\nselect = [")
    (tmp_path / "a.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith(f"torchpit: error: {tmp_path / 'pyproject.toml'}: invalid TOML:")
    assert r.stderr.count("\n") == 1


def test_unknown_key_and_bad_value_are_named(torchpit_cmd, tmp_path):
    (tmp_path / "a.py").write_text(PITFALL)
    (tmp_path / "pyproject.toml").write_text('[tool.torchpit]\nselct = ["PIT1"]\n')
    r = run(torchpit_cmd, "check", ".", cwd=tmp_path)
    assert r.returncode == 2 and "[tool.torchpit] selct: unknown key (did you mean 'select'?)" in r.stderr
    (tmp_path / "pyproject.toml").write_text('[tool.torchpit]\nseverity = {PIT1 = "loud"}\n')
    r = run(torchpit_cmd, "check", ".", cwd=tmp_path)
    assert r.returncode == 2 and "severity.PIT1: invalid severity 'loud'" in r.stderr


def test_unreadable_directory_does_not_stop_the_run(torchpit_cmd, tmp_path):
    (tmp_path / "ok.py").write_text(PITFALL)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.py").write_text(PITFALL)
    os.chmod(locked, 0)
    try:
        r = run(torchpit_cmd, "check", ".", "--no-cache", "--output-format", "concise", cwd=tmp_path)
    finally:
        os.chmod(locked, 0o755)
    assert "ok.py:4:28: PIT101" in r.stdout
