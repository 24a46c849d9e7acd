"""The read-ahead thread: same items in the same order, errors where they happened, a clean stop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cosine_cli.readers.readahead import Readahead

from .waiting import wait_for


def test_items_and_order_are_kept() -> None:
    assert list(Readahead(iter(range(1000)), depth=3)) == list(range(1000))


def test_an_error_comes_after_the_items_before_it() -> None:
    def items() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad batch 3")

    it = Readahead(items())
    assert next(it) == 1 and next(it) == 2
    with pytest.raises(ValueError, match="bad batch 3"):
        next(it)
    with pytest.raises(StopIteration):
        next(it)


def test_the_producer_stays_at_most_depth_ahead_and_close_stops_it() -> None:
    produced: list[int] = []
    released = threading.Event()

    def items() -> Iterator[int]:
        for i in range(10_000):
            produced.append(i)
            yield i
        released.set()

    it = Readahead(items(), depth=2)
    assert next(it) == 0

    def producer_blocked() -> bool:
        # the queue is full and the producer holds the item it cannot put: it can go no further
        return it._queue.full() and len(produced) >= 4

    wait_for(producer_blocked, "the producer blocked on a full queue", timeout=10)
    # one handed out, two queued, one more held by the blocked producer
    assert len(produced) == 4
    it.close()
    assert not it._thread.is_alive()
    assert not released.is_set()
    with pytest.raises(StopIteration):
        next(it)
