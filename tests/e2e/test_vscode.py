"""VS Code end to end: the extension's .vsix inside code-server (VS Code in the browser),
driven by headless Chromium through playwright-core (tests/e2e/vscode_driver.cjs).

The workspace holds a .py file and a notebook with PIT101 and PIT301 each. The driver waits for
both in the Problems panel, hovers, applies quick fixes (file and notebook cell), types a new
pitfall and waits for its squiggle, reads the protocol trace, runs every command
package.json contributes, and points torchpit.interpreter at a server that fails to start and
at Python 3.9 before setting it back: the server must recover without a window reload. Screenshots, the driver's result and the logs land in
.e2e/artifacts/vscode/.

Needs what `make setup-vscode-e2e` installs (tests/e2e/setup_vscode.sh: code-server,
playwright-core, Debian's chromium) and the .vsix (`make vsix`); `make test` does both.
Without them the test is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .vscode_workspace import USER_SETTINGS, write_workspace

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "vscode-client"
CACHE = Path(os.environ.get("TORCHPIT_E2E_CACHE", ROOT / ".e2e" / "cache"))
ARTIFACTS = ROOT / ".e2e" / "artifacts" / "vscode"
CODE_SERVER = CACHE / "code-server-4.100.3" / "bin" / "code-server"
PLAYWRIGHT = CACHE / "node" / "node_modules" / "playwright-core"
DRIVER = Path(__file__).with_name("vscode_driver.cjs")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
WAIT_MS = 60_000


def _missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI=true requires the VS Code end-to-end test to run")
    pytest.skip(message)


def _vsix() -> Path:
    manifest = json.loads((CLIENT / "package.json").read_text())
    vsix = CLIENT / f"torchpit-{manifest['version']}.vsix"
    if not vsix.exists():
        _missing(f"{vsix.name} is not built (make vsix)")
    sources = [CLIENT / "package.json", *(CLIENT / "src").glob("*.ts")]
    stale = [p.name for p in sources if p.stat().st_mtime > vsix.stat().st_mtime]
    if stale:
        _missing(f"{vsix.name} is older than {', '.join(stale)} (make vsix)")
    return vsix


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"code-server exited with {proc.returncode}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except OSError:
            time.sleep(0.25)
    raise AssertionError(f"code-server did not answer at {url}")


def _tail(paths, chars: int = 3000) -> str:
    return "\n".join(f"--- {p}\n{p.read_text(errors='replace')[-chars:]}" for p in paths if p.is_file())


def test_extension_in_code_server(tmp_path: Path) -> None:
    for path, what in ((CODE_SERVER, "code-server"), (PLAYWRIGHT, "playwright-core"), (Path(CHROMIUM), "chromium")):
        if not path.exists():
            _missing(f"{what} is not installed (make setup-vscode-e2e)")
    vsix = _vsix()
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)

    user_data, extensions, workspace = tmp_path / "user-data", tmp_path / "extensions", tmp_path / "workspace"
    (user_data / "User").mkdir(parents=True)
    (user_data / "User" / "settings.json").write_text(json.dumps(USER_SETTINGS, indent=2))
    write_workspace(workspace, sys.executable)
    # Interpreters for the recovery steps: one whose server dies at start (it passes the
    # extension's version check), and a Python 3.9.
    broken, old = tmp_path / "broken-python", tmp_path / "python3.9"
    broken.write_text('#!/bin/sh\nif [ "$1" = -c ]; then echo 3.11.0; exit 0; fi\necho "no torchpit here" >&2\nexit 1\n')
    old.write_text("#!/bin/sh\necho 3.9.18\n")
    broken.chmod(0o755)
    old.chmod(0o755)
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "TORCHPIT_CACHE_DIR": str(tmp_path / "torchpit-cache"),
    }
    base = [str(CODE_SERVER), "--user-data-dir", str(user_data), "--extensions-dir", str(extensions), "--config", str(tmp_path / "config.yaml")]
    installed = subprocess.run([*base, "--install-extension", str(vsix)], env=env, capture_output=True, text=True, timeout=180)
    assert installed.returncode == 0 and "successfully installed" in installed.stdout, installed.stdout + installed.stderr

    port = _free_port()
    server_log = ARTIFACTS / "code-server.log"
    with server_log.open("w") as log:
        proc = subprocess.Popen(
            [*base, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}", "--disable-telemetry", "--disable-update-check",
             "--disable-workspace-trust", str(workspace)],
            env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        commands = json.loads((CLIENT / "package.json").read_text())["contributes"]["commands"]
        result_file = ARTIFACTS / "result.json"
        driver = subprocess.run(
            ["node", str(DRIVER)],
            env={
                **env,
                "PLAYWRIGHT_CORE": str(PLAYWRIGHT),
                "TORCHPIT_CHROMIUM": CHROMIUM,
                "TORCHPIT_URL": f"http://127.0.0.1:{port}/?folder={workspace}",
                "TORCHPIT_ARTIFACTS": str(ARTIFACTS),
                "TORCHPIT_RESULT": str(result_file),
                "TORCHPIT_COMMANDS": json.dumps(commands),
                "TORCHPIT_WAIT_MS": str(WAIT_MS),
                "TORCHPIT_SETTINGS_FILE": str(workspace / ".vscode" / "settings.json"),
                "TORCHPIT_BROKEN_PYTHON": str(broken),
                "TORCHPIT_OLD_PYTHON": str(old),
            },
            capture_output=True, text=True, timeout=600,
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
    logs = sorted(user_data.glob("logs/*/exthost*/**/*torchpit*.log"))
    for p in logs:
        shutil.copy(p, ARTIFACTS / p.name)
    assert result_file.exists(), f"the driver wrote no result (exit {driver.returncode}):\n{driver.stdout}{driver.stderr}"
    result = json.loads(result_file.read_text())
    print(json.dumps({k: v for k, v in result.items() if k != "console_errors"}, indent=2)[:6000])
    context = f"\nscreenshots: {ARTIFACTS}\n{_tail(logs)}\n{_tail([server_log], 1500)}"

    assert result.get("ok") and driver.returncode == 0, f"{result.get('error')}{context}"
    done = {s["name"] for s in result["steps"] if s["ok"]}
    expected = {
        "workbench", "file-problems", "file-squiggles", "hover", "quick-fix", "type-new-pitfall",
        "notebook-problems", "notebook-cell-squiggle-and-quick-fix", "trace-output",
        "failed-start", "old-python", "recovered", "restart-after-failed-start",
        *(f"command-{c['command']}" for c in commands),
    }
    assert expected <= done, f"steps not done: {sorted(expected - done)}{context}"
    assert {"PIT101", "PIT301"} <= set(result["problems"]["file"]["train.py"])
    assert {"PIT101", "PIT301"} <= set(result["problems"]["notebook"]["explore.ipynb"])
    assert not [n for n in result["notifications"] if "not analysed" in n], result["notifications"]
