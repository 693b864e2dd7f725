"""Generated docs stay in sync with the rules; the flake8 plugin works through flake8 itself."""

from __future__ import annotations

import subprocess
import sys

from torchpit.analyzers.engine.registry import all_rules
from torchpit.analyzers.rules.rule import DOC_SECTIONS
from torchpit.docgen import ROOT, stale_files


def test_generated_docs_are_fresh():
    stale = stale_files()
    assert not stale, f"stale generated docs: {[str(p.relative_to(ROOT)) for p in stale]}; run `python -m torchpit.docgen`"


def test_every_rule_page_has_the_fixed_sections():
    for rule in all_rules():
        page = (ROOT / "docs" / "rules" / f"{rule.code}.md").read_text(encoding="utf-8")
        positions = [page.index(f"## {s}") for s in DOC_SECTIONS]
        assert positions == sorted(positions), rule.code
        assert f"| [{rule.code}](docs/rules/{rule.code}.md) |" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_flake8_plugin_through_flake8(tmp_path):
    src = tmp_path / "m.py"
    src.write_text(
        "import torch.nn.functional as F\n\n\n"
        "def f(x, y):\n"
        "    a = F.cross_entropy(F.softmax(x, dim=1), y)\n"
        "    b = F.cross_entropy(F.softmax(x, dim=1), y)  # noqa: PIT101\n"
        "    return a + b\n"
    )
    r = subprocess.run([sys.executable, "-m", "flake8", "--select", "PIT", str(src)], capture_output=True, text=True, timeout=60)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, r.stdout + r.stderr
    assert lines[0].startswith(f"{src}:5:25: PIT101 cross_entropy expects raw logits")
    ignored = subprocess.run([sys.executable, "-m", "flake8", "--select", "PIT", "--extend-ignore", "PIT101", str(src)], capture_output=True, text=True, timeout=60)
    assert ignored.stdout == ""


def test_every_probe_belongs_to_a_registered_rule():
    from torchpit.probe import list_probes

    codes = {r.code for r in all_rules()}
    probes = list_probes()
    assert probes and {p.rule for p in probes} <= codes
