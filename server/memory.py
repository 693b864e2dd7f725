"""Handing freed memory back to the system.

glibc's malloc keeps the pages an analysis freed in its arenas (one per thread that
allocated: the event loop, the analysis worker, jedi's threads) and reuses them only for
allocations of the same arena and size; after open/edit/close cycles the resident size keeps
creeping up although Python freed everything. ``malloc_trim(0)`` returns the free pages of
every arena to the system. :class:`Trimmer` calls it once things are quiet after a document
is closed (not on the critical path of a keystroke), after a sweep of the collector's frozen
objects (``analyzers/engine/collector.py``), which frees any cycle the closed document's state
left.

``TORCHPIT_MALLOC_TRIM=0`` switches it off (to measure what it does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
import threading
from typing import Callable

from torchpit.analyzers.engine import collector

log = logging.getLogger("torchpit.server")

TRIM_DELAY_S = 1.0


def _load_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux") or os.environ.get("TORCHPIT_MALLOC_TRIM", "1") == "0":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim  # glibc only (musl has none)
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_TRIM = _load_trim()


def trim_now() -> bool:
    """Return the free pages of malloc's arenas to the system; False where there is no
    ``malloc_trim`` (not glibc) or it is switched off."""
    if _TRIM is None:
        return False
    _TRIM(0)
    return True


class Trimmer:
    """``trim_now()`` once, ``delay`` seconds after the last :meth:`request`."""

    def __init__(self, delay: float = TRIM_DELAY_S, trim: Callable[[], bool] = trim_now) -> None:
        self.delay = delay
        self._trim = trim
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self.count = 0  # trims done

    def request(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = threading.Timer(self.delay, self._run)
            self._timer.daemon = True
            self._timer.start()

    def _run(self) -> None:
        with self._lock:
            self._timer = None
        collector.sweep()  # the cycles nobody broke, frozen with the closed document's state
        if self._trim():
            self.count += 1
            log.debug("malloc_trim after closes")


TRIMMER = Trimmer()
