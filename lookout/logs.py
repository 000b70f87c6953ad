"""Logging for the `lookout` commands: one line per record with its level, and no floods.

kafka-python logs every failed reconnect, metadata refresh and coordinator lookup, several times
a second while a broker is away (and, in a state seen once in testing, a thousand lines a
second). An operations centre's log store should not fill with one line repeated: an exact
repeat of a kafka-python line within `every_s` is held back, and the next one let through says
how many were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
REPEAT_EVERY_S = 30.0
_MAX_REMEMBERED = 1024  # distinct lines remembered; older ones are forgotten past this


class RepeatFilter(logging.Filter):
    """Lets an exact repeat of a line through once per `every_s`, for loggers under `prefix`.

    A repeat is the same logger, level and formatted message, so two different errors, or the
    same message about two nodes, both get through."""

    def __init__(
        self,
        prefix: str = "kafka",
        every_s: float = REPEAT_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._prefix = prefix
        self._every_s = every_s
        self._clock = clock
        self._seen: dict[tuple[str, int, str], tuple[float, int]] = {}  # -> (let through, held)

    def filter(self, record: logging.LogRecord) -> bool:
        name = record.name
        if not (name == self._prefix or name.startswith(self._prefix + ".")):
            return True
        key = (name, record.levelno, record.getMessage())
        now = self._clock()
        known = self._seen.get(key)
        if known is not None and now - known[0] < self._every_s:
            self._seen[key] = (known[0], known[1] + 1)
            return False
        if known is not None and known[1]:
            held, since_s = known[1], now - known[0]
            record.msg = f"{key[2]} (and {held} more like it in the last {since_s:.0f} s)"
            record.args = None
        self._forget_old(now)
        self._seen[key] = (now, 0)
        return True

    def _forget_old(self, now: float) -> None:
        if len(self._seen) < _MAX_REMEMBERED:
            return
        self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self._every_s}
        if len(self._seen) >= _MAX_REMEMBERED:
            self._seen.clear()


def configure(level: int = logging.INFO) -> None:
    """Root logging for a `lookout` command: the format above, kafka-python's repeats held back."""
    logging.basicConfig(level=level, format=FORMAT)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # 7 lines a start
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(RepeatFilter())
