"""``torchpit check --probe``: attach probe observations to findings.

Each distinct rule found is probed once (``run_rule_probes``); a finding that carries a
call-site specification is also probed on its own call (``run_call_probe``). Probes run in
subprocesses with timeouts (see :mod:`torchpit.probe`), so a crash cannot stop the check.
"""

from __future__ import annotations

from typing import Sequence

from .batch import FileResult


def attach_probe_results(results: Sequence[FileResult], device: str = "auto") -> str | None:
    """Fill ``FileResult.probes``. Returns a one-line message when probes cannot run."""
    from torchpit import probe

    ok, message = probe.torch_status()
    if not ok:
        return message
    codes = sorted({d.code for r in results for d in r.diagnostics if probe.probes_for_rule(d.code)})
    by_rule: dict[str, list[dict]] = {}
    try:
        for res in probe.run_rule_probes(codes, device=device) if codes else []:
            by_rule.setdefault(res.rule, []).append(res.to_dict())
    except probe.TorchUnavailableError as exc:  # e.g. --probe-device cuda on a machine without one
        return str(exc)
    for r in results:
        for i, d in enumerate(r.diagnostics):
            found = list(by_rule.get(d.code, []))
            if d.probe:
                try:
                    found.append(probe.run_call_probe(d.probe, device=device).to_dict())
                except (probe.SpecError, ValueError, probe.TorchUnavailableError):
                    found.append({"rule": d.code, "status": "unavailable", "summary": CALL_NOT_REBUILT})
            if found:
                r.probes[i] = found
    return None


# What the user reads when this very call cannot be replayed (the spec's details are internal).
CALL_NOT_REBUILT = (
    "this very call could not be replayed on sample tensors: torchpit could not rebuild its arguments"
)
