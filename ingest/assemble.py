"""Assemble multipart AIS messages, per source, station and channel, with a timeout.

pyais keeps unfinished fragments forever; here a message whose parts do not all arrive within
`timeout_ms` of wall-clock time, or within `max_gap_lines` further lines, is given up, and every
line it held is handed back so the caller can dead-letter it. A later part whose earlier parts
never came is an orphan at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ingest.framing import Sentence

AssemblyKey = tuple[str, bytes | None, bytes, bytes, int]


@dataclass(slots=True)
class Pending:
    """The parts of one message received so far, each with its original line."""

    key: AssemblyKey
    count: int
    first_ms: int  # line time of the first part
    rx_ms: int  # wall-clock receive time of the first part
    line_no: int  # the ingest line counter at the first part
    lines: list[bytes] = field(default_factory=list)
    sentences: list[bytes] = field(default_factory=list)
    payloads: list[bytes] = field(default_factory=list)
    fill_bits: int = 0


@dataclass(frozen=True, slots=True)
class Complete:
    sentences: list[bytes]
    payload: bytes
    lines: list[bytes]
    ts: int  # line time of the first part


class Orphan(Exception):
    """This part cannot belong to any message being assembled."""


class Assembler:
    def __init__(
        self, timeout_ms: int = 10_000, max_pending: int = 10_000, max_gap_lines: int = 1000
    ) -> None:
        self.timeout_ms = timeout_ms
        self.max_pending = max_pending
        self.max_gap_lines = max_gap_lines
        self._pending: dict[AssemblyKey, Pending] = {}

    def add(
        self,
        source: str,
        station: bytes | None,
        group: bytes | None,
        sentence: Sentence,
        raw_sentence: bytes,
        line: bytes,
        now_ms: int,
        rx_ms: int,
        line_no: int,
    ) -> tuple[Complete | None, list[Pending]]:
        """Add one part. Returns the completed message, if any, and the messages given up."""
        # A tag-block group names the message on its own; later parts often omit `s:`.
        if group is not None:
            key: AssemblyKey = (source, None, b"", group, sentence.total)
        else:
            key = (source, station, sentence.channel, sentence.seq_id, sentence.total)
        abandoned: list[Pending] = []
        current = self._pending.get(key)
        if sentence.number == 1:
            if current is not None:
                abandoned.append(self._pending.pop(key))
            current = Pending(key, sentence.total, now_ms, rx_ms, line_no)
            self._pending[key] = current
            if len(self._pending) > self.max_pending:
                oldest = next(iter(self._pending))
                abandoned.append(self._pending.pop(oldest))
        elif current is None or len(current.payloads) + 1 != sentence.number:
            raise Orphan(f"part {sentence.number} of {sentence.total} without its predecessors")
        current.lines.append(line)
        current.sentences.append(raw_sentence)
        current.payloads.append(sentence.payload)
        current.fill_bits = sentence.fill_bits
        if sentence.number == sentence.total:
            del self._pending[key]
            payload = b"".join(current.payloads)
            return Complete(current.sentences, payload, current.lines, current.first_ms), abandoned
        return None, abandoned

    def expire(self, rx_ms: int, line_no: int) -> list[Pending]:
        """Give up the messages whose first part came more than the timeout ago (wall clock)
        or more than `max_gap_lines` lines ago.

        Not by the lines' own times: satellite feeds deliver `c:` times out of order, and a
        recorded file replays in a second what took hours.
        """
        rx_limit = rx_ms - self.timeout_ms
        line_limit = line_no - self.max_gap_lines
        stale = [p for p in self._pending.values() if p.rx_ms < rx_limit or p.line_no < line_limit]
        for pending in stale:
            del self._pending[pending.key]
        return stale

    def drain(self) -> Iterator[Pending]:
        """Give up everything (end of input)."""
        pending, self._pending = self._pending, {}
        yield from pending.values()

    def __len__(self) -> int:
        return len(self._pending)
