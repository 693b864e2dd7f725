"""The collector around analyses (analyzers/engine/collector.py): paused while one runs; in a
long-lived process, what survives is frozen, the cycles left are collected, sweeps free the
cycles that formed among frozen objects."""

from __future__ import annotations

import gc
import weakref

import pytest

from torchpit.analyzers.engine import collector


class Node:
    def __init__(self) -> None:
        self.other: object = None


def _cycle() -> weakref.ref:
    a, b = Node(), Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.fixture
def frozen_policy():
    gc.collect()
    collector.keep_survivors_frozen()
    try:
        yield
    finally:
        collector.keep_survivors_frozen(False)
        gc.unfreeze()
        gc.collect()


def _in_a_generation(obj: object) -> bool:
    return any(o is obj for o in gc.get_objects())


def test_the_collector_waits_while_an_analysis_runs_and_is_enabled_after() -> None:
    assert gc.isenabled()
    with collector.paused():
        assert not gc.isenabled()
        with collector.paused():  # a second analysis at the same time
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_without_the_policy_nothing_is_frozen() -> None:
    before = gc.get_freeze_count()
    with collector.paused():
        kept = Node()
    assert gc.get_freeze_count() == before and _in_a_generation(kept)


def test_what_an_analysis_keeps_is_frozen_and_the_cycles_it_left_are_collected(frozen_policy) -> None:
    with collector.paused():
        pass  # the first settle sweeps (what the process loaded is frozen once)
    with collector.paused():
        kept = Node()
        dead = _cycle()
    assert dead() is None  # collected at the end of the analysis
    assert not _in_a_generation(kept)  # frozen: later passes do not scan it
    assert gc.isenabled()


def test_without_the_young_collections_a_cycle_left_waits_for_the_next_sweep() -> None:
    """The batch mode's policy: nothing is collected at the end of an analysis, what it left is
    frozen, cycles included, and a sweep frees those."""
    gc.collect()
    collector.keep_survivors_frozen(young=False)
    try:
        with collector.paused():
            pass  # the first settle sweeps
        with collector.paused():
            kept = Node()
            dead = _cycle()
        assert dead() is not None and not _in_a_generation(kept)  # both frozen, nothing collected
        collector.sweep()
        assert dead() is None and kept.other is None
    finally:
        collector.keep_survivors_frozen(False)
        gc.unfreeze()
        gc.collect()


def test_a_cycle_formed_among_frozen_objects_is_freed_by_a_sweep(frozen_policy) -> None:
    with collector.paused():
        pass
    with collector.paused():
        holder = [Node(), Node()]
    a, b = holder
    a.other, b.other = b, a
    ref = weakref.ref(a)
    del a, b, holder
    gc.collect()
    assert ref() is not None  # frozen: the collector does not see it
    sweeps = collector.sweeps
    collector.sweep()
    assert ref() is None and collector.sweeps == sweeps + 1


def test_a_sweep_is_due_once_many_objects_were_frozen_since_the_last(frozen_policy, monkeypatch) -> None:
    with collector.paused():
        pass
    monkeypatch.setattr(collector, "SWEEP_MIN_OBJECTS", 1000)
    monkeypatch.setattr(collector, "_live", 100)  # (this test process froze far more)
    sweeps = collector.sweeps
    kept = []
    for _ in range(3):
        with collector.paused():
            kept.append([Node() for _ in range(200)])
    assert collector.sweeps == sweeps  # 600 frozen objects since the last sweep: not yet
    with collector.paused():
        kept.append([Node() for _ in range(1000)])
    assert collector.sweeps == sweeps + 1


def test_a_batch_run_in_this_process_freezes_its_survivors_and_hands_them_back(tmp_path, monkeypatch) -> None:
    """``torchpit check`` on the files it checks in its own process (one job): the policy is on
    while they are analysed, and afterwards it is off and nothing stays frozen."""
    from torchpit import batch

    for i in range(3):
        (tmp_path / f"m{i}.py").write_text("import torch\nx = torch.zeros(3)\n")
    seen: list[tuple[bool, int]] = []
    real = batch._work
    monkeypatch.setattr(batch, "_work", lambda item: seen.append((collector._freeze and not collector._young, gc.get_freeze_count())) or real(item))
    gc.unfreeze()
    results = list(batch.run_check([str(tmp_path)], batch.RunOptions(jobs=1, use_cache=False)))
    assert len(results) == 3
    # on, without the young collections, and the first file's survivors frozen
    assert all(on for on, _ in seen) and seen[-1][1] > 0
    assert not collector._freeze and collector._young and gc.get_freeze_count() == 0
