"""Process-wide settings and start-up for Lookout's long-running and batch commands.

`wait_until_ready`: a service may start before what it needs (its broker, its database), as
deployments rarely start their parts in order; it waits, says so, and stops cleanly if told to.

`tune_gc`: the pipeline allocates millions of small, short-lived, acyclic objects (decoded
reports, track points, bus messages), which reference counting frees at once. CPython's default
collector thresholds (700, 10, 10) nevertheless scan the young generation every 700 allocations
and the older ones, which hold the bus and every vessel's state, every few thousand: about 15 %
of `lookout process`'s time, for no memory saved (the peak resident size is the same). A young
generation of 50,000 and older ones collected a tenth and a hundredth as often keep the
collector for what it is for, reference cycles.
"""

from __future__ import annotations

import gc
import logging
import socket
import threading
import time
from collections.abc import Callable
from typing import Final

log = logging.getLogger(__name__)

GC_THRESHOLDS: Final = (50_000, 20, 100)


def tune_gc() -> None:
    gc.set_threshold(*GC_THRESHOLDS)


def wait_until_ready(
    what: str,
    problem: Callable[[], str | None],
    stop: threading.Event,
    every_s: float = 1.0,
    log_every_s: float = 30.0,
) -> bool:
    """Ask `problem()` every `every_s` until it says None (True) or `stop` is set (False),
    logging why it waits for `what` at once, every `log_every_s`, and when the wait ends."""
    since = time.monotonic()
    logged: float | None = None  # seconds into the wait of the last warning
    while not stop.is_set():
        why = problem()
        waited = time.monotonic() - since
        if why is None:
            if logged is not None:
                log.warning("%s reachable after %.0f s", what, waited)
            return True
        if logged is None:
            log.warning("waiting for %s: %s", what, why)
            logged = waited
        elif waited - logged >= log_every_s:
            log.warning("still waiting for %s after %.0f s: %s", what, waited, why)
            logged = waited
        stop.wait(every_s)
    return False


def tcp_unreachable(servers: list[tuple[str, int]], timeout_s: float = 1.0) -> str | None:
    """Why none of `servers` (host, port) accepts a TCP connection; None when one does."""
    problems = []
    for host, port in servers:
        try:
            socket.create_connection((host.strip("[]"), port), timeout_s).close()
            return None
        except OSError as exc:
            problems.append(f"{host}:{port}: {exc}")
    return "; ".join(problems)
