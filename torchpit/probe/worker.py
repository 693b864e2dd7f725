"""The probe worker: ``python -m torchpit.probe.worker`` with one JSON request on stdin.

Requests::

    {"kind": "env", "device": "auto"}
    {"kind": "rule", "device": "auto", "probe": "missing-zero-grad", "variant": null}
    {"kind": "call", "device": "auto", "spec": {...}}

The answer is one line on stdout, ``RESULT_MARKER`` followed by JSON: either
``{"ok": true, "env": {...}, "finding": {...}}`` (no finding for "env") or
``{"ok": false, "problem": "torch-unavailable" | "device-unavailable" | "bad-request", "message": ...}``.
Everything else a probe prints is ignored. This process is disposable: the caller runs
each probe in a fresh one, so a device-side assert, crash or hang stays here.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from torchpit.probe.callsite import BuildError, run_call_spec
from torchpit.probe.registry import ProbeContext, error_text, get_probe
from torchpit.probe.result import ERROR
from torchpit.probe.spec import parse_call_spec

RESULT_MARKER = "@@torchpit-probe-result@@"
INSTALL_HINT = "pip install torch"
DEVICES = ("auto", "cuda", "mps", "cpu")


class Unavailable(Exception):
    def __init__(self, problem: str, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def import_torch() -> Any:
    try:
        import torch
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.split(".")[0] == "torch":
            raise Unavailable(
                "torch-unavailable",
                f"torch is not installed for {sys.executable}; install it with: {INSTALL_HINT}",
            ) from None
        raise Unavailable("torch-unavailable", _broken_torch(exc)) from None
    except Exception as exc:  # noqa: BLE001 - any import failure means a broken install
        raise Unavailable("torch-unavailable", _broken_torch(exc)) from None
    return torch


def _broken_torch(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return (f"torch is installed but fails to import ({type(exc).__name__}: {first}); "
            "the install is broken: reinstall torch for this Python")


def resolve_device(torch: Any, requested: str) -> str:
    """Pick the device (auto: cuda, then mps, then cpu) and check it actually works."""
    if requested not in DEVICES:
        raise Unavailable("bad-request", f"unknown device {requested!r}; expected one of {', '.join(DEVICES)}")
    device = requested
    if requested == "auto":
        device = "cuda" if torch.cuda.is_available() else "mps" if _mps_available(torch) else "cpu"
    if device == "cuda":
        _check_cuda(torch)
    elif device == "mps" and not _mps_available(torch):
        raise Unavailable("device-unavailable", f"MPS requested but torch {torch.__version__} reports no MPS device")
    return device


def _mps_available(torch: Any) -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def _check_cuda(torch: Any) -> None:
    if torch.version.cuda is None:
        raise Unavailable(
            "device-unavailable",
            f"CUDA requested but torch {torch.__version__} is a build without CUDA; "
            "install a CUDA build of torch (https://pytorch.org/get-started/locally/)",
        )
    if not torch.cuda.is_available():
        raise Unavailable(
            "device-unavailable",
            f"CUDA requested but torch {torch.__version__} (CUDA {torch.version.cuda}) finds no usable GPU: "
            "check the NVIDIA driver (nvidia-smi) and CUDA_VISIBLE_DEVICES",
        )
    try:
        torch.zeros(1, device="cuda").add_(1)
        torch.cuda.synchronize()
    except Exception as exc:  # noqa: BLE001 - a broken driver/runtime shows up here
        first = (str(exc).strip().splitlines() or [""])[0][:200]
        raise Unavailable("device-unavailable",
                          f"CUDA is broken: a 1-element tensor op failed ({type(exc).__name__}: {first})") from None


def device_name(torch: Any, device: str) -> str:
    if device == "cuda":
        return str(torch.cuda.get_device_name(0))
    return "Apple MPS" if device == "mps" else "CPU"


def handle(request: dict[str, Any]) -> dict[str, Any]:
    kind = request.get("kind")
    if kind not in ("env", "rule", "call"):
        raise Unavailable("bad-request", f"unknown request kind {kind!r}")
    torch = import_torch()
    device = resolve_device(torch, request.get("device", "auto"))
    env = {"torch_version": str(torch.__version__), "device": device, "device_name": device_name(torch, device)}
    if kind == "env":
        return {"ok": True, "env": env}
    if device == "cpu":
        torch.set_num_threads(1)  # probes are tiny; callers run several workers side by side
    torch.manual_seed(0)
    ctx = ProbeContext(torch=torch, device=device, variant=request.get("variant"))
    try:
        if kind == "rule":
            _, fn = get_probe(request["probe"])
            finding = fn(ctx)
        else:
            try:
                finding = run_call_spec(ctx, parse_call_spec(request["spec"]))
            except BuildError as exc:
                return {"ok": True, "env": env,
                        "finding": {"status": ERROR, "message": str(exc), "observations": {}}}
    except Exception as exc:  # noqa: BLE001 - a probe bug must come back as a result
        text = error_text(exc)
        return {"ok": True, "env": env, "finding": {
            "status": ERROR, "message": f"the probe itself failed: {text}", "observations": {"error": text}}}
    return {"ok": True, "env": env, "finding": {
        "status": finding.status, "message": finding.message, "observations": finding.observations}}


def main() -> int:
    try:
        request = json.loads(sys.stdin.read())
        if not isinstance(request, dict):
            raise Unavailable("bad-request", "the request must be a JSON object")
        answer = handle(request)
    except Unavailable as exc:
        answer = {"ok": False, "problem": exc.problem, "message": str(exc)}
    except json.JSONDecodeError as exc:
        answer = {"ok": False, "problem": "bad-request", "message": f"the request is not JSON: {exc}"}
    sys.stdout.write("\n" + RESULT_MARKER + json.dumps(answer, default=str) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
