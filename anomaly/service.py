"""`lookout detect`: the detection service's three roles, each its own consumer group.

- `vessels`: the per-vessel detectors over `tracks.points` (group `detect`, keyed by MMSI);
- `router`: re-keys points by spatial cell onto `tracks.cells` (group `cells`);
- `cells`: the cross-vessel detectors (encounter) over `tracks.cells` (group `detect-cells`).

By default a process runs all three in threads, so any number of identical `lookout detect`
processes share every role's partitions; a deployment that wants to scale the roles apart runs
`lookout detect --role ...` for each.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

from anomaly.cell_router import CellRouter
from anomaly.context import DetectContext
from anomaly.health import HealthBoard
from anomaly.rules import RuleSet
from anomaly.stage import DetectSettings, run_detect
from anomaly.store import DetectStore
from lookout.bus import topics
from lookout.bus.base import Bus

__all__ = ["ROLES", "cell_settings", "run_detect_service"]

log = logging.getLogger(__name__)

ROLES: Final = ("vessels", "router", "cells")


def cell_settings(base: DetectSettings | None = None) -> DetectSettings:
    """The cross-vessel stage: `tracks.cells` in, its own group and stored states."""
    return replace(base or DetectSettings(), group="detect-cells", topic=topics.CELLS,
                   keyed_by="cell")  # fmt: skip


def run_detect_service(
    bus: Bus,
    store: DetectStore,
    rules: RuleSet,
    context: DetectContext,
    roles: Sequence[str] = ROLES,
    stop: threading.Event | None = None,
    *,
    health_board: HealthBoard | None = None,
) -> None:
    """Run `roles` until `stop` is set; a role that fails stops the others. The detecting
    roles report their rules' health to `health_board`."""
    stop = stop or threading.Event()
    board = health_board
    starters: dict[str, Callable[[], object]] = {
        "vessels": lambda: run_detect(bus, store, rules, context, None, stop, board),
        "router": lambda: CellRouter(bus).run(stop),
        "cells": lambda: run_detect(bus, store, rules, context, cell_settings(), stop, board),
    }
    unknown = set(roles) - set(starters)
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}; known: {', '.join(ROLES)}")
    failures: list[BaseException] = []

    def guarded(role: str) -> None:
        try:
            starters[role]()
        except BaseException as exc:
            log.exception("detect role %s failed", role)
            failures.append(exc)
            stop.set()
            bus.begin_stop()  # the others stop too, even if the broker is what failed

    threads = [
        threading.Thread(target=guarded, args=(role,), name=f"detect-{role}", daemon=True)
        for role in roles
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
