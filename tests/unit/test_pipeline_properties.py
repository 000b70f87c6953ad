"""Properties of the whole ingest loop (hypothesis).

(a) Whatever bytes come in, `push` never raises, every line is accounted for once, and no line
    is dead-lettered as `internal_error` (that reason means a bug in Lookout).
(b) Every record and dead letter survives `to_json` -> `from_json` unchanged.
(c) Clean simulated traffic decodes completely: no dead letters, every vessel seen.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pyais
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ingest.errors import Reason
from ingest.pipeline import Ingestor, IngestSettings
from ingest.records import DeadLetter, from_json, to_json
from lookout.simulate import simulate
from tests.builders import KNOWN_TYPE1, RX_MS, T0_S, CollectingSink, ingest_lines, nmea, tag
from tests.strategies import VALID_LINES, csv_streams, mutated_lines

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextmanager
def quiet_ingest_log() -> Iterator[None]:
    """A bug is logged with its traceback; the assertions below report it more usefully."""
    logger = logging.getLogger("ingest.pipeline")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def assert_accounted(lines: list[bytes], input_format: str = "auto") -> None:
    sink = CollectingSink()
    ingestor = Ingestor(sink, IngestSettings(input_format=input_format))  # type: ignore[arg-type]
    with quiet_ingest_log():
        for i, line in enumerate(lines):
            ingestor.push(line, "fuzz", RX_MS + i * 1000)
        ingestor.flush()
    stats = ingestor.stats
    assert stats.lines == len(lines)
    assert stats.balanced, stats.summary()
    assert stats.deadletter_lines == len(sink.deadletters)
    assert sum(stats.deadletter.values()) == stats.deadletter_lines
    assert stats.records == len(sink.records)
    internal = [(d.raw, d.detail) for d in sink.deadletters if d.reason is Reason.INTERNAL_ERROR]
    assert internal == [], internal
    for letter in sink.deadletters:
        assert letter.raw.strip() == letter.raw and letter.raw  # the stripped line, never empty
        assert any(letter.raw == line.strip() for line in lines)


def assert_push_lines_is_push(lines: list[bytes], limit: int) -> None:
    """`push_lines` gives what `push` gives for each line, over-long lines cut and flagged."""
    one, many = CollectingSink(), CollectingSink()
    by_line = Ingestor(one, IngestSettings(max_line_bytes=limit))
    by_batch = Ingestor(many, IngestSettings(max_line_bytes=limit))
    with quiet_ingest_log():
        for line in lines:
            by_line.push(line[:limit], "fuzz", RX_MS, len(line) > limit)
        by_batch.push_lines(lines, "fuzz", RX_MS)
        by_line.flush()
        by_batch.flush()
    assert many.records == one.records
    assert many.deadletters == one.deadletters
    assert by_batch.stats == by_line.stats


# -- (a) never raise, always accounted ----------------------------------------------------


@given(
    st.lists(st.one_of(mutated_lines(), st.sampled_from(VALID_LINES), st.binary(max_size=90))),
    st.sampled_from([60, 82, 4096]),
)
@PROPERTY
def test_push_lines_is_push_line_by_line(lines: list[bytes], limit: int) -> None:
    assert_push_lines_is_push(lines, limit)


@given(st.lists(st.binary(max_size=120), max_size=20))
@PROPERTY
def test_any_bytes_are_accounted_for(lines: list[bytes]) -> None:
    assert_accounted(lines)


@given(st.lists(mutated_lines(), min_size=1, max_size=12))
@PROPERTY
def test_mutated_sentences_are_accounted_for(lines: list[bytes]) -> None:
    assert_accounted(lines)


@given(st.lists(st.one_of(mutated_lines(), st.sampled_from(VALID_LINES)), max_size=15))
@PROPERTY
def test_mixed_valid_and_mutated_sentences_are_accounted_for(lines: list[bytes]) -> None:
    assert_accounted(lines)


@given(st.lists(mutated_lines(), min_size=1, max_size=8))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_nmea_only_mode_accounts_for_everything(lines: list[bytes]) -> None:
    assert_accounted(lines, "nmea")


@given(csv_streams, st.sampled_from(["auto", "csv"]))
@PROPERTY
def test_csv_rows_with_odd_cells_are_accounted_for(lines: list[bytes], input_format: str) -> None:
    assert_accounted(lines, input_format)


def test_every_line_of_a_noisy_simulation_is_accounted_for() -> None:
    lines = [line.encode() for line in simulate(vessels=10, hours=0.1, seed=7, noise=0.3)]
    assert_accounted(lines)


def test_too_long_and_truncated_lines_are_dead_letters() -> None:
    sink = CollectingSink()
    ingestor = Ingestor(sink, IngestSettings(max_line_bytes=100))
    ingestor.push(KNOWN_TYPE1.encode() + b" " * 10 + b"x" * 100, "t", RX_MS)
    ingestor.push(KNOWN_TYPE1.encode()[:30], "t", RX_MS, truncated=True)
    assert sink.reasons == ["line_too_long", "line_too_long"]
    assert ingestor.stats.balanced


def test_blank_lines_are_counted_as_blank() -> None:
    sink, stats = ingest_lines([b"", b"   ", b"\t\r", KNOWN_TYPE1.encode()])
    assert stats.blank_lines == 3
    assert stats.decoded_lines == 1
    assert sink.deadletters == []
    assert stats.balanced


# -- (b) records round-trip through JSON --------------------------------------------------


@given(seed=st.integers(0, 10_000), noise=st.sampled_from([0.0, 0.2]))
@settings(max_examples=15, deadline=None)
def test_records_from_simulated_traffic_round_trip(seed: int, noise: float) -> None:
    lines = list(simulate(vessels=5, hours=0.05, seed=seed, noise=noise))
    sink, _ = ingest_lines(lines, source="sim")
    assert sink.records
    for record in [*sink.records, *sink.deadletters]:
        back = from_json(to_json(record))
        assert type(back) is type(record)
        assert back == record


@given(raw=st.binary(min_size=1, max_size=200), reason=st.sampled_from(list(Reason)))
@settings(max_examples=100, deadline=None)
def test_dead_letters_round_trip_whatever_their_bytes(raw: bytes, reason: Reason) -> None:
    letter = DeadLetter(raw, reason, "tcp://10.0.0.1:4001", RX_MS + 123, "ingest", "detail")
    wire = letter.to_dict()
    if wire["raw_encoding"] == "base64":
        assert base64.b64decode(wire["raw"]) == raw
    else:
        assert wire["raw"] == raw.decode("ascii")
    assert from_json(to_json(letter)) == letter


def test_record_wire_form() -> None:
    sink, _ = ingest_lines([tag(f"c:{T0_S}.5") + KNOWN_TYPE1], source="feed")
    (record,) = sink.records
    wire = record.to_dict()
    assert wire["v"] == 1
    assert wire["kind"] == "position"
    assert wire["ts"] == "2015-03-11T00:00:00.500Z"
    assert wire["rx_ts"] == "2015-03-11T00:00:00.000Z"
    assert from_json(to_json(record)) == record


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        from_json(b'{"v": 1, "kind": "banana"}')


# -- (c) clean simulated traffic ----------------------------------------------------------


@given(seed=st.integers(0, 10_000))
@settings(max_examples=10, deadline=None)
def test_clean_simulated_traffic_decodes_completely(seed: int) -> None:
    start_ms = 1_714_521_600_000
    lines = list(simulate(vessels=5, hours=0.05, seed=seed, start_ms=start_ms))
    sink, stats = ingest_lines(lines, source="sim")
    assert sink.deadletters == []
    assert stats.decoded_lines == stats.lines == len(lines)
    assert stats.balanced

    # pyais, independently, says which vessels the traffic holds
    expected: set[int] = set()
    parts: list[str] = []
    for line in lines:
        sentence = line[line.index("!") :]
        parts.append(sentence)
        fields = sentence.split(",")
        if fields[1] == fields[2]:  # last part
            expected.add(pyais.decode(*parts).mmsi)
            parts = []
    assert len(expected) == 5
    assert {r.mmsi for r in sink.positions} == expected
    assert all(start_ms <= r.ts <= start_ms + 180_000 for r in sink.records)
    assert all(r.lat is not None and 8 <= r.lat <= 20 for r in sink.positions)


def test_nmea_builder_makes_sentences_the_pipeline_accepts() -> None:
    sink, stats = ingest_lines([nmea("15M67FC000G?ufbE`FepT@3n00Sa", channel="B")])
    assert len(sink.records) == 1
    assert stats.balanced
