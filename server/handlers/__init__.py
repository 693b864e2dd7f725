"""The LSP handlers, one module per topic. Each is a thin module-level function
``handler(ls, params)`` over the session (``session.py``), the scheduler (``scheduler.py``)
and the pure functions next to them; :func:`register` wires them to the server.

- ``lifecycle``: initialize, initialized, shutdown, the editor process's death
- ``configuration``: settings, workspace folders, pyproject.toml changes
- ``documents``: text documents' open, change, save, close
- ``notebooks``: notebook documents' open, change, save, close
- ``diagnostics``: publishing, pull diagnostics, out-of-sync documents
- ``actions``: code actions and hover
- ``commands``: ``workspace/executeCommand`` (explain, apply a fix, debug info, the probe)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import actions, commands, configuration, diagnostics, documents, lifecycle, notebooks

if TYPE_CHECKING:
    from ..server import TorchpitServer

MODULES = (lifecycle, configuration, documents, notebooks, diagnostics, actions, commands)


def register(server: "TorchpitServer") -> None:
    for module in MODULES:
        for method, options, handler in getattr(module, "FEATURES", ()):
            server.feature(method, options)(handler)
        for name, handler in getattr(module, "COMMANDS", ()):
            server.command(name)(handler)
