"""Multipart assembly (with its timeout) and de-duplication, through the `Ingestor`."""

from __future__ import annotations

from ingest.dedup import Deduplicator
from ingest.pipeline import Ingestor, IngestSettings
from tests.builders import (
    RX_MS,
    T0_S,
    CollectingSink,
    encode,
    encode_position,
    ingest_lines,
    nmea,
    tag,
)

T0_MS = T0_S * 1000
SHIP = {
    "type": 5,
    "mmsi": 244_123_456,
    "imo": 9_123_456,
    "callsign": "PD1234",
    "shipname": "FIRST SHIP",
    "ship_type": 70,
    "to_bow": 100,
    "to_stern": 20,
    "to_port": 8,
    "to_starboard": 12,
    "draught": 6.4,
    "destination": "ROTTERDAM",
    "month": 5,
    "day": 14,
    "hour": 6,
    "minute": 30,
}
OTHER_SHIP = {**SHIP, "mmsi": 244_654_321, "shipname": "SECOND SHIP"}
FILLER = encode_position(mmsi=366_000_001)[0].encode()  # any complete one-part sentence


def two_parts(data: dict[str, object] = SHIP, channel: str = "B", seq_id: int = 1) -> list[str]:
    lines = encode(data, channel=channel, seq_id=seq_id)
    assert len(lines) == 2
    return lines


def at(seconds: float) -> str:
    """A tag block stating a receive time `seconds` after T0."""
    return tag(f"c:{T0_MS + round(seconds * 1000)}")


def names(sink: CollectingSink) -> list[str | None]:
    return [r.name for r in sink.statics]


# -- assembly -----------------------------------------------------------------------------


def test_two_parts_in_order_make_one_static_record() -> None:
    sink, stats = ingest_lines(two_parts())
    assert names(sink) == ["FIRST SHIP"]
    assert sink.deadletters == []
    assert stats.decoded_lines == 2
    assert stats.records == 1
    assert stats.balanced


def test_multipart_record_takes_the_time_of_its_first_part() -> None:
    first, second = two_parts()
    sink, _ = ingest_lines([at(0) + first, at(2) + second])
    assert [r.ts for r in sink.statics] == [T0_MS]


def test_part_two_without_part_one_is_an_orphan() -> None:
    _, second = two_parts()
    sink, stats = ingest_lines([second])
    assert sink.reasons == ["orphan_fragment"]
    assert sink.deadletters[0].raw == second.encode()
    assert stats.balanced


def test_part_one_never_completed_is_dead_lettered_at_flush() -> None:
    first, _ = two_parts()
    sink, stats = ingest_lines([first], flush=False)
    assert sink.deadletters == []  # still waiting for part 2
    assert stats.lines == 1
    assert not stats.balanced  # a line in flight is not accounted for yet

    sink, stats = ingest_lines([first])
    assert sink.reasons == ["incomplete_multipart"]
    assert sink.deadletters[0].raw == first.encode()
    assert stats.balanced


def test_part_one_is_given_up_after_the_timeout_by_the_wall_clock() -> None:
    """Waiting parts are checked every few hundred lines, so the filler is generous."""
    first, second = two_parts()
    sink = CollectingSink()
    ingestor = Ingestor(sink, IngestSettings(assembly_timeout_ms=10_000))
    ingestor.push(first.encode(), "test", RX_MS)
    for _ in range(300):
        ingestor.push(FILLER, "test", RX_MS + 9_000)
    assert sink.deadletters == []  # within the timeout
    for _ in range(300):
        ingestor.push(FILLER, "test", RX_MS + 11_000)
    assert sink.reasons == ["incomplete_multipart"]  # before any flush
    assert sink.deadletters[0].raw == first.encode()
    ingestor.push(second.encode(), "test", RX_MS + 11_000)  # too late: an orphan now
    ingestor.flush()
    assert sink.reasons == ["incomplete_multipart", "orphan_fragment"]
    assert ingestor.stats.balanced


def test_part_one_is_given_up_after_many_lines_without_its_part_two() -> None:
    """A recorded file replays faster than the wall clock: a line count bounds the wait too."""
    first, _ = two_parts()
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    ingestor.push((at(0) + first).encode(), "test", RX_MS)
    for _ in range(2_000):
        ingestor.push(FILLER, "test", RX_MS)
    assert sink.reasons == ["incomplete_multipart"]  # before any flush


def test_line_times_out_of_order_do_not_expire_waiting_parts() -> None:
    """Satellite feeds deliver `c:` times out of order; a part 2 right after its part 1 fits."""
    first, second = two_parts()
    lines = [
        at(0) + first,
        at(3_600) + encode_position(mmsi=366_000_001)[0],
        at(-3_600) + encode_position(mmsi=366_000_002)[0],
        at(0) + second,
    ]
    sink, stats = ingest_lines(lines)
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP"]
    assert stats.balanced


def test_parts_arriving_within_the_timeout_complete() -> None:
    first, second = two_parts()
    sink, stats = ingest_lines([at(0) + first, at(9) + second])
    assert names(sink) == ["FIRST SHIP"]
    assert stats.balanced


def test_one_source_clock_does_not_expire_another_sources_parts() -> None:
    """Assembly is per source, and so is its line time.

    A replayed file whose tag blocks say 2015 and a live feed timed by the wall clock can be
    read together (`lookout run --source old.nmea --source tcp://...`); so can two receivers
    whose clocks disagree by more than the timeout. A part 2 that follows its part 1 at once,
    in its own source's time, must complete the message.
    """
    first, second = two_parts()
    sink = CollectingSink()
    ingestor = Ingestor(sink, IngestSettings(assembly_timeout_ms=10_000))
    live_ms = RX_MS + 3_600_000  # the other source is an hour ahead
    ingestor.push((at(0) + first).encode(), "replay", live_ms)
    ingestor.push(encode_position(mmsi=366_000_001)[0].encode(), "live", live_ms)
    ingestor.push((at(1) + second).encode(), "replay", live_ms)
    ingestor.flush()
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP"]


def test_new_part_one_with_the_same_key_abandons_the_old_one() -> None:
    old_first, _ = two_parts(SHIP, seq_id=1)
    new_first, new_second = two_parts(OTHER_SHIP, seq_id=1)
    sink, stats = ingest_lines([old_first, new_first, new_second])
    assert sink.reasons == ["incomplete_multipart"]
    assert sink.deadletters[0].raw == old_first.encode()
    assert names(sink) == ["SECOND SHIP"]
    assert stats.balanced


def test_interleaved_messages_on_channels_a_and_b_both_complete() -> None:
    a1, a2 = two_parts(SHIP, channel="A", seq_id=1)
    b1, b2 = two_parts(OTHER_SHIP, channel="B", seq_id=1)
    sink, stats = ingest_lines([a1, b1, a2, b2])
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP", "SECOND SHIP"]
    assert stats.decoded_lines == 4
    assert stats.balanced


def test_interleaved_messages_with_different_sequence_ids_both_complete() -> None:
    a1, a2 = two_parts(SHIP, channel="A", seq_id=1)
    b1, b2 = two_parts(OTHER_SHIP, channel="A", seq_id=2)
    sink, _ = ingest_lines([a1, b1, b2, a2])
    assert sink.deadletters == []
    assert sorted(n or "" for n in names(sink)) == ["FIRST SHIP", "SECOND SHIP"]


def test_same_sequence_on_two_sources_does_not_mix() -> None:
    a1, a2 = two_parts(SHIP, channel="A", seq_id=1)
    b1, b2 = two_parts(OTHER_SHIP, channel="A", seq_id=1)
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    for line, source in ((a1, "rx-a"), (b1, "rx-b"), (a2, "rx-a"), (b2, "rx-b")):
        ingestor.push(line.encode(), source, RX_MS)
    ingestor.flush()
    assert sink.deadletters == []
    assert {(r.source, r.name) for r in sink.statics} == {
        ("rx-a", "FIRST SHIP"),
        ("rx-b", "SECOND SHIP"),
    }


def test_tag_block_group_where_only_the_first_part_carries_station_and_time() -> None:
    first, second = two_parts(SHIP, seq_id=1)
    lines = [tag(f"g:1-2-4242,s:rx1,c:{T0_S}") + first, tag("g:2-2-4242") + second]
    sink, stats = ingest_lines(lines)
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP"]
    assert [r.ts for r in sink.statics] == [T0_MS]
    assert stats.balanced


def test_every_part_with_its_own_station_and_time() -> None:
    """The Norwegian Coastal Administration style: no g:, each part tagged s: and c:."""
    first, second = two_parts(SHIP, seq_id=1)
    lines = [tag(f"s:2573135,c:{T0_S}") + first, tag(f"s:2573135,c:{T0_S}") + second]
    sink, _ = ingest_lines(lines)
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP"]


def test_parts_from_two_stations_do_not_mix() -> None:
    a1, a2 = two_parts(SHIP, seq_id=1)
    b1, b2 = two_parts(OTHER_SHIP, seq_id=1)
    lines = [
        tag(f"s:rx1,c:{T0_S}") + a1,
        tag(f"s:rx2,c:{T0_S}") + b1,
        tag(f"s:rx1,c:{T0_S}") + a2,
        tag(f"s:rx2,c:{T0_S}") + b2,
    ]
    sink, _ = ingest_lines(lines)
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP", "SECOND SHIP"]


def test_tag_block_groups_tell_interleaved_messages_apart() -> None:
    """Same channel and sequence id: only the g: group says which part goes with which."""
    a1, a2 = two_parts(SHIP, channel="B", seq_id=1)
    b1, b2 = two_parts(OTHER_SHIP, channel="B", seq_id=1)
    lines = [
        tag(f"g:1-2-11,s:rx1,c:{T0_S}") + a1,
        tag(f"g:1-2-12,s:rx1,c:{T0_S}") + b1,
        tag("g:2-2-11") + a2,
        tag("g:2-2-12") + b2,
    ]
    sink, stats = ingest_lines(lines)
    assert sink.deadletters == []
    assert names(sink) == ["FIRST SHIP", "SECOND SHIP"]
    assert stats.balanced


def test_three_part_message_missing_its_middle() -> None:
    payload = "55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8"
    p1 = nmea(payload[:20], count=3, number=1, seq="4")
    p3 = nmea(payload[40:], count=3, number=3, seq="4", fill=2)
    sink, stats = ingest_lines([p1, p3])
    assert sink.reasons == ["orphan_fragment", "incomplete_multipart"]
    assert stats.balanced


# -- de-duplication -----------------------------------------------------------------------


def test_duplicate_within_the_window_is_emitted_once() -> None:
    line = encode_position()[0]
    sink, stats = ingest_lines([at(0) + line, at(5) + line])
    assert len(sink.records) == 1
    assert stats.duplicate_lines == 1
    assert stats.decoded_lines == 2
    assert stats.records == 1
    assert stats.balanced


def test_duplicate_heard_by_another_source_is_emitted_once() -> None:
    line = encode_position()[0].encode()
    sink = CollectingSink()
    ingestor = Ingestor(sink)
    ingestor.push(line, "rx-a", RX_MS)
    ingestor.push(line, "rx-b", RX_MS + 100)
    assert len(sink.records) == 1
    assert ingestor.stats.duplicate_lines == 1


def test_same_payload_after_the_window_is_emitted_again() -> None:
    line = encode_position()[0]
    settings = IngestSettings(dedup_window_ms=20_000)
    sink, stats = ingest_lines([at(0) + line, at(10) + line, at(25) + line], settings=settings)
    assert [r.ts for r in sink.records] == [T0_MS, T0_MS + 25_000]
    assert stats.duplicate_lines == 1
    assert stats.decoded_lines == 3


def test_duplicate_multipart_counts_every_line() -> None:
    first, second = two_parts()
    sink, stats = ingest_lines([first, second, first, second])
    assert names(sink) == ["FIRST SHIP"]
    assert stats.duplicate_lines == 2
    assert stats.decoded_lines == 4
    assert stats.balanced


def test_deduplication_can_be_switched_off() -> None:
    line = encode_position()[0]
    sink, stats = ingest_lines([line, line], settings=IngestSettings(deduplicate=False))
    assert len(sink.records) == 2
    assert stats.duplicate_lines == 0


def test_deduplicator_window_edges() -> None:
    dedup = Deduplicator(window_ms=1000)
    assert not dedup.is_duplicate(b"abc", 0)
    dedup.remember(b"abc", 0)
    assert dedup.is_duplicate(b"abc", 1000)  # the window is inclusive
    assert not dedup.is_duplicate(b"abd", 500)
    assert not dedup.is_duplicate(b"abc", 1001)  # first seen at 0: outside
    dedup.remember(b"abc", 1001)
    assert dedup.is_duplicate(b"abc", 1500)  # now remembered from 1001


def test_a_bad_message_twice_is_two_dead_letters_not_a_duplicate() -> None:
    bad = encode({"type": 1, "mmsi": 367000001, "lat": 95.0, "lon": 10.0})[0]
    sink, stats = ingest_lines([bad, bad])
    assert sink.reasons == ["impossible_value", "impossible_value"]
    assert stats.duplicate_lines == 0


def test_deduplicator_forgets_old_payloads() -> None:
    dedup = Deduplicator(window_ms=1000, max_entries=10)
    for i in range(1000):
        dedup.remember(str(i).encode(), i * 10)
    assert len(dedup._seen) <= 11  # max_entries bounds the memory, whatever the window
