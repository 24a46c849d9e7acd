"""Run an iterator a few items ahead on a background thread.

Decoding Parquet or CSV is the slow part of a score, and pyarrow releases the
GIL while it decodes: with each input's batches produced on its own thread,
the two inputs decode in parallel and overlap with the NumPy work of the main
thread. Items must be immutable or fresh (Arrow record batches are), since
the producer runs ahead of the consumer.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["Readahead"]

T = TypeVar("T")

_DONE = object()


class Readahead(Generic[T]):
    """``iter(items)``, produced up to ``depth`` items ahead on a daemon thread.

    An exception raised by the producer is raised again by the ``next`` call
    that reaches it, so errors keep their meaning and order. :meth:`close`
    stops the producer; call it before closing the files it reads.

    >>> list(Readahead(iter(range(5))))
    [0, 1, 2, 3, 4]
    """

    def __init__(self, items: Iterator[T], depth: int = 2, name: str = "cosloss-readahead") -> None:
        self._queue: queue.Queue[tuple[bool, object]] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._finished = False
        # daemon: a producer blocked on a pipe that never ends must not keep the process alive
        self._thread = threading.Thread(target=self._run, args=(items,), name=name, daemon=True)
        self._thread.start()

    def _put(self, entry: tuple[bool, object]) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, items: Iterator[T]) -> None:
        try:
            for item in items:
                if not self._put((True, item)):
                    return
            self._put((True, _DONE))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put((False, exc))

    def __iter__(self) -> Readahead[T]:
        return self

    def __next__(self) -> T:
        if self._finished:
            raise StopIteration
        ok, item = self._queue.get()
        if not ok:
            self._finished = True
            assert isinstance(item, BaseException)
            raise item
        if item is _DONE:
            self._finished = True
            raise StopIteration
        return item  # type: ignore[return-value]

    def close(self, timeout: float = 1.0) -> bool:
        """Stop the producer and wait (a bounded time) for it to let go of its input.

        Returns whether it did: a producer blocked on a pipe that sends nothing still holds its
        stream, and closing that stream would wait for the read too."""
        self._finished = True
        self._stop.set()
        try:
            while True:
                self._queue.get_nowait()
        except queue.Empty:
            pass
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)
        return not self._thread.is_alive()
