"""Probes: confirm a pitfall's behaviour on the user's own torch and device.

Each probe is a tiny synthetic program run in a fresh subprocess
(``python -m torchpit.probe.worker``) with a timeout, so a device-side assert, a crash or a
hang never reaches the caller. Importing this package does not import torch.

Public API (used by the CLI, the batch mode and the language server):

- :class:`ProbeResult`: what one probe showed; ``to_dict()`` for JSON.
- :func:`list_probes` / :func:`probes_for_rule`: the catalog (:class:`ProbeInfo`).
- :func:`run_rule_probes`: run the rule probes (cached on disk per torch version, device
  and probe version).
- :func:`run_call_probe`: rebuild one flagged call from a JSON call spec
  (:mod:`torchpit.probe.spec`) and report what torch really does with it.
- :func:`torch_status`: whether probes can run here, as ``(ok, one-line message)``.

Errors: :class:`TorchUnavailableError` (torch missing or the device unusable; the message
is one line saying what to install or what is broken) and :class:`SpecError` (a malformed
call spec).
"""

from torchpit.probe.result import (
    STATUSES,
    ProbeInfo,
    ProbeResult,
    SpecError,
    TorchUnavailableError,
)
from torchpit.probe.runner import (
    ProbeEnvironment,
    list_probes,
    probe_environment,
    probes_for_rule,
    run_call_probe,
    run_rule_probes,
    torch_status,
)

__all__ = [
    "STATUSES",
    "ProbeEnvironment",
    "ProbeInfo",
    "ProbeResult",
    "SpecError",
    "TorchUnavailableError",
    "list_probes",
    "probe_environment",
    "probes_for_rule",
    "run_call_probe",
    "run_rule_probes",
    "torch_status",
]
