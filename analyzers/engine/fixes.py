"""Applying fixes: non-overlapping edits, never a result that does not parse."""

from __future__ import annotations

import ast
import difflib
import os
import tempfile
import warnings
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..core.diagnostics import Applicability, Diagnostic, Edit
from ..syntax.source import SourceFile

MAX_FIX_PASSES = 10


@dataclass
class FixResult:
    text: str
    applied: list[Diagnostic] = field(default_factory=list)
    # Fixes skipped because they overlapped another or their result did not parse.
    skipped: list[Diagnostic] = field(default_factory=list)


def parses(text: str) -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def is_applicable(diag: Diagnostic, unsafe: bool) -> bool:
    if diag.fix is None:
        return False
    if diag.fix.applicability is Applicability.SAFE:
        return True
    return unsafe and diag.fix.applicability is Applicability.UNSAFE


def apply_edits(text: str, edits: Sequence[Edit]) -> str:
    """Apply edits that do not overlap (applied from the end so offsets stay valid)."""
    src = SourceFile(text)
    spans = sorted(((src.offset(e.range.start), src.offset(e.range.end), e.new_text) for e in edits), reverse=True)
    out = text
    for start, end, new in spans:
        out = out[:start] + new + out[end:]
    return out


def apply_fixes(text: str, diagnostics: Iterable[Diagnostic], *, unsafe: bool = False, path: str | None = None) -> FixResult:
    """One pass: apply every applicable, non-overlapping fix whose result still parses."""
    result = FixResult(text)
    src = SourceFile(text)
    taken: list[tuple[int, int]] = []
    chosen: list[Diagnostic] = []
    for diag in sorted((d for d in diagnostics if is_applicable(d, unsafe)), key=lambda d: d.range.start):
        assert diag.fix is not None
        spans = [(src.offset(e.range.start), src.offset(e.range.end)) for e in diag.fix.edits]
        if any(s < te and ts < e or (s == e == ts == te) for s, e in spans for ts, te in taken):
            result.skipped.append(diag)
            continue
        taken.extend(spans)
        chosen.append(diag)
    if not chosen:
        return result
    if not parses(text):  # never "fix" a file that is already broken
        result.skipped.extend(chosen)
        return result
    candidate = apply_edits(text, [e for d in chosen for e in d.fix.edits])  # type: ignore[union-attr]
    if parses(candidate):
        result.text, result.applied = candidate, chosen
        return result
    # Something broke the parse: add fixes one at a time and keep those that still parse.
    # The edits do not overlap, so applying a growing set to the original text is exact.
    current = text
    for diag in chosen:
        combined = apply_edits(text, [e for d in [*result.applied, diag] for e in d.fix.edits])  # type: ignore[union-attr]
        if parses(combined):
            result.applied.append(diag)
            current = combined
        else:
            result.skipped.append(diag)
    result.text = current
    return result


def fix_until_stable(
    text: str,
    analyze_fn: Callable[[str], Sequence[Diagnostic]],
    *,
    unsafe: bool = False,
) -> FixResult:
    """Re-analyze and apply fixes until none apply (at most MAX_FIX_PASSES passes)."""
    total = FixResult(text)
    current = text
    for _ in range(MAX_FIX_PASSES):
        diags = analyze_fn(current)
        step = apply_fixes(current, diags, unsafe=unsafe)
        if not step.applied:
            break
        total.applied.extend(step.applied)
        current = step.text
    total.text = current
    return total


def unified_diff(path: str, before: str, after: str) -> str:
    return "".join(
        difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}")
    )


def write_atomic(path: str, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` so that readers see the old or the new file, never half of one."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".torchpit-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except OSError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
