"""Fixes of the state rules (PIT203-PIT208) keep the fixtures running (issue 13).

Every fix, safe and unsafe, is applied to the positive fixtures of these rules; the fixed
text must parse, a second analysis must find nothing more to fix, and the fixed program must
run on CPU wherever the original ran (one subprocess with torch runs all of them).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys

from torchpit.analyzers.engine.analysis import analyze
from torchpit.analyzers.engine.fixes import apply_fixes
from torchpit.analyzers.semantic.inference import JediOptions

from .conftest import FIXTURES

CODES = {"PIT203", "PIT204", "PIT205", "PIT206", "PIT207", "PIT208"}

RUNNER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
import torch
out = {}
for name, text in json.load(sys.stdin).items():
    try:
        exec(compile(text, name, "exec"), {"__name__": "fixture"})
        out[name] = None
    except BaseException as exc:  # noqa: BLE001 - the outcome is what is compared
        out[name] = type(exc).__name__
print(json.dumps(out))
"""


def _fixed(path) -> tuple[str, str] | None:
    text = path.read_text(encoding="utf-8")
    diags = [d for d in analyze(text, str(path), jedi=JediOptions(enabled=False)).diagnostics if d.code in CODES]
    if not any(d.fix for d in diags):
        return None
    return text, apply_fixes(text, diags, unsafe=True, path=str(path)).text


def test_fixed_fixtures_parse_settle_and_still_run():
    programs: dict[str, str] = {}
    for code in sorted(CODES):
        for path in sorted((FIXTURES / code).glob("positive_*.py")):
            pair = _fixed(path)
            if pair is None:
                continue
            original, fixed = pair
            ast.parse(fixed)
            again = [d for d in analyze(fixed, str(path), jedi=JediOptions(enabled=False)).diagnostics if d.code in CODES and d.fix]
            assert not again, f"{path.name}: fixing again would change {[(d.code, d.range.start.line + 1) for d in again]}"
            programs[f"{code}/{path.name}:original"] = original
            programs[f"{code}/{path.name}:fixed"] = fixed
    assert programs, "no fixture of these rules has a fix"
    proc = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(programs), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    outcome = json.loads(proc.stdout.strip().splitlines()[-1])
    ran = [k for k in programs if k.endswith(":original") and outcome[k] is None]
    assert ran, "no original fixture runs: the check would prove nothing"
    broken = [k for k in ran if outcome[k.replace(":original", ":fixed")] is not None]
    assert not broken, {k: outcome[k.replace(":original", ":fixed")] for k in broken}
