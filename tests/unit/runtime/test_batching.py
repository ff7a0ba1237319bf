import asyncio

import pytest

from drafast.runtime.batching import Batcher


async def test_items_are_grouped_while_a_flush_runs() -> None:
    batches: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        batches.append(items)
        await asyncio.sleep(0.01)

    b: Batcher[int] = Batcher(flush, "t")
    await asyncio.gather(*(b.submit(i) for i in range(20)))
    assert sorted(x for batch in batches for x in batch) == list(range(20))
    assert len(batches) <= 2  # the first item alone, then everything that queued meanwhile


async def test_errors_reach_every_submitter_of_the_batch() -> None:
    async def flush(items: list[int]) -> None:
        raise OSError("disk full")

    b: Batcher[int] = Batcher(flush, "t")
    results = await asyncio.gather(*(b.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(r, OSError) for r in results)


async def test_cancelled_submitter_does_not_cancel_the_flush() -> None:
    done: list[list[int]] = []

    async def flush(items: list[int]) -> None:
        await asyncio.sleep(0.02)
        done.append(items)

    b: Batcher[int] = Batcher(flush, "t")
    t = asyncio.create_task(b.submit(1))
    await asyncio.sleep(0.005)
    t.cancel()
    with pytest.raises(asyncio.CancelledError):
        await t
    await b.submit(2)
    assert [1] in done and [2] in done
