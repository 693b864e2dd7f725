"""The cyclic garbage collector around analyses.

An analysis allocates a tree and a model of some 50,000 objects in a few milliseconds. With
the collector running, its generation thresholds make it scan them again and again meanwhile,
which measured as a third of the time per keystroke in the language server
(benchmarks/README.md). So the collector waits while an analysis runs (:func:`paused`); the
model breaks its own cycles when done (``SemanticModel.release``), so reference counting frees
nearly all of it.

A long-lived process (the language server) keeps much of what its analyses leave alive: each
open document's parser and rule memo. Left to the collector, those survivors are scanned by
every later pass of the older generations: after about ten analyses a generation-1 pass
scanned ten documents' kept state at once, 90 to 150 ms on our 2-CPU machine, on the critical
path of whichever keystroke came next (benchmarks/README.md, "Stop 21"). With
:func:`keep_survivors_frozen` switched on, the end of each analysis (the last one, if several
run at once):

- the first time, collects everything and freezes it: what the first analysis loaded (jedi,
  parso, typeshed's and torch's stubs) lives as long as the process;
- collects the young generation: the few cycles the analysis left (jedi's parse trees, the
  closures of ``ast.literal_eval``), at a cost of the objects it allocated and kept;
- freezes what survived (``gc.freeze``): later passes never scan it again. A frozen object
  is still freed by reference counting when the memo drops it (the memo and the model break
  their own cycles, ``RuleMemo.release``), so the document's state comes and goes as before;
- sweeps the frozen objects (unfreeze, a full collection, freeze) once the objects frozen
  since the last sweep outnumber four times those that survived it (and
  ``SWEEP_MIN_OBJECTS``): a cycle nobody broke is freed then, not never. :func:`sweep` does
  the same on demand (the server, once things are quiet after documents were closed).

The batch mode switches it on too, in each worker process and around the files it checks in
its own process (:func:`survivors_frozen`): a worker keeps, from one file to the next, the
models of the project modules its files import and what jedi loaded. Over the 475 files of
pytorch/examples, nanoGPT, timm and yolov5 in one process (jedi on), the collector's passes
took 0.78 s of 5.78 s of CPU with the thresholds, and the whole took 5.24 to 5.36 s with
the survivors frozen (benchmarks/README.md, stop 22). A batch run does not collect the young
generation after each file (``young=False``): over those 475 files the 480 collections found
no unreachable object at all and cost 0.65 s of 9.8 s of CPU. The cycles a file leaves there
are frozen with the rest and freed by the next sweep, which comes as before once the objects
frozen since the last one outnumber four times those it kept (stop 23).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from typing import Iterator

SWEEP_MIN_OBJECTS = 200_000

_lock = threading.Lock()
_holders = 0
_was_enabled = True
_freeze = False
_young = True  # collect the young generation at each settle (see keep_survivors_frozen)
_live = -1  # the frozen objects that survived the last sweep (-1: none yet, sweep at the first settle)
_frozen_since = 0  # objects frozen since then (many freed again since: a bound, not a count)
sweeps = 0  # sweeps done (for the tests and showDebugInfo)


def keep_survivors_frozen(enabled: bool = True, young: bool = True) -> None:
    """Switch the long-lived process policy on (see module docs). With ``young=False`` (the
    batch mode) the end of an analysis freezes what it left without collecting it first: the
    cycles it left wait for the next sweep."""
    global _freeze, _young, _frozen_since, _live
    with _lock:
        _freeze, _young = enabled, young
        _frozen_since, _live = 0, -1


@contextlib.contextmanager
def survivors_frozen(young: bool = True) -> Iterator[None]:
    """The policy of :func:`keep_survivors_frozen` for the length of a block (a batch run's
    files checked in this process), unless it is on already; at the end the frozen objects are
    handed back to the collector (``gc.unfreeze``), and the process is as it was."""
    with _lock:
        already = _freeze
    if already:
        yield
        return
    keep_survivors_frozen(young=young)
    try:
        yield
    finally:
        keep_survivors_frozen(False)
        gc.unfreeze()


@contextlib.contextmanager
def paused() -> Iterator[None]:
    """The collector waits while the block runs (thread-safe: the last of several concurrent
    blocks to end re-enables it, after settling the survivors if the policy is on)."""
    global _holders, _was_enabled
    with _lock:
        _holders += 1
        if _holders == 1:
            _was_enabled = gc.isenabled()
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                if _freeze:
                    _settle()
                if _was_enabled:
                    gc.enable()


def _settle() -> None:
    """Under the lock, the collector disabled: collect the young, freeze the survivors, sweep
    when due. (The survivors are counted as the generation they were moved to: walking the
    frozen list itself, ``gc.get_freeze_count``, took 15 ms for 110,000 objects; the young
    generation's count, taken before its collection, bounds them at no cost.)"""
    global _frozen_since
    _frozen_since += gc.get_count()[0]
    if _young:
        gc.collect(0)
    gc.freeze()
    if _live < 0 or _frozen_since > max(SWEEP_MIN_OBJECTS, 4 * _live):
        _sweep()


def _sweep() -> None:
    global _live, _frozen_since, sweeps
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    _live = gc.get_freeze_count()
    _frozen_since = 0
    sweeps += 1


def sweep() -> None:
    """A full collection of the frozen objects too, now (no-op with the policy off, or while
    an analysis runs: its end settles instead)."""
    with _lock:
        if _freeze and _holders == 0:
            _sweep()
