"""Fixes never break the code they fix.

- Every fix (safe and unsafe) applied to every rule fixture and to the examples gives code
  that parses, and re-running torchpit on it finds nothing new: no finding that was not there
  before, and applying the fixes again reaches a fixed point.
- A line a fix inserts (also the header of a block a fix wraps code in) goes where a person
  would write it: never between a comment and the line below it that the comment explains, never inside a decorator list, never after a
  backslash that continues the line above.
- The programs in tests/fix_runtime/ train and evaluate a tiny model on the CPU. Each carries
  several pitfalls; with every fix applied, each must still run to the end, train its model
  (its parameters change: backward still reaches them) and print "ok".
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.fixes import apply_fixes
from torchpit.analyzers.semantic.inference import JediOptions

from .conftest import FIXTURES, ROOT

RUNTIME = ROOT / "tests" / "fix_runtime"
SNAPSHOTS = ROOT / "tests" / "snapshots"


def _offers_a_fix(fixture: Path) -> bool:
    """A rule fixture whose snapshot records a fixed text (the snapshot test keeps it current)."""
    snap = SNAPSHOTS / fixture.parent.name / (fixture.stem + ".json")
    return snap.exists() and json.loads(snap.read_text(encoding="utf-8")).get("fixed") is not None


def _has_fixes(path: Path) -> bool:
    return any(d.fix for d in analyze(path.read_text(encoding="utf-8"), str(path), jedi=JediOptions(enabled=False)).diagnostics)


FILES = sorted(
    [*filter(_offers_a_fix, FIXTURES.glob("PIT*/*.py")), *filter(_has_fixes, [*(ROOT / "examples").rglob("*.py"), *RUNTIME.glob("*.py")])]
)
NO_JEDI = JediOptions(enabled=False)


def _misplaced_insertions(text: str, diagnostics) -> list[str]:
    """The inserted lines of ``diagnostics``' fixes that sit where no person would put them."""
    import io
    import tokenize

    lines = text.split("\n")
    comments = {t.start[0] - 1 for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type == tokenize.COMMENT and not t.line[: t.start[1]].strip()}
    in_decorators: set[int] = set()
    for node in ast.walk(ast.parse(text)):
        if getattr(node, "decorator_list", None):
            in_decorators.update(range(node.decorator_list[0].lineno, node.lineno))  # 0-based lines after the first '@' line
    out = []
    indent = lambda s: len(s) - len(s.lstrip())  # noqa: E731
    for d in diagnostics:
        for e in d.fix.edits if d.fix else ():
            at = e.range.start
            head, _, rest = e.new_text.partition("\n")
            replaced = "\n".join(lines[at.line : e.range.end.line + 1])
            # a wrap (PIT201's ``with torch.no_grad():``) inserts its header line above the lines it re-indents
            wraps = at.col == 0 and bool(rest) and textwrap.dedent(rest) == textwrap.dedent(replaced)
            if not wraps and (e.range.end != at or at.col != 0 or not e.new_text.endswith("\n") or at.line >= len(lines)):
                continue
            below, above = lines[at.line], lines[at.line - 1] if at.line else ""
            where = f"{d.code} inserts {(head if wraps else e.new_text).strip()!r} above line {at.line + 1}"
            if at.line - 1 in comments and below.strip() and indent(above) <= indent(below):
                out.append(f"{where}, between the comment {above.strip()!r} and the line it explains")
            if at.line in in_decorators:
                out.append(f"{where}, inside a decorator list")
            if above.rstrip().endswith("\\") and at.line - 1 not in comments:
                out.append(f"{where}, after a line continuation")
    return out


def _codes(text: str, path: str) -> Counter:
    return Counter(d.code for d in analyze(text, path, jedi=NO_JEDI).diagnostics)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_fix_parses_and_finds_nothing_new(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    before = analyze(text, str(path), jedi=NO_JEDI)
    assert any(d.fix for d in before.diagnostics), "no fix offered"
    current = text
    misplaced = []
    for _ in range(3):  # overlapping fixes are applied on a later pass, as `--fix` does
        diagnostics = analyze(current, str(path), jedi=NO_JEDI).diagnostics
        misplaced += _misplaced_insertions(current, diagnostics)
        result = apply_fixes(current, diagnostics, unsafe=True, path=str(path))
        ast.parse(result.text)  # a fix never writes a file that no longer parses
        if result.text == current:
            break
        current = result.text
    else:
        pytest.fail("applying the fixes did not reach a fixed point in three passes")
    new = _codes(current, str(path)) - Counter(d.code for d in before.diagnostics)
    assert not new, f"fixing created findings: {dict(new)}"
    assert not misplaced, "\n".join(misplaced)


def _run(source: str, tmp: Path) -> subprocess.CompletedProcess:
    script = tmp / "program.py"
    script.write_text(source, encoding="utf-8")
    return subprocess.run([sys.executable, "-W", "ignore", str(script)], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("path", sorted(RUNTIME.glob("*.py")), ids=lambda p: p.name)
def test_fixed_programs_still_train(path: Path, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    text = path.read_text(encoding="utf-8")
    diags = analyze(text, str(path), jedi=NO_JEDI).diagnostics
    assert len({d.code for d in diags if d.fix}) >= 3, "a runtime program should exercise several fixes"
    fixed = text
    for _ in range(3):
        nxt = apply_fixes(fixed, analyze(fixed, str(path), jedi=NO_JEDI).diagnostics, unsafe=True, path=str(path)).text
        if nxt == fixed:
            break
        fixed = nxt
    assert fixed != text
    run = _run(fixed, tmp_path)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), f"the fixed program failed:\n{run.stdout}\n{run.stderr[-3000:]}"
