"""Fixes: never a result that does not parse; atomic writes."""

from __future__ import annotations

import os
import stat

from torchpit.analyzers.core.diagnostics import Applicability, Diagnostic, Edit, Fix, Range
from torchpit.analyzers.engine.fixes import apply_fixes, write_atomic

TEXT = "a = f(x)\nb = g(y)\n"


def diag(line: int, c0: int, c1: int, new: str, app: Applicability = Applicability.SAFE) -> Diagnostic:
    rng = Range.of(line, c0, line, c1)
    return Diagnostic("PIT101", "softmax-before-cross-entropy", "m", rng, fix=Fix("f", app, (Edit(rng, new),)))


def test_a_fix_that_breaks_the_parse_is_skipped_and_the_others_applied():
    good = diag(0, 4, 8, "x")  # a = x
    bad = diag(1, 4, 8, "g(y")  # b = g(y   <- unbalanced
    result = apply_fixes(TEXT, [good, bad])
    assert result.text == "a = x\nb = g(y)\n"
    assert result.applied == [good] and result.skipped == [bad]


def test_unsafe_fixes_need_opt_in_and_overlaps_are_skipped():
    unsafe = diag(0, 4, 8, "x", Applicability.UNSAFE)
    assert apply_fixes(TEXT, [unsafe]).text == TEXT
    assert apply_fixes(TEXT, [unsafe], unsafe=True).text == "a = x\nb = g(y)\n"
    first, overlapping = diag(0, 4, 8, "x"), diag(0, 6, 7, "z")
    result = apply_fixes(TEXT, [first, overlapping])
    assert result.applied == [first] and result.skipped == [overlapping]


def test_a_file_with_a_syntax_error_is_never_fixed():
    broken = "a = f(x)\nb = (\n"
    assert apply_fixes(broken, [diag(0, 4, 8, "x")]).text == broken


def test_write_atomic_keeps_mode_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "script.py"
    target.write_text("old\n")
    os.chmod(target, 0o750)
    write_atomic(str(target), "new\r\nline\n")
    assert target.read_bytes() == b"new\r\nline\n"  # line endings kept as given
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o750
    assert sorted(p.name for p in tmp_path.iterdir()) == ["script.py"]


def test_positions_survive_form_feeds_and_crlf():
    from torchpit.analyzers.engine.analysis import analyze

    text = "import torch.nn.functional as F\r\n\x0c\r\ns = 'a\u2028b'\r\ndef f(x, y):\r\n    return F.cross_entropy(F.softmax(x, dim=1), y)\r\n"
    d = analyze(text, "t.py").diagnostics
    assert [(x.code, x.range.start.line, x.range.start.col) for x in d] == [("PIT101", 4, 27)]
    fixed = apply_fixes(text, d)
    assert fixed.text.endswith("    return F.cross_entropy(x, y)\r\n")
