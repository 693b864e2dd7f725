"""Bad input gets a clear message and nothing is lost (the issue's list, one test each)."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze

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


def test_coding_cookie_python_rejects_is_pit002(torchpit_cmd, tmp_path):
    # Python refuses to run both files (an unknown codec may be one a package registers, such as
    # future_fstrings): each is a PIT002, and the UTF-8 text is still analysed, so nothing is lost.
    unknown = b"# coding: no-such-codec\n" + PITFALL.encode()
    (tmp_path / "unknown.py").write_bytes(unknown)
    (tmp_path / "bom.py").write_bytes(b"\xef\xbb\xbf# -*- coding: latin-1 -*-\n" + PITFALL.encode())
    (tmp_path / "good.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--format", "json", cwd=tmp_path)
    found = {(Path(d["filename"]).name, d["code"]): d["message"] for d in json.loads(r.stdout)}
    assert sorted(found) == [("bom.py", "PIT002"), ("bom.py", "PIT101"), ("good.py", "PIT101"), ("unknown.py", "PIT002"), ("unknown.py", "PIT101")]
    assert found[("unknown.py", "PIT002")].endswith("analysed as UTF-8")
    assert "coding declaration (PEP 263) is rejected: unknown encoding: no-such-codec" in found[("unknown.py", "PIT002")]
    assert "UTF-8 BOM but its coding declaration names another encoding" in found[("bom.py", "PIT002")]
    fixed = run(torchpit_cmd, "check", ".", "--fix", cwd=tmp_path)
    assert fixed.returncode == 1 and "Traceback" not in fixed.stderr
    assert (tmp_path / "unknown.py").read_bytes() == unknown  # not rewritten


def test_pyproject_not_utf8_is_exit_2_naming_file_and_byte(torchpit_cmd, tmp_path):
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.torchpit]\nignore = ["PIT101"]  # caf\xe9\n')  # Latin-1
    (tmp_path / "a.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", "--no-cache", cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert r.stderr == (
        f"torchpit: error: {tmp_path / 'pyproject.toml'}: not UTF-8: byte 0xe9 at offset 42 is invalid (a TOML file is UTF-8)\n"
    )
    assert r.stdout == ""


def test_tool_torchpit_that_is_not_a_table_is_an_error(torchpit_cmd, tmp_path):
    (tmp_path / "a.py").write_text(PITFALL)
    for body in ('[tool]\ntorchpit = "yes"\n', "tool = {torchpit = [1]}\n"):
        (tmp_path / "pyproject.toml").write_text(body)
        r = run(torchpit_cmd, "check", ".", "--no-cache", cwd=tmp_path)
        assert r.returncode == 2, (body, r.stdout)
        assert f"{tmp_path / 'pyproject.toml'}: [tool.torchpit] must be a table, got " in r.stderr
    # a pyproject.toml without tool.torchpit is not torchpit's configuration: defaults apply
    (tmp_path / "pyproject.toml").write_text('[tool.other]\ntorchpit = "yes"\n')
    assert run(torchpit_cmd, "check", ".", "--no-cache", cwd=tmp_path).returncode == 1


CODE_CELL = {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None, "source": PITFALL.splitlines(keepends=True)}
MALFORMED_NOTEBOOKS = {
    "source_number": ({"cells": [dict(CODE_CELL, source=["x = 1\n", 5])]}, "cell 1: 'source' item 2 is a number, not a string"),
    "source_null": ({"cells": [CODE_CELL, dict(CODE_CELL, source=[None])]}, "cell 2: 'source' item 1 is null, not a string"),
    "source_object": ({"cells": [dict(CODE_CELL, source={"a": 1})]}, "cell 1: 'source' is an object, not a string or an array of strings"),
    "metadata_list": ({"cells": [CODE_CELL], "metadata": []}, "'metadata' is an array, not an object"),
    "language_info_list": ({"cells": [CODE_CELL], "metadata": {"language_info": ["python"]}}, "'metadata.language_info' is an array"),
    "cell_not_object": ({"cells": ["import torch", CODE_CELL]}, "cell 1 is a string, not an object"),
    "cell_metadata_list": ({"cells": [dict(CODE_CELL, metadata=[1])]}, "cell 1: 'metadata' is an array, not an object"),
    "cell_type_missing": ({"cells": [{"source": "x = 1\n"}]}, "cell 1: 'cell_type' is null, not a string"),
    "cells_not_list": ({"cells": {"0": CODE_CELL}}, "'cells' is an object, not an array"),
    "top_level_list": ([CODE_CELL], "the top level is an array, not an object"),
}


@pytest.mark.parametrize("mode", [(), ("--fix",), ("--diff",)], ids=["check", "fix", "diff"])
def test_malformed_notebook_is_pit002_and_other_files_analyzed(torchpit_cmd, tmp_path, mode):
    for name, (data, _) in MALFORMED_NOTEBOOKS.items():
        (tmp_path / f"{name}.ipynb").write_text(json.dumps(data))
    (tmp_path / "ok.py").write_text(PITFALL)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--output-format", "concise", *mode, cwd=tmp_path)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == 1, r.stderr
    for name in MALFORMED_NOTEBOOKS:
        assert (tmp_path / f"{name}.ipynb").read_bytes() == before[f"{name}.ipynb"]  # never rewritten
    if mode:
        assert (mode == ("--fix",)) == ((tmp_path / "ok.py").read_bytes() != before["ok.py"])
        return
    for name, (_, problem) in MALFORMED_NOTEBOOKS.items():
        assert f"{name}.ipynb:1:1: PIT002 {name}.ipynb: not a valid notebook ({problem}" in r.stdout, name
    assert "ok.py:4:28: PIT101" in r.stdout


def test_notebook_structure_is_validated_in_one_place():
    # What the batch mode, its fixes and any other reader share (analyzers/syntax/notebook.py).
    from torchpit.analyzers.syntax.notebook import NotebookError, read_notebook

    for name, (data, problem) in MALFORMED_NOTEBOOKS.items():
        with pytest.raises(NotebookError, match=re.escape(problem)):
            read_notebook(json.dumps(data))
    with pytest.raises(NotebookError, match="nested too deeply"):
        read_notebook("[" * 100_000 + "]" * 100_000)
    nb = read_notebook(json.dumps({"cells": [{"cell_type": "markdown", "source": "# t"}, CODE_CELL], "metadata": {"language_info": None}}))
    assert nb.cells == [PITFALL] and nb.cell_numbers == [2] and nb.code_cells == [CODE_CELL]


@pytest.fixture
def fifo():
    """Make a FIFO and watch it: ``opened`` is set when anyone opens it for reading. The watcher
    then opens it for writing and closes it, so a reader gets end-of-file instead of blocking
    for ever (the tests fail on a reader; they do not hang)."""
    import threading

    stop = threading.Event()
    threads = []

    def make(path: Path) -> threading.Event:
        os.mkfifo(path)
        opened = threading.Event()

        def watch() -> None:
            while not stop.is_set():
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)  # ENXIO while no reader has it open
                except OSError:
                    stop.wait(0.02)
                    continue
                opened.set()
                os.close(fd)

        t = threading.Thread(target=watch, daemon=True)
        t.start()
        threads.append(t)
        return opened

    yield make
    stop.set()
    for t in threads:
        t.join(5)


def test_special_files_in_a_tree_are_skipped_without_opening_them(torchpit_cmd, tmp_path, fifo):
    import socket

    (tmp_path / "ok.py").write_text(PITFALL)
    pipe = fifo(tmp_path / "pipe.py")  # opening it for reading blocks until a writer comes: for ever
    gitignore = fifo(tmp_path / ".gitignore")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(tmp_path / "sock.py"))
        r = run(torchpit_cmd, "check", ".", "--no-cache", "--format", "json", cwd=tmp_path)
        cached = run(torchpit_cmd, "check", ".", cwd=tmp_path)  # the cache reads files too
    finally:
        sock.close()
    assert not pipe.is_set() and not gitignore.is_set()
    assert r.returncode == 1, r.stderr
    assert [(Path(d["filename"]).name, d["code"]) for d in json.loads(r.stdout)] == [("ok.py", "PIT101")]
    assert cached.returncode == 1 and "sock.py" not in cached.stdout + cached.stderr


def test_special_file_named_directly_is_a_usage_error(torchpit_cmd, tmp_path, fifo):
    pipe = fifo(tmp_path / "pipe.py")
    (tmp_path / "ok.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", "ok.py", "pipe.py", "--no-cache", cwd=tmp_path)
    assert not pipe.is_set()
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr == "torchpit: error: pipe.py: not a regular file (a named pipe); give files or folders\n"
    r = run(torchpit_cmd, "check", os.devnull, "--no-cache", cwd=tmp_path)
    assert r.returncode == 2 and f"{os.devnull}: not a regular file (a device)" in r.stderr


def test_check_file_never_opens_a_fifo_for_reading(tmp_path, fifo):
    from torchpit.analyzers.engine.config import Config
    from torchpit.batch import check_file

    pipe = fifo(tmp_path / "pipe.py")  # e.g. a file replaced by a FIFO after discovery
    (diag,) = check_file(str(tmp_path / "pipe.py"), Config()).diagnostics
    assert not pipe.is_set()
    assert (diag.code, diag.message) == ("PIT002", f"cannot read {tmp_path / 'pipe.py'}: not a regular file (a named pipe)")


def test_unreadable_directory_is_named_and_the_run_goes_on(tmp_path, monkeypatch, capsys):
    # Tests run as root, for whom chmod 000 changes nothing: the listing fails as it would.
    from torchpit import cli

    (tmp_path / "ok.py").write_text(PITFALL)
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "x.py").write_text(PITFALL)
    real_scandir = os.scandir

    def scandir(path="."):
        if os.path.abspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", ".", "--no-cache", "--output-format", "concise"]) == 1
    out, err = capsys.readouterr()
    assert "ok.py:4:28: PIT101" in out and "x.py" not in out
    assert err == f"torchpit: warning: {os.path.join('.', 'locked')}: cannot read the folder (Permission denied); skipped\n"


# ---------------------------------------------------------------------- max-file-size
def _warnings(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if line.startswith("torchpit: warning:")]


def test_the_size_limit_has_one_default_shared_with_the_server():
    from torchpit.analyzers.engine.config import DEFAULT_MAX_FILE_SIZE, Config
    from torchpit.server.settings import Settings

    assert Config().max_file_size == Settings().max_file_size == DEFAULT_MAX_FILE_SIZE == 1_000_000


def test_a_file_above_max_file_size_is_skipped_with_one_warning(torchpit_cmd, tmp_path):
    """As the language server does with torchpit.maxFileSize (issue 14): a file above the
    limit (1 MB by default) is not analysed, and one line on stderr says so; the exit code and
    the report are those of the files analysed."""
    big = PITFALL + "#" * 1_000_000 + "\n"  # one long comment: cheap to analyse without the limit
    (tmp_path / "big.py").write_text(big)
    (tmp_path / "good.py").write_text(PITFALL)
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--format", "json", cwd=tmp_path)
    assert r.returncode == 1
    assert {Path(d["filename"]).name for d in json.loads(r.stdout)} == {"good.py"}
    (line,) = _warnings(r.stderr)
    assert line == (
        "torchpit: warning: big.py: not analysed: it is 1.0 MB, above max-file-size (1.0 MB); "
        "raise max-file-size in [tool.torchpit] or pass --max-file-size (0: no limit)"
    )
    named = run(torchpit_cmd, "check", "big.py", cwd=tmp_path)  # named directly: skipped too, cache on
    assert named.returncode == 0 and "All checks passed!" in named.stdout
    assert len(_warnings(named.stderr)) == 1 and "big.py: not analysed" in named.stderr
    unlimited = run(torchpit_cmd, "check", "big.py", "--max-file-size", "0", "--output-format", "concise", cwd=tmp_path)
    assert unlimited.returncode == 1 and "big.py:4:28: PIT101" in unlimited.stdout and not _warnings(unlimited.stderr)


def test_max_file_size_in_pyproject_and_on_the_command_line(torchpit_cmd, tmp_path):
    (tmp_path / "good.py").write_text(PITFALL)
    (tmp_path / "pyproject.toml").write_text("[tool.torchpit]\nmax-file-size = 50\n")
    r = run(torchpit_cmd, "check", ".", "--no-cache", cwd=tmp_path)
    assert r.returncode == 0 and "good.py: not analysed: it is 97 bytes, above max-file-size (50 bytes)" in r.stderr
    override = run(torchpit_cmd, "check", ".", "--no-cache", "--max-file-size", "5000", "--output-format", "concise", cwd=tmp_path)
    assert override.returncode == 1 and "PIT101" in override.stdout and not _warnings(override.stderr)
    stdin = subprocess.run([*torchpit_cmd, "check", "-", "--stdin-filename", "good.py"], cwd=tmp_path, input=PITFALL, capture_output=True, text=True, timeout=120)
    assert stdin.returncode == 0 and "good.py: not analysed" in stdin.stderr  # stdin counts too
    for bad in ('"1MB"', "-1", "true", "1.5"):
        (tmp_path / "pyproject.toml").write_text(f"[tool.torchpit]\nmax-file-size = {bad}\n")
        r = run(torchpit_cmd, "check", ".", "--no-cache", cwd=tmp_path)
        assert r.returncode == 2 and "[tool.torchpit] max-file-size: expected a size in bytes (0 for no limit)" in r.stderr, bad
        assert "Traceback" not in r.stderr
    flag = run(torchpit_cmd, "check", ".", "--max-file-size", "1MB", cwd=tmp_path)
    assert flag.returncode == 2 and "--max-file-size: expected a size in bytes" in flag.stderr


def test_a_notebook_is_measured_by_its_code_not_its_outputs(torchpit_cmd, tmp_path):
    def notebook(code: str, output: str) -> str:
        cell = {"cell_type": "code", "source": code, "metadata": {}, "execution_count": 1, "outputs": [{"output_type": "stream", "name": "stdout", "text": output}]}
        return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})

    (tmp_path / "outputs.ipynb").write_text(notebook(PITFALL, "x" * 5000))  # 5 kB of output, 97 bytes of code
    (tmp_path / "code.ipynb").write_text(notebook(PITFALL + "#" * 3000 + "\n", ""))
    r = run(torchpit_cmd, "check", ".", "--no-cache", "--max-file-size", "2000", "--format", "json", cwd=tmp_path)
    assert {Path(d["filename"]).name for d in json.loads(r.stdout)} == {"outputs.ipynb"}
    (line,) = _warnings(r.stderr)
    assert "code.ipynb: not analysed: its code cells are 3,098 bytes, above max-file-size (2,000 bytes)" in line


def test_workspace_diagnostics_skip_a_file_above_the_editor_limit(tmp_path):
    """The workspace scan goes through the batch mode: a file above torchpit.maxFileSize gets
    the open document's PIT003 information diagnostic, and its findings once the limit allows."""
    from torchpit.server.settings import Settings
    from torchpit.server.workspace import Scan, scan

    (tmp_path / "big.py").write_text(PITFALL + "# padding\n" * 300)
    cache = tmp_path / "cache"
    os.environ["TORCHPIT_CACHE_DIR"] = str(cache)
    try:
        (report,) = scan(Scan(str(tmp_path), Settings(max_file_size=2000), "utf-16"))
        assert [d.code for d in report.items] == ["PIT003"] and "torchpit.maxFileSize" in report.items[0].message
        (again,) = scan(Scan(str(tmp_path), Settings(max_file_size=0), "utf-16", previous={report.uri: report.result_id}))
        assert [d.code for d in again.items] == ["PIT101"]  # a changed limit is a changed report
    finally:
        del os.environ["TORCHPIT_CACHE_DIR"]
