"""The probe, as the server uses it: optional (``torchpit.probe`` may be absent), run only on
request (a command or a code action, never on keystrokes), blocking (call it in a thread)."""

from __future__ import annotations

import logging
from typing import Any

from torchpit.analyzers.core.diagnostics import Diagnostic

from .settings import ProbeSettings

log = logging.getLogger("torchpit.server")


def probe_module() -> Any | None:
    try:
        import torchpit.probe as probe
    except ImportError:
        return None
    return probe


def has_probe(diag: Diagnostic) -> bool:
    probe = probe_module()
    if probe is None or not diag.is_rule:
        return False
    try:
        return bool(diag.probe) or bool(probe.probes_for_rule(diag.code))
    except Exception:  # a broken probe catalogue must not break code actions
        log.exception("probe catalogue")
        return False


def run_probes(code: str, spec: dict[str, Any] | None, settings: ProbeSettings) -> list[dict[str, Any]]:
    """Run the rule's probes (and the call-site probe when there is a spec). Never raises:
    problems come back as results with status ``unavailable``/``error``."""
    probe = probe_module()
    if probe is None:
        return [{"rule": code, "status": "unavailable", "summary": "the probe is not installed (torchpit.probe is missing)"}]
    out: list[dict[str, Any]] = []
    try:
        if probe.probes_for_rule(code):
            out.extend(r.to_dict() for r in probe.run_rule_probes([code], device=settings.device, timeout=settings.timeout))
        if spec:
            try:
                out.append(probe.run_call_probe(spec, device=settings.device, timeout=settings.timeout).to_dict())
            except (probe.SpecError, ValueError) as exc:
                out.append({"rule": code, "status": "unavailable", "summary": f"call probe not run: {exc}"})
        if not out:
            out.append({"rule": code, "status": "unavailable", "summary": f"{code} has no probe"})
    except Exception as exc:  # TorchUnavailableError and anything else: a message, not a crash
        out.append({"rule": code, "status": "unavailable", "summary": f"probe not run: {exc}"})
    return out


def probe_target(args: tuple[Any, ...]) -> tuple[str, str | None, int | None, dict[str, Any] | None]:
    """(code, uri, line, call spec) from ``torchpit.runProbe``'s arguments, which may be
    ``"PIT101"``, ``{"code", "uri"?, "line"?, "spec"?}`` (the code action's), or
    ``uri, diagnostic`` (an LSP diagnostic, as the VS Code client sends). Raises ValueError."""
    first = args[0] if args else None
    if isinstance(first, str) and len(args) >= 2 and isinstance(args[1], dict):
        diag = args[1]
        code = diag.get("code")
        code = code.get("value") if isinstance(code, dict) else code
        line = (diag.get("range") or {}).get("start", {}).get("line")
        if not isinstance(code, (str, int)):
            raise ValueError("the diagnostic has no code")
        return str(code).upper(), first, line if isinstance(line, int) else None, None
    if isinstance(first, str):
        return first.upper(), None, None, None
    if isinstance(first, dict) and isinstance(first.get("code"), str):
        uri, line, spec = first.get("uri"), first.get("line"), first.get("spec")
        return (
            first["code"].upper(),
            uri if isinstance(uri, str) else None,
            line if isinstance(line, int) else None,
            spec if isinstance(spec, dict) else None,
        )
    raise ValueError("torchpit.runProbe expects a rule code, {code, uri, line, spec} or (uri, diagnostic)")


def summarize(code: str, results: list[dict[str, Any]]) -> str:
    lines = [f"[{r.get('status')}] {r.get('summary')}" for r in results]
    return f"Probe for {code}: " + "; ".join(lines)


def notes(results: list[dict[str, Any]]) -> list[str]:
    return [f"{r.get('status')}: {r.get('summary')}" for r in results]
