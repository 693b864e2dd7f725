"""The workspace the VS Code end-to-end test opens: a .py file and a notebook, each with a
PIT101 (softmax before cross_entropy) and a PIT301 (F.dropout without training=)."""

from __future__ import annotations

import json
from pathlib import Path

from ..server.conftest import BOTH_SRC

TRAIN_PY = BOTH_SRC  # PIT101 on line 7, PIT301 on line 18

CELLS = [
    "import torch.nn as nn\nimport torch.nn.functional as F",
    "logits = model(x)\nloss = F.cross_entropy(F.softmax(logits, dim=1), y)",
    "class Net(nn.Module):\n    def forward(self, x):\n        return F.dropout(x, p=0.5)",
]


def notebook() -> dict:
    return {
        "cells": [
            {"cell_type": "code", "execution_count": None, "id": f"cell{i}", "metadata": {}, "outputs": [], "source": src.splitlines(keepends=True)}
            for i, src in enumerate(CELLS)
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def write_workspace(folder: Path, python: str) -> None:
    """The files, and workspace settings that run the server on ``python`` (with the default
    importStrategy, useBundled: the torchpit the .vsix bundles)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.py").write_text(TRAIN_PY)
    (folder / "explore.ipynb").write_text(json.dumps(notebook(), indent=1))
    (folder / ".vscode").mkdir(exist_ok=True)
    settings = {"torchpit.interpreter": [python], "torchpit.debounce": 50, "torchpit.trace.server": "verbose"}
    (folder / ".vscode" / "settings.json").write_text(json.dumps(settings, indent=2))


USER_SETTINGS = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "telemetry.telemetryLevel": "off",
    "extensions.ignoreRecommendations": True,
    "update.mode": "none",
    "workbench.enableExperiments": False,
    "editor.hover.delay": 100,
    "git.enabled": False,
    "notebook.cellToolbarLocation": {"default": "hidden"},
}
