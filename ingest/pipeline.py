"""The ingest loop: raw lines in, records and dead letters out, every line accounted for.

`Ingestor.push` is the one entry point for every source (files, TCP, UDP, stdin); it never
raises for bad input. Each line ends up in exactly one of four counts: decoded (it became part
of a record, or of a valid AIS message that carries none, or of a duplicate), non-AIS (comments,
other NMEA sentences, CSV headers, `$PGHP` headers), dead letter, or blank.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import reduce
from operator import xor
from typing import Literal, Protocol

from ingest.assemble import Assembler, Orphan, Pending
from ingest.csv_formats import CsvFormat, detect_csv_header
from ingest.decode import Decoder, decode_position_fast, message_type
from ingest.dedup import Deduplicator
from ingest.errors import (
    ChecksumError,
    IngestError,
    LineTooLongError,
    Reason,
)
from ingest.framing import (
    cached_tag_fields,
    gatehouse_time,
    is_nmea_like,
    match_usual,
    parse_line,
)
from ingest.records import DeadLetter, PositionReport, StaticReport

log = logging.getLogger(__name__)

_SENTENCE_OPENERS = frozenset(b"!\\")

InputFormat = Literal["auto", "nmea", "csv"]


class Sink(Protocol):
    def record(self, report: PositionReport | StaticReport) -> None: ...

    def deadletter(self, letter: DeadLetter) -> None: ...


@dataclass
class LineStats:
    lines: int = 0
    decoded_lines: int = 0
    non_ais_lines: int = 0
    deadletter_lines: int = 0
    blank_lines: int = 0
    duplicate_lines: int = 0
    records: int = 0
    deadletter: Counter[str] = field(default_factory=Counter)
    msg_types: Counter[int] = field(default_factory=Counter)  # by the payload's first byte

    def summary(self) -> dict[str, object]:
        return {
            "lines": self.lines,
            "decoded_lines": self.decoded_lines,
            "non_ais_lines": self.non_ais_lines,
            "deadletter_lines": self.deadletter_lines,
            "blank_lines": self.blank_lines,
            "records": self.records,
            "deadletter": dict(sorted(self.deadletter.items())),
            "duplicate_lines": self.duplicate_lines,
            "msg_types": _by_message_type(self.msg_types),
        }

    @property
    def balanced(self) -> bool:
        accounted = (
            self.decoded_lines + self.non_ais_lines + self.deadletter_lines + self.blank_lines
        )
        return accounted == self.lines


def _by_message_type(first_bytes: Counter[int]) -> dict[str, int]:
    counts: Counter[int] = Counter()
    for first, count in first_bytes.items():
        counts[message_type(bytes((first,)))] += count
    return {str(kind): counts[kind] for kind in sorted(counts)}


@dataclass(frozen=True, slots=True)
class IngestSettings:
    assembly_timeout_ms: int = 10_000
    dedup_window_ms: int = 20_000
    max_line_bytes: int = 4096
    input_format: InputFormat = "auto"
    deduplicate: bool = True


class Ingestor:
    def __init__(self, sink: Sink, settings: IngestSettings | None = None) -> None:
        self.sink = sink
        self.settings = settings or IngestSettings()
        self.stats = LineStats()
        self._assembler = Assembler(self.settings.assembly_timeout_ms)
        self._dedup = Deduplicator(self.settings.dedup_window_ms)
        self._decoder = Decoder()
        self._gatehouse_ms: dict[str, int] = {}
        self._csv: dict[str, CsvFormat] = {}
        self._last_expiry_line = 0
        self._deduplicate = self.settings.deduplicate
        self._max_line_bytes = self.settings.max_line_bytes
        # Lines opening with `!` or `\\` go straight to the sentence path unless CSV is read.
        self._sentences_first = self.settings.input_format != "csv"

    # -- entry points -------------------------------------------------------------------
    def push(self, data: bytes, source: str, rx_ms: int, truncated: bool = False) -> None:
        """Take one raw line (without its terminator). Never raises for bad input."""
        self.stats.lines += 1
        line = data.strip()
        if not line:
            self.stats.blank_lines += 1
            return
        try:
            if truncated or len(line) > self._max_line_bytes:
                raise LineTooLongError(f"longer than {self._max_line_bytes} bytes")
            if line[0] in _SENTENCE_OPENERS and self._sentences_first:
                usual = match_usual(line)  # the common case: raw or tag-block NMEA
                if usual is not None:
                    self._usual(usual, line, source, rx_ms)
                else:
                    self._sentence(line, source, rx_ms)
            else:
                self._route(line, source, rx_ms)
        except IngestError as error:
            self._dead([line], error.reason, source, rx_ms, error.detail)
        except Exception as exc:  # a bug must cost one line, never the stage
            log.exception("unexpected error on a line from %s", source)
            detail = f"{type(exc).__name__}: {exc}"
            self._dead([line], Reason.INTERNAL_ERROR, source, rx_ms, detail)

    def push_lines(self, lines: list[bytes], source: str, rx_ms: int) -> None:
        """Lines of one source received together, as a `LineFramer` cut them: the same as
        `push` for each. A line longer than `max_line_bytes` is cut there and pushed flagged
        truncated, as the sources flag it."""
        push, limit = self.push, self._max_line_bytes
        for line in lines:
            if len(line) > limit:
                push(line[:limit], source, rx_ms, True)
            else:
                push(line, source, rx_ms)

    def flush(self) -> None:
        """End of input: give up every message still waiting for parts."""
        for pending in self._assembler.drain():
            self._abandon(pending, Reason.INCOMPLETE_MULTIPART)

    # -- routing ------------------------------------------------------------------------
    def _route(self, line: bytes, source: str, rx_ms: int) -> None:
        fmt = self.settings.input_format
        csv_format = self._csv.get(source)
        if csv_format is not None:
            if is_nmea_like(line) or line[:1] == b"\\":
                self._csv.pop(source)  # the stream switched back to NMEA
                self._sentences_first = not self._csv
            else:
                self._csv_row(csv_format, line, source, rx_ms)
                return
        if fmt != "nmea":
            header = detect_csv_header(line)
            if header is not None:
                self._csv[source] = header
                self._sentences_first = False
                self.stats.non_ais_lines += 1
                return
        if fmt == "csv":
            raise IngestError("not a row of a recognised CSV export (no header seen)")
        first = line[:1]
        if first == b"#":
            self.stats.non_ais_lines += 1
            return
        if line.startswith(b"$PGHP"):
            stamp = gatehouse_time(line)
            if stamp is not None:
                self._gatehouse_ms[source] = stamp
            self.stats.non_ais_lines += 1
            return
        if b"VDM," in line or b"VDO," in line:
            self._sentence(line, source, rx_ms)
            return
        if is_nmea_like(line):
            self.stats.non_ais_lines += 1
            return
        raise IngestError("neither an NMEA sentence nor a CSV row")

    def _usual(self, usual: re.Match[bytes], line: bytes, source: str, rx_ms: int) -> None:
        """A line `match_usual` recognised: a single-part sentence goes straight to decoding
        (what `_sentence` would do, without building its frame); the rest to `_sentence`."""
        tags, sentence, total, number, _, _, payload, _ = usual.groups()
        if total != b"1" or number != b"1" or self._gatehouse_ms:
            self._sentence(line, source, rx_ms)
            return
        if reduce(xor, sentence[1:-3], 0) != int(sentence[-2:], 16):
            raise ChecksumError("checksum mismatch")
        time_ms = None if tags is None else cached_tag_fields(tags)[0]
        ts = rx_ms if time_ms is None else time_ms
        if self.stats.lines - self._last_expiry_line >= 256 and len(self._assembler):
            self._expire(rx_ms)
        self._message([sentence], payload, [line], ts, source, rx_ms)

    def _sentence(self, line: bytes, source: str, rx_ms: int) -> None:
        framed, sentence = parse_line(line)
        ts = framed.time_ms
        if ts is None:
            # A `$PGHP` header times the message after it (every part of a multipart);
            # without one, the wall clock. A later part takes its first part's time anyway.
            ts = self._gatehouse_ms.get(source, rx_ms) if self._gatehouse_ms else rx_ms
            if sentence.number == sentence.total and self._gatehouse_ms:
                self._gatehouse_ms.pop(source, None)  # the header's message is complete
        if self.stats.lines - self._last_expiry_line >= 256 and len(self._assembler):
            self._expire(rx_ms)
        if sentence.total == 1:
            self._message([framed.sentence], sentence.payload, [line], ts, source, rx_ms)
            return
        try:
            complete, abandoned = self._assembler.add(
                source,
                framed.station,
                framed.group,
                sentence,
                framed.sentence,
                line,
                ts,
                rx_ms,
                self.stats.lines,
            )
        except Orphan as orphan:
            self._dead([line], Reason.ORPHAN_FRAGMENT, source, rx_ms, str(orphan))
            return
        for pending in abandoned:
            self._abandon(pending, Reason.INCOMPLETE_MULTIPART)
        if complete is not None:
            self._message(
                complete.sentences, complete.payload, complete.lines, complete.ts, source, rx_ms
            )

    def _message(
        self,
        sentences: list[bytes],
        payload: bytes,
        lines: list[bytes],
        ts: int,
        source: str,
        rx_ms: int,
    ) -> None:
        stats = self.stats
        if self._deduplicate and self._dedup.is_duplicate(payload, ts):
            stats.decoded_lines += len(lines)
            stats.duplicate_lines += len(lines)
            return
        try:
            # checked: split_sentence and the line regex both vetted the payload alphabet
            fast = decode_position_fast(payload, ts, rx_ms, source, True)
            if fast is not None:
                if self._deduplicate:
                    self._dedup.remember(payload, ts)
                stats.decoded_lines += len(lines)
                stats.records += 1
                stats.msg_types[payload[0]] += 1
                self.sink.record(fast)
                return
            reports = self._decoder.decode(sentences, payload, ts, rx_ms, source, checked=True)
        except IngestError as error:
            self._dead(lines, error.reason, source, rx_ms, error.detail)
            return
        except Exception as exc:  # a bug must cost these lines, never the stage
            log.exception("unexpected error decoding a message from %s", source)
            detail = f"{type(exc).__name__}: {exc}"
            self._dead(lines, Reason.INTERNAL_ERROR, source, rx_ms, detail)
            return
        if self._deduplicate:
            self._dedup.remember(payload, ts)
        stats.decoded_lines += len(lines)
        stats.msg_types[payload[0]] += 1
        stats.records += len(reports)
        for report in reports:
            self.sink.record(report)

    def _csv_row(self, csv_format: CsvFormat, line: bytes, source: str, rx_ms: int) -> None:
        reports = csv_format.parse_row(line, source, rx_ms)
        self.stats.decoded_lines += 1
        self.stats.records += len(reports)
        for report in reports:
            self.sink.record(report)

    # -- dead letters -------------------------------------------------------------------
    def _expire(self, rx_ms: int) -> None:
        self._last_expiry_line = self.stats.lines
        for pending in self._assembler.expire(rx_ms, self.stats.lines):
            self._abandon(pending, Reason.INCOMPLETE_MULTIPART)

    def _abandon(self, pending: Pending, reason: Reason) -> None:
        source = pending.key[0]
        detail = f"{len(pending.payloads)} of {pending.count} parts received"
        self._dead(pending.lines, reason, source, pending.rx_ms, detail)

    def _dead(
        self, lines: list[bytes], reason: Reason, source: str, rx_ms: int, detail: str | None
    ) -> None:
        for line in lines:
            self.stats.deadletter_lines += 1
            self.stats.deadletter[reason.value] += 1
            self.sink.deadletter(DeadLetter(line, reason, source, rx_ms, "ingest", detail or None))
