"""When analyses run: debounce, supersession, the worker pool, priorities, staleness.

Every edit (and every settings change) bumps the unit's token (:meth:`Scheduler.supersede`);
work queued for an older token is cancelled before it starts, a running one is dropped when
it ends. An outcome is handed to ``on_outcome`` only if its token is still the unit's, the
unit is still open and in sync: a result computed for a version that has since changed is
never published. Analyses run in one worker (a thread, or a spawned process with
``--pool process``), never on the event loop.

Jobs wait in the scheduler's own queue (:class:`Dispatcher`), not in the pool's: the
analysis of a document edited in the last ``RECENT_EDIT_S`` seconds (the one being typed in)
goes before the others (documents just opened, re-analysed after a settings change or a
save), which otherwise queue ahead of the keystroke: opening 200 files put 200 analyses
before it. While edits keep the worker busy, the others still get a turn once every
``MAX_WAIT_S`` seconds, so none waits for ever.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import multiprocessing
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

from pygls.exceptions import JsonRpcInvalidParams

from torchpit.analyzers.engine import collector

from .analysis import DocResult, Job, Outcome, forget_in_worker, run_job
from .session import Session, Unit
from .background import init_worker

QUIET_AFTER_S = 0.5  # no analysis for this long: the background worker may go on
RECENT_EDIT_S = 30.0  # a document edited this recently is being typed in: its analyses go first
MAX_WAIT_S = 1.0  # while edits keep the worker busy, the other jobs get a turn this often
INTERLEAVE_S = 0.015  # a document's first analysis runs at least this long between two interleavings

T = TypeVar("T")

log = logging.getLogger("torchpit.server")


@dataclass
class _Inflight:
    token: int
    future: asyncio.Future
    cf: concurrent.futures.Future  # the pool's future, to cancel queued work


class Dispatcher:
    """Hands the pool one job at a time, the next chosen from two queues: ``urgent`` (the
    documents being typed in) and the others, each first in, first out. The oldest other job
    goes first when it has waited ``max_wait`` seconds and no other job started in the last
    ``max_wait`` seconds: under a stream of edits the others advance one per ``max_wait``.

    The futures it returns can be cancelled while they wait here (a superseded job never
    starts); once handed to the pool they run to the end. Thread-safe: the next job is
    handed over from the pool's completion callback (the worker thread, or the process
    pool's management thread), with no trip through the event loop.
    """

    def __init__(self, pool: concurrent.futures.Executor, max_wait: float = MAX_WAIT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.pool = pool
        self.max_wait = max_wait
        self.clock = clock
        self._lock = threading.Lock()
        self._urgent: collections.deque = collections.deque()
        self._other: collections.deque = collections.deque()
        self._running = False
        self._other_started = float("-inf")  # when the last other job started
        self._closed = False
        self._dispatching = False  # a thread is in _next
        self._again = False  # _next was asked again meanwhile

    def submit(self, fn: Callable[..., Any], arg: Any, urgent: bool) -> concurrent.futures.Future:
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            (self._urgent if urgent else self._other).append((self.clock(), fn, arg, fut))
        self._next()
        return fut

    def _pick(self) -> tuple | None:
        """The next job to run (under the lock): cancelled ones are dropped on the way."""
        while self._urgent or self._other:
            now = self.clock()
            due = self._other and now - self._other[0][0] >= self.max_wait and now - self._other_started >= self.max_wait
            queue = self._other if (not self._urgent or due) else self._urgent
            item = queue.popleft()
            if item[3].set_running_or_notify_cancel():
                if queue is self._other:
                    self._other_started = now
                return item
        return None

    def _next(self) -> None:
        """Hand the pool the next job if it has none. Never re-entered: a job that is done
        before its callback is added calls back at once, from inside this loop (a superseded
        job returns at once), and the loop goes on instead of recursing."""
        with self._lock:
            if self._dispatching:
                self._again = True
                return
            self._dispatching = True
        while True:
            with self._lock:
                self._again = False
                item = None if (self._running or self._closed) else self._pick()
                if item is None:
                    self._dispatching = False
                    return
                self._running = True
            _, fn, arg, fut = item
            try:
                inner = self.pool.submit(fn, arg)
            except RuntimeError as exc:  # the pool is shut down
                fut.set_exception(exc)
                with self._lock:
                    self._running = False
                continue
            inner.add_done_callback(lambda done, fut=fut: self._finished(done, fut))
            with self._lock:
                if not self._again:
                    self._dispatching = False
                    return

    def _finished(self, inner: concurrent.futures.Future, fut: concurrent.futures.Future) -> None:
        if inner.cancelled():
            fut.set_exception(concurrent.futures.CancelledError())
        elif inner.exception() is not None:
            fut.set_exception(inner.exception())
        else:
            fut.set_result(inner.result())
        with self._lock:
            self._running = False
        self._next()

    def take_waiting(self, eligible: Callable[[Any], bool]) -> list[tuple[Callable[..., Any], Any, concurrent.futures.Future]]:
        """The urgent jobs waiting now whose argument is ``eligible``, taken out of the queue to
        be run by the caller, in the pool's worker, while its own job is between two steps
        (``Scheduler._between``). Cancelled ones are dropped on the way."""
        taken = []
        with self._lock:
            if self._closed:
                return []
            kept: collections.deque = collections.deque()
            while self._urgent:
                item = self._urgent.popleft()
                if item[3].cancelled():
                    continue
                if eligible(item[2]) and item[3].set_running_or_notify_cancel():
                    taken.append((item[1], item[2], item[3]))
                else:
                    kept.append(item)
            self._urgent = kept
        return taken

    def waiting(self) -> int:
        with self._lock:
            return len(self._urgent) + len(self._other)

    def shutdown(self) -> None:
        with self._lock:
            self._closed = True
            queued = [*self._urgent, *self._other]
            self._urgent.clear()
            self._other.clear()
        for item in queued:
            item[3].cancel()


class Scheduler:
    def __init__(
        self,
        session: Session,
        pool: str,
        on_outcome: Callable[[Unit, Outcome], None],
        on_error: Callable[[Job, BaseException], None],
    ) -> None:
        self.session = session
        self.pool_kind = pool
        # The worker keeps each document's state: what analyses leave alive is frozen out of the
        # collector's sight (analyzers/engine/collector.py).
        self.pool: concurrent.futures.Executor = (
            # spawn, not fork: forking a process that has threads (pygls' reader) can deadlock the child
            concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=collector.keep_survivors_frozen)
            if pool == "process"
            else concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="torchpit-analysis", initializer=collector.keep_survivors_frozen)
        )
        self.dispatcher = Dispatcher(self.pool)
        self.on_outcome = on_outcome
        self.on_error = on_error
        self.settings_ready: asyncio.Event | None = None  # set once the settings are read (initialized)
        self._pending: dict[str, asyncio.Task] = {}  # unit key -> the debounced run
        self._inflight: dict[str, _Inflight] = {}
        self._interleaved_at = float("-inf")  # when _between last ran waiting keystrokes
        self._tokens: dict[str, int] = {}  # unit key -> current token, read by the worker thread
        self._background: concurrent.futures.ProcessPoolExecutor | None = None
        self._quiet: Any = None  # a multiprocessing Event, set while no analysis runs
        self._quiet_timer: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ tokens
    def edited(self, unit: Unit) -> None:
        """The unit's text changed (``didChange``): it is being typed in."""
        unit.edited_at = time.monotonic()
        self.supersede(unit)

    def supersede(self, unit: Unit) -> None:
        """The unit changed: older work is stale."""
        unit.token += 1
        self._tokens[unit.key] = unit.token
        running = self._inflight.get(unit.key)
        if running is not None:
            running.cf.cancel()  # drops it if it has not started; a running one is dropped when done

    def opened(self, unit: Unit) -> None:
        self.supersede(unit)
        unit.save_token = unit.token

    def forget(self, unit: Unit) -> None:
        """The unit was closed: cancel its work and drop its parser in the worker."""
        self._tokens.pop(unit.key, None)
        pending = self._pending.pop(unit.key, None)
        if pending is not None:
            pending.cancel()
        running = self._inflight.pop(unit.key, None)
        if running is not None:
            running.cf.cancel()
        if self.pool_kind == "process":
            try:
                self.pool.submit(forget_in_worker, unit.key)
            except RuntimeError:  # shut down
                pass

    def current(self, unit: Unit, token: int) -> bool:
        return self.session.units.get(unit.key) is unit and unit.token == token and self.session.in_sync(unit)

    # ------------------------------------------------------------------ running
    def schedule(self, unit: Unit, delay: float) -> None:
        """Analyse the unit after ``delay`` seconds (a later call replaces this one)."""
        pending = self._pending.get(unit.key)
        if pending is not None and not pending.done():
            pending.cancel()
        self._pending[unit.key] = asyncio.ensure_future(self._debounced(unit, delay))

    async def _debounced(self, unit: Unit, delay: float) -> None:
        if self.settings_ready is not None and not self.settings_ready.is_set():
            try:
                await asyncio.wait_for(self.settings_ready.wait(), 5)
            except asyncio.TimeoutError:
                pass
        if delay > 0:
            await asyncio.sleep(delay)
        await self.analyze(unit)

    def _run_in_thread(self, job: Job) -> Outcome | None:
        """In the worker thread: skip work that was superseded while it waited in the queue."""
        if self._tokens.get(job.key) != job.token:
            return None
        return run_job(job, self.session.parsers, between=lambda: self._between(job))

    def _between(self, running: Job) -> None:
        """Between two steps of a document's first analysis (100 ms and more for a 300-line
        file): the keystrokes waiting in the other documents being typed in, whose analyses
        are short, run now instead of after it. At most once per ``INTERLEAVE_S`` of the long
        analysis' own work, so that a stream of keystrokes cannot starve it."""
        now = time.monotonic()
        if now - self._interleaved_at < INTERLEAVE_S:
            return
        parsers = self.session.parsers
        waiting = self.dispatcher.take_waiting(lambda job: job.key != running.key and parsers.is_warm(job.key))
        for fn, job, fut in waiting:
            try:
                fut.set_result(fn(job))
            except BaseException as exc:  # reported like the pool's own failures
                fut.set_exception(exc)
        if waiting:
            self._interleaved_at = time.monotonic()

    async def analyze(self, unit: Unit) -> Outcome | None:
        """The outcome for the unit's current token (joining a run already under way)."""
        if not self.session.in_sync(unit) or self.session.units.get(unit.key) is not unit:
            return None
        running = self._inflight.get(unit.key)
        if running is not None and running.token == unit.token and not running.future.done():
            return await asyncio.shield(running.future)
        job = self.session.make_job(unit)
        self._busy()
        urgent = time.monotonic() - unit.edited_at < RECENT_EDIT_S
        cf = self.dispatcher.submit(run_job if self.pool_kind == "process" else self._run_in_thread, job, urgent)
        fut = asyncio.wrap_future(cf)
        self._inflight[unit.key] = _Inflight(job.token, fut, cf)
        fut.add_done_callback(lambda f: self._done(unit, job, f))
        return await asyncio.shield(fut)

    def _done(self, unit: Unit, job: Job, fut: asyncio.Future) -> None:
        running = self._inflight.get(unit.key)
        if running is not None and running.future is fut:
            del self._inflight[unit.key]
        if not self._inflight:
            self._idle_soon()
        if fut.cancelled() or isinstance(fut.exception(), (asyncio.CancelledError, concurrent.futures.CancelledError)):
            return
        exc = fut.exception()
        if exc is not None:
            self.on_error(job, exc)
            return
        outcome: Outcome | None = fut.result()
        if outcome is None or unit.outcome is outcome or not self.current(unit, job.token):
            return  # superseded: a newer version (or newer settings) is being analysed
        self.on_outcome(unit, outcome)

    async def fresh_result(self, uri: str) -> DocResult | None:
        """The result of the document's current version (analysing it now if needed); None
        while the document is out of sync. Raises InvalidParams for a document not open."""
        session = self.session
        unit = session.unit_for(uri)
        if unit is None:
            raise JsonRpcInvalidParams(f"document not open: {uri}")
        key = session.key_of(uri)
        for _ in range(5):
            if not session.in_sync(unit):
                return None
            if session.is_current(unit) and key in unit.results:
                return unit.results[key]
            try:
                outcome = await self.analyze(unit)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and getattr(task, "cancelling", lambda: 1)():
                    raise  # this request was cancelled
                continue  # the analysis was superseded by an edit: analyse the new version
            if outcome is not None and self.current(unit, outcome.job.token) and unit.result_token != unit.token:
                self.on_outcome(unit, outcome)  # the done-callback may not have run yet
            if session.units.get(unit.key) is not unit:
                raise JsonRpcInvalidParams(f"document closed: {uri}")
        if key in unit.results and session.in_sync(unit):
            return unit.results[key]
        raise JsonRpcInvalidParams(f"document not analysed: {uri}")

    # ------------------------------------------------------------------ the background worker
    async def background(self, fn: Callable[[Any], T], arg: Any) -> T:
        """Run ``fn(arg)`` in the background worker (workspace diagnostics): a process of its
        own, at the lowest priority, started on first use. It can wait for quiet
        (``background.wait_for_quiet``): no analysis of an open document for a moment."""
        if self._background is None:
            ctx = multiprocessing.get_context("spawn")
            self._quiet = ctx.Event()
            self._quiet.set()
            self._background = concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=ctx, initializer=init_worker, initargs=(self._quiet,))
        return await asyncio.wrap_future(self._background.submit(fn, arg))

    def _busy(self) -> None:
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
            self._quiet_timer = None
        if self._quiet is not None:
            self._quiet.clear()

    def _idle_soon(self) -> None:
        if self._quiet is None:
            return
        if self._quiet_timer is not None:
            self._quiet_timer.cancel()
        self._quiet_timer = asyncio.get_running_loop().call_later(QUIET_AFTER_S, self._idle)

    def _idle(self) -> None:
        self._quiet_timer = None
        if not self._inflight and self._quiet is not None:
            self._quiet.set()

    def shutdown(self) -> None:
        self.dispatcher.shutdown()
        self.pool.shutdown(wait=False, cancel_futures=True)
        if self._background is not None:
            self._background.shutdown(wait=False, cancel_futures=True)
