"""The background worker process's side of its gate (kept light: the worker imports this
module, lowers its priority, and only then imports what its tasks need).

The scheduler hands the worker a multiprocessing event that is clear while an open document
is being analysed; a long task (``workspace.scan``) calls :func:`wait_for_quiet` between its
steps, so typing keeps its latency.
"""

from __future__ import annotations

import os
from typing import Any

_QUIET: Any = None
QUIET_WAIT_S = 10.0  # at most this long per step: a task still advances while typing goes on


def init_worker(quiet: Any) -> None:
    """The worker's initializer: the lowest CPU priority, and the event to wait on."""
    global _QUIET
    _QUIET = quiet
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass


def wait_for_quiet() -> None:
    if _QUIET is not None:
        _QUIET.wait(QUIET_WAIT_S)
