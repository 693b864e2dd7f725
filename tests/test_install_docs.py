"""The install and usage lines of the docs are true (issue 15)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")), *sorted((ROOT / "editors").rglob("*")),
        ROOT / "vscode-client" / "README.md", ROOT / "examples" / "README.md", ROOT / ".pre-commit-hooks.yaml"]
DOC_FILES = [p for p in DOCS if p.is_file()]


def test_no_install_line_assumes_torchpit_is_on_pypi():
    # `pip install torchpit`, `pipx install torchpit`, `pip install 'torchpit[probe]'`: the package is not on PyPI
    wrong = re.compile(r"\bpipx? install\s+['\"]?torchpit(\[[a-z]+\])?['\"]?(?!\s*@|[\w.-])")
    hits = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in DOC_FILES for n, line in enumerate(p.read_text().splitlines(), 1) if wrong.search(line)]
    assert not hits, hits


def test_no_path_of_a_developer_machine_in_the_docs():
    pattern = re.compile(r"(?<![\w.])/(work|home|Users|root|tmp)/")
    hits = [f"{p.relative_to(ROOT)}:{n}" for p in DOC_FILES for n, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert not hits, hits


def test_pinned_revisions_are_commits_of_this_repository():
    revs = set()
    for p in DOC_FILES:
        revs |= set(re.findall(r"\brev: ([0-9a-f]{40})\b", p.read_text()))
        revs |= set(re.findall(r"git\+https://github\.com/torchpit/torchpit@([0-9a-f]{40})\b", p.read_text()))
    assert revs, "the pre-commit example pins a revision"
    if subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    for rev in revs:
        r = subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=ROOT, capture_output=True)
        if r.returncode != 0 and (ROOT / ".git" / "shallow").exists():
            pytest.skip("a shallow clone does not have the history")
        assert r.returncode == 0, f"{rev} is not a commit of this repository"
        hooks = subprocess.run(["git", "show", f"{rev}:.pre-commit-hooks.yaml"], cwd=ROOT, capture_output=True, text=True)
        assert "id: torchpit" in hooks.stdout  # pre-commit finds the hooks at that revision
        cli = subprocess.run(["git", "show", f"{rev}:torchpit/cli.py"], cwd=ROOT, capture_output=True, text=True)
        assert '"--output-format"' in cli.stdout  # the options the docs use exist at that revision


def test_one_default_for_debounce_everywhere():
    from torchpit.server.settings import DEFAULT_DEBOUNCE_MS

    package = json.loads((ROOT / "vscode-client" / "package.json").read_text())
    found = {
        "server/settings.py": DEFAULT_DEBOUNCE_MS,
        "package.json": package["contributes"]["configuration"]["properties"]["torchpit.debounce"]["default"],
        "settings.ts": int(re.search(r'config\.get\("debounce", (\d+)\)', (ROOT / "vscode-client" / "src" / "settings.ts").read_text()).group(1)),
        "vscode-client/README.md": int(re.search(r"\| `torchpit\.debounce` \| `(\d+)` \|", (ROOT / "vscode-client" / "README.md").read_text()).group(1)),
        "docs/server.md": int(re.search(r"\| `debounce` \| `(\d+)` \|", (ROOT / "docs" / "server.md").read_text()).group(1)),
        "docs/editors.md": int(re.search(r'"debounce": (\d+)', (ROOT / "docs" / "editors.md").read_text()).group(1)),
    }
    for lua in sorted((ROOT / "editors" / "nvim").rglob("*")):
        if lua.is_file():
            for value in re.findall(r"debounce = (\d+)", lua.read_text()):
                found[str(lua.relative_to(ROOT))] = int(value)
    assert len(found) >= 8 and len(set(found.values())) == 1, found
