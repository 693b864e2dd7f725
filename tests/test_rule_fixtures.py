"""Rule tests are data: every file under tests/fixtures/<CODE>/ is analyzed with every rule.

A line that should be reported carries a marker comment, ``# error: PIT101`` (several codes
separated by commas). Every reported (line, code) must be marked and every marker reported, so
negative fixtures (no markers) prove the rules stay silent. Messages, ranges and fixes are
compared with tests/snapshots/; ``pytest --update-snapshots`` rewrites them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.fixes import apply_fixes
from torchpit.analyzers.semantic.inference import JediOptions

from .conftest import FIXTURES, ROOT

MARKER = re.compile(r"#\s*error:\s*(?P<codes>PIT[0-9]{3}(?:\s*,\s*PIT[0-9]{3})*)")
SNAPSHOTS = ROOT / "tests" / "snapshots"
FILES = sorted(p for p in FIXTURES.glob("PIT*/*.py"))


def expected_markers(text: str) -> set[tuple[int, str]]:
    out = set()
    for i, line in enumerate(text.splitlines()):
        m = MARKER.search(line)
        if m:
            for code in re.split(r"\s*,\s*", m.group("codes")):
                out.add((i + 1, code))
    return out


def fixture_id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


@pytest.mark.parametrize("path", FILES, ids=fixture_id)
def test_fixture(path: Path, update_snapshots: bool) -> None:
    text = path.read_text(encoding="utf-8")
    result = analyze(text, str(path), jedi=JediOptions(enabled=False))
    assert not result.rule_errors, [str(e) for e in result.rule_errors]
    reported = {(d.range.start.line + 1, d.code) for d in result.diagnostics}
    expected = expected_markers(text)
    assert reported == expected, (
        f"\nmissing (marked, not reported): {sorted(expected - reported)}"
        f"\nunexpected (reported, not marked): {sorted(reported - expected)}"
    )
    if path.name.startswith("negative"):
        assert not expected, "negative fixtures carry no markers"
    else:
        assert any(code == path.parent.name for _, code in expected), f"a positive fixture of {path.parent.name} must mark it"

    # Snapshot of what the user reads and what the fix writes.
    snapshot = {
        "diagnostics": [
            {
                "line": d.range.start.line + 1,
                "code": d.code,
                "message": d.message,
                "related": [r.message for r in d.related],
                "fix": d.fix and {"message": d.fix.message, "applicability": d.fix.applicability.value},
            }
            for d in result.diagnostics
        ],
        "fixed": apply_fixes(text, result.diagnostics, unsafe=True, path=str(path)).text
        if any(d.fix for d in result.diagnostics)
        else None,
    }
    snap = SNAPSHOTS / path.parent.name / (path.stem + ".json")
    missing = not snap.exists()
    if update_snapshots or missing:
        snap.parent.mkdir(parents=True, exist_ok=True)
        snap.write_text(json.dumps(snapshot, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        if missing and not update_snapshots:
            pytest.fail(f"snapshot {snap} was missing and has been written; review it and run again")
    assert json.loads(snap.read_text(encoding="utf-8")) == snapshot, f"snapshot differs: {snap} (pytest --update-snapshots)"


def test_every_rule_has_fixtures() -> None:
    from torchpit.analyzers.engine.registry import all_rules

    for rule in all_rules():
        files = list((FIXTURES / rule.code).glob("*.py"))
        positives = [f for f in files if f.name.startswith("positive")]
        negatives = [f for f in files if f.name.startswith("negative")]
        assert positives and negatives, f"{rule.code} needs positive_*.py and negative_*.py fixtures"


def test_bn_frozen_by_class_name_test_does_not_crash_the_rule():
    """``'BatchNorm' in m.__class__.__name__`` once hit an undefined name in PIT302's helper."""
    text = (
        "def freeze_bn(model):\n"
        "    for m in model.modules():\n"
        "        if 'BatchNorm' in m.__class__.__name__:\n"
        "            for p in m.parameters():\n"
        "                p.requires_grad = False\n"
    )
    result = analyze(text, "t.py", jedi=JediOptions(enabled=False))
    assert not result.rule_errors
