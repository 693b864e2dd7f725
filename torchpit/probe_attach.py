"""``torchpit check --probe``: attach probe observations to findings.

Each distinct rule found is probed once (``run_rule_probes``); a finding that carries a
call-site specification is also probed on its own call (``run_call_probe``). Probes run in
subprocesses with timeouts (see :mod:`torchpit.probe`), so a crash cannot stop the check.
"""

from __future__ import annotations

from typing import Sequence

from .batch import FileResult


def attach_probe_results(results: Sequence[FileResult], device: str = "auto") -> None:
    from torchpit import probe

    ok, message = probe.torch_status()
    for r in results:
        r.probe_notes = []  # type: ignore[attr-defined]
    if not ok:
        for r in results:
            if r.diagnostics:
                r.probe_notes.append(f"probe unavailable: {message}")  # type: ignore[attr-defined]
                break
        return
    codes = sorted({d.code for r in results for d in r.diagnostics if probe.probes_for_rule(d.code)})
    by_rule = {}
    for res in probe.run_rule_probes(codes, device=device) if codes else []:
        by_rule.setdefault(res.rule, []).append(res)
    for r in results:
        for d in r.diagnostics:
            notes = [f"{d.code}: {res.status}: {res.summary}" for res in by_rule.get(d.code, [])]
            if d.probe:
                call = probe.run_call_probe(d.probe, device=device)
                notes.append(f"{d.code} at line {d.range.start.line + 1}: {call.status}: {call.summary}")
            r.probe_notes.extend(notes)  # type: ignore[attr-defined]
            by_rule.pop(d.code, None)  # each rule's probe is shown once


def format_probe_text(results: Sequence[FileResult]) -> str:
    lines = []
    for r in results:
        for note in getattr(r, "probe_notes", []):
            lines.append(f"probe: {note}")
    return "\n".join(lines)
