"""The batcher's contract, on a plain function (the model-backed path is tested over gRPC)."""

from __future__ import annotations

import asyncio
import time

import pytest

from cloud.serving.batcher import BatchObserver, DeadlineExpired, DynamicBatcher, QueueFull


def test_concurrent_calls_form_batches_and_keep_order() -> None:
    sizes: list[int] = []

    def run(items: list[int]) -> list[int]:
        time.sleep(0.01)
        return [x * 10 for x in items]

    async def main() -> list[int]:
        batcher = DynamicBatcher(run, max_batch_size=8, max_delay_s=0.002, observer=BatchObserver(on_batch=lambda n, q, c: sizes.append(n)))
        results = await asyncio.gather(*(batcher.submit(i) for i in range(40)))
        await batcher.close()
        return list(results)

    assert asyncio.run(main()) == [i * 10 for i in range(40)]
    assert max(sizes) == 8 and len(sizes) < 40


def test_lone_request_does_not_wait_for_a_batch() -> None:
    async def main() -> float:
        batcher = DynamicBatcher(lambda items: items, max_batch_size=64, max_delay_s=0.5)
        await batcher.submit(0)  # start the worker
        started = time.monotonic()
        await batcher.submit(1)
        elapsed = time.monotonic() - started
        await batcher.close()
        return elapsed

    assert asyncio.run(main()) < 0.25, "a lone request waited for max_delay_s"


def test_expired_requests_are_dropped_before_compute() -> None:
    computed: list[int] = []

    def run(items: list[int]) -> list[int]:
        computed.extend(items)
        time.sleep(0.05)
        return items

    async def main() -> None:
        batcher = DynamicBatcher(run, max_batch_size=1)
        first = asyncio.ensure_future(batcher.submit(1))
        await asyncio.sleep(0.01)  # 1 is computing; 2 waits and expires
        with pytest.raises(DeadlineExpired):
            await batcher.submit(2, deadline=time.monotonic() + 0.01)
        await first
        await batcher.close()

    asyncio.run(main())
    assert computed == [1]


def test_full_queue_sheds_at_once_with_a_retry_hint() -> None:
    async def main() -> QueueFull:
        batcher = DynamicBatcher(lambda items: (time.sleep(0.05), items)[1], max_batch_size=1, max_queue=2)
        waiting = [asyncio.ensure_future(batcher.submit(0))]
        await asyncio.sleep(0.01)  # 0 is computing
        waiting += [asyncio.ensure_future(batcher.submit(i)) for i in (1, 2)]
        await asyncio.sleep(0)  # 1 and 2 fill the queue
        started = time.monotonic()
        with pytest.raises(QueueFull) as caught:
            await batcher.submit(99)
        assert time.monotonic() - started < 0.01
        await asyncio.gather(*waiting)
        await batcher.close()
        return caught.value

    assert asyncio.run(main()).retry_after_s > 0


def test_model_errors_reach_every_caller_of_the_batch() -> None:
    def run(items: list[int]) -> list[int]:
        raise RuntimeError("model exploded")

    async def main() -> None:
        batcher = DynamicBatcher(run)
        results = await asyncio.gather(batcher.submit(1), batcher.submit(2), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        await batcher.close()

    asyncio.run(main())


def test_compute_is_timed_once_and_reaches_callers_and_metrics() -> None:
    observed: list[tuple[int, float]] = []

    def run(items: list[int]) -> list[int]:
        time.sleep(0.02)
        return items

    async def main() -> list[float]:
        batcher = DynamicBatcher(run, max_batch_size=4, max_delay_s=0.001,
                                 observer=BatchObserver(on_batch=lambda n, q, c: observed.append((n, c))))
        timed = await asyncio.gather(*(batcher.submit_timed(i) for i in range(4)))
        await batcher.close()
        assert [t.output for t in timed] == [0, 1, 2, 3]
        return [t.compute_s for t in timed]

    computes = asyncio.run(main())
    assert all(c >= 0.02 for c in computes)
    assert sorted({c for _, c in observed}) == sorted(set(computes)), "callers and metrics saw different compute times"


def test_an_idle_batcher_runs_a_cheap_call_in_its_caller() -> None:
    batches: list[int] = []

    async def main() -> None:
        batcher = DynamicBatcher(lambda items: items, inline_below_s=1.0, observer=BatchObserver(on_batch=lambda n, q, c: batches.append(n)))
        await batcher.submit(0)  # the first batch measures the model
        assert batcher._task is not None
        served_by_loop = len(batches)
        timed = await batcher.submit_timed(1)
        assert timed.output == 1 and timed.queue_s == 0.0 and timed.compute_s >= 0
        assert len(batches) == served_by_loop + 1  # recorded like any batch
        await batcher.close()

    asyncio.run(main())
