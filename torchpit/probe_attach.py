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
    for res in probe.run_rule_probes(codes, device=device) if codes else []:
        by_rule.setdefault(res.rule, []).append(res.to_dict())
    for r in results:
        for i, d in enumerate(r.diagnostics):
            found = list(by_rule.get(d.code, []))
            if d.probe:
                try:
                    found.append(probe.run_call_probe(d.probe, device=device).to_dict())
                except (probe.SpecError, ValueError) as exc:
                    found.append({"rule": d.code, "status": "unavailable", "summary": f"call probe not run: {exc}"})
            if found:
                r.probes[i] = found
    return None


def format_probe_text(results: Sequence[FileResult]) -> str:
    """One line per probe result, after the findings; each rule's probe is shown once."""
    lines, shown = [], set()
    for r in results:
        for i, found in sorted(r.probes.items()):
            d = r.diagnostics[i]
            for res in found:
                key = (res.get("probe"), res.get("status"), res.get("summary"))
                if key in shown:
                    continue
                shown.add(key)
                lines.append(f"probe {d.code} [{res.get('status')}]: {res.get('summary')}")
    return "\n".join(lines)
