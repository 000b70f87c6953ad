"""Drop the same AIS message heard by several receivers within a short window.

Two receivers hearing one transmission produce the same payload bits; a vessel never sends the
same bits twice within seconds (position reports carry the UTC second and change state).
"""

from __future__ import annotations

from collections import deque


class Deduplicator:
    def __init__(self, window_ms: int = 20_000, max_entries: int = 500_000) -> None:
        self.window_ms = window_ms
        self.max_entries = max_entries
        self._seen: dict[bytes, int] = {}
        self._order: deque[tuple[int, bytes]] = deque()

    def is_duplicate(self, payload: bytes, now_ms: int) -> bool:
        """Whether this payload was remembered within the window."""
        seen = self._seen.get(payload)
        return seen is not None and abs(now_ms - seen) <= self.window_ms

    def remember(self, payload: bytes, now_ms: int) -> None:
        """Called once the payload became records: a bad message is never a duplicate."""
        self._seen[payload] = now_ms
        order = self._order
        order.append((now_ms, payload))
        if order[0][0] < now_ms - self.window_ms or len(order) > self.max_entries:
            self._expire(now_ms)

    def _expire(self, now_ms: int) -> None:
        order, seen = self._order, self._seen
        limit = now_ms - self.window_ms
        while order and (order[0][0] < limit or len(order) > self.max_entries):
            stamp, payload = order.popleft()
            if seen.get(payload) == stamp:
                del seen[payload]
