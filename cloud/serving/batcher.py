"""A dynamic batcher: callers ``await submit(item)``; the model function sees only a list.

- A lone request never waits: a batch runs as soon as the model is free. Only when more requests
  are already queued does it wait up to ``max_delay_s`` to fill the batch (``max_batch_size``).
- Requests whose deadline has passed are dropped before compute (``DeadlineExpired``).
- Admission is bounded in count and in time: a submit fails at once with ``QueueFull`` (carrying a
  retry hint) when ``max_queue`` requests wait, or when the estimated wait exceeds ``max_queue_wait_s``
  or what is left of the request's deadline. Overload then sheds fast instead of letting queued
  calls run into their deadlines, and accepted calls keep a bounded latency.
- Batches run one at a time in a worker thread, off the event loop; a model that has proved cheaper
  than ``inline_below_s`` per batch runs inline, where the thread hop would cost more than the model,
  and a call that finds such a batcher idle runs at once in its caller, without a hop through the
  batch loop.
- Compute is timed here, once per batch: the metrics, the load estimate and each caller's
  ``Timed.compute_s`` all come from that one measurement.
Both knobs can be changed while serving.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

I = TypeVar("I")
O = TypeVar("O")


class QueueFull(Exception):
    """The bounded queue is full; try again after ``retry_after_s``."""

    def __init__(self, retry_after_s: float) -> None:
        super().__init__(f"queue full, retry after {retry_after_s * 1000:.0f} ms")
        self.retry_after_s = retry_after_s


class DeadlineExpired(Exception):
    """The request's deadline passed while it waited; it was never computed."""


@dataclass
class BatchObserver:
    """Hooks for metrics, called where batches form and finish (defaults do nothing)."""

    on_batch: Callable[[int, Sequence[float], float], None] = lambda size, queue_s, compute_s: None
    on_expired: Callable[[], None] = lambda: None
    on_rejected: Callable[[], None] = lambda: None


@dataclass
class _Pending(Generic[I, O]):
    item: I
    future: asyncio.Future[Timed[O]]
    deadline: float | None
    enqueued: float


@dataclass(slots=True)
class Timed(Generic[O]):
    """A result with the time its call spent waiting for a batch and in the model (made once per call: not frozen,
    whose checks would cost more than the rest of its making)."""

    output: O
    queue_s: float
    compute_s: float


class LoadSnapshot(NamedTuple):
    """What every response tells the edge router about this server's load."""

    queue_depth: int
    estimated_wait_s: float
    queue_capacity: int


class DynamicBatcher(Generic[I, O]):
    """Batches calls of ``run(list_of_items) -> list_of_outputs`` (same length, same order)."""

    def __init__(self, run: Callable[[list[I]], list[O]], *, max_batch_size: int = 32, max_delay_s: float = 0.002,
                 max_queue: int = 512, max_queue_wait_s: float = 0.05, inline_below_s: float = 0.0002,
                 observer: BatchObserver | None = None) -> None:
        self._run = run
        self.max_batch_size = max_batch_size
        self.max_delay_s = max_delay_s
        self.max_queue = max_queue
        self.max_queue_wait_s = max_queue_wait_s
        self.inline_below_s = inline_below_s
        self._observer = observer or BatchObserver()
        self._queue: deque[_Pending[I, O]] = deque()
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="batch")
        self._task: asyncio.Task[None] | None = None
        self._compute_ewma_s = 0.0
        self._in_flight = 0

    def set_max_batch_size(self, size: int) -> None:
        """Change the batch size cap while serving."""
        if size < 1:
            raise ValueError("max_batch_size must be >= 1")
        self.max_batch_size = size

    def set_max_delay(self, seconds: float) -> None:
        """Change how long a partial batch may wait for more requests."""
        if seconds < 0:
            raise ValueError("max_delay_s must be >= 0")
        self.max_delay_s = seconds

    def load(self) -> LoadSnapshot:
        """Queue depth and the expected wait of a request submitted now."""
        batches_ahead = len(self._queue) / max(self.max_batch_size, 1) + (1 if self._in_flight else 0)
        return LoadSnapshot(len(self._queue), batches_ahead * self._compute_ewma_s, self.max_queue)

    async def submit(self, item: I, *, deadline: float | None = None) -> O:
        """Queue one item (``deadline`` in ``time.monotonic()`` seconds) and wait for its output."""
        return (await self.submit_timed(item, deadline=deadline)).output

    async def submit_timed(self, item: I, *, deadline: float | None = None) -> Timed[O]:
        """``submit``, returning the output with its queue and compute time."""
        if not self._queue and not self._in_flight and 0 < self._compute_ewma_s < self.inline_below_s:
            started = time.monotonic()  # an idle batcher with a cheap model: computed now, in the caller
            output = self._run([item])[0]
            return Timed(output, 0.0, self._computed(started, (0.0,)))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._serve())
        wait = self.load().estimated_wait_s
        wait_allowed = self.max_queue_wait_s
        if deadline is not None:
            wait_allowed = min(wait_allowed, deadline - time.monotonic() - self._compute_ewma_s)
        if len(self._queue) >= self.max_queue or (self._compute_ewma_s > 0 and wait > wait_allowed):
            self._observer.on_rejected()
            raise QueueFull(max(wait, 0.001))
        pending: _Pending[I, O] = _Pending(item, asyncio.get_running_loop().create_future(), deadline, time.monotonic())
        self._queue.append(pending)
        self._wakeup.set()
        return await pending.future

    async def close(self) -> None:
        """Finish everything queued, then stop the worker."""
        while self._queue or self._in_flight:
            await asyncio.sleep(0.001)
        if self._task:
            self._task.cancel()
        self._executor.shutdown(wait=True)

    def _take(self, limit: int) -> list[_Pending[I, O]]:
        """Up to ``limit`` live requests from the queue; expired ones are failed on the way."""
        batch: list[_Pending[I, O]] = []
        now = time.monotonic()
        while self._queue and len(batch) < limit:
            pending = self._queue.popleft()
            if pending.future.done():  # cancelled by the caller
                continue
            if pending.deadline is not None and pending.deadline <= now:
                pending.future.set_exception(DeadlineExpired("deadline passed while queued"))
                self._observer.on_expired()
                continue
            batch.append(pending)
        return batch

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = self._take(self.max_batch_size)
            if 1 < len(batch) < self.max_batch_size and self.max_delay_s > 0:
                await asyncio.sleep(self.max_delay_s)  # others are arriving: give the batch a moment to fill
                batch += self._take(self.max_batch_size - len(batch))
            if not batch:
                continue
            self._in_flight = len(batch)
            started = time.monotonic()
            items = [p.item for p in batch]
            try:
                if 0 < self._compute_ewma_s < self.inline_below_s:
                    outputs = self._run(items)
                else:
                    outputs = await loop.run_in_executor(self._executor, self._run, items)
            except Exception as err:  # noqa: BLE001 - the batch's callers get the model's error
                for pending in batch:
                    if not pending.future.done():
                        pending.future.set_exception(err)
                continue
            finally:
                self._in_flight = 0
            compute_s = self._computed(started, [started - p.enqueued for p in batch])
            for pending, output in zip(batch, outputs, strict=True):
                if not pending.future.done():
                    pending.future.set_result(Timed(output, started - pending.enqueued, compute_s))

    def _computed(self, started: float, queued_s: Sequence[float]) -> float:
        """Record a batch that began computing at ``started`` (its calls waited ``queued_s``); returns its compute seconds."""
        compute_s = time.monotonic() - started
        self._compute_ewma_s = compute_s if not self._compute_ewma_s else 0.8 * self._compute_ewma_s + 0.2 * compute_s
        self._observer.on_batch(len(queued_s), queued_s, compute_s)
        return compute_s
