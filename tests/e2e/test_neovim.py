"""Headless Neovim end to end: editors/nvim/torchpit_legacy.lua starts `torchpit server`, the
PIT101 diagnostic appears, the quick fix (picked through vim.lsp.buf.code_action) removes it.

Needs `nvim` (0.7+; `make setup-nvim` installs Debian's). Without it the test is skipped,
except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("neovim_driver.lua")
WAIT_MS = 60_000

SOURCE = """\
import torch
import torch.nn.functional as F


def loss_fn(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(F.softmax(logits, dim=1), y)
"""


def _nvim() -> str:
    nvim = shutil.which("nvim")
    if nvim is None:
        message = "nvim is not installed (make setup-nvim installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message + "; CI=true requires the Neovim end-to-end test to run")
        pytest.skip(message)
    return nvim


def test_quick_fix_in_neovim(tmp_path: Path) -> None:
    nvim = _nvim()
    # The config's default command is `torchpit server`: the one next to this interpreter.
    scripts = sysconfig.get_path("scripts")
    assert (Path(scripts) / "torchpit").exists(), f"torchpit is not installed in {scripts}"
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text('[project]\nname = "demo"\n')
    source = project / "train.py"
    source.write_text(SOURCE)
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
    }
    proc = subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "-c", f"luafile {DRIVER}"],
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
