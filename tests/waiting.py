"""Waiting in tests: for a condition to hold, and for a stage's loop running in a thread."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


def wait_for(
    condition: Callable[[], bool],
    timeout_s: float = 15.0,
    every_s: float = 0.02,
    what: str = "the condition",
) -> None:
    """Return once `condition()` holds; AssertionError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every_s)


@contextmanager
def running(loop: Callable[[threading.Event], None], join_s: float = 30.0) -> Iterator[None]:
    """Run `loop(stop)` (a stage's `run`) in a thread; on exit, set `stop` and join it."""
    stop = threading.Event()
    runner = threading.Thread(target=loop, args=(stop,))
    runner.start()
    try:
        yield
    finally:
        stop.set()
        runner.join(join_s)
