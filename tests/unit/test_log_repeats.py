"""kafka-python's repeated lines are held back and counted; everything else passes."""

from __future__ import annotations

import logging

from lookout.logs import RepeatFilter


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object, level: int = logging.INFO) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args or None, None)


def passed(log_filter: RepeatFilter, *records: logging.LogRecord) -> list[str]:
    return [r.getMessage() for r in records if log_filter.filter(r)]


def test_a_repeat_within_the_interval_is_held_back_and_counted_by_the_next_one_through() -> None:
    clock = Clock()
    log_filter = RepeatFilter(every_s=30, clock=clock)
    line = ("kafka.cluster", "Metadata refresh: failed %s", "ECONNREFUSED")
    assert passed(log_filter, record(*line)) == ["Metadata refresh: failed ECONNREFUSED"]
    for step in range(1, 300):  # ten a second for 29.9 s
        clock.now = step / 10
        assert passed(log_filter, record(*line)) == []
    clock.now = 30.0
    assert passed(log_filter, record(*line)) == [
        "Metadata refresh: failed ECONNREFUSED (and 299 more like it in the last 30 s)"
    ]
    clock.now = 61.0  # nothing held back since: the line as it is
    assert passed(log_filter, record(*line)) == ["Metadata refresh: failed ECONNREFUSED"]


def test_different_lines_levels_and_loggers_are_not_repeats() -> None:
    log_filter = RepeatFilter(every_s=30, clock=Clock())
    lines = [
        record("kafka.coordinator", "Discovered coordinator %s", "coordinator-111"),
        record("kafka.coordinator", "Discovered coordinator %s", "coordinator-112"),
        record("kafka.coordinator", "Discovered coordinator %s", "coordinator-111", level=40),
        record("kafka.cluster", "Discovered coordinator %s", "coordinator-111"),
    ]
    assert len(passed(log_filter, *lines)) == 4


def test_lookouts_own_loggers_and_lookalike_names_are_never_held_back() -> None:
    log_filter = RepeatFilter(every_s=30, clock=Clock())
    for name in ("lookout.bus.base", "kafkaesque", "tracks.service"):
        lines = [record(name, "offsets not committed") for _ in range(5)]
        assert len(passed(log_filter, *lines)) == 5


def test_a_message_with_a_percent_sign_survives_its_count() -> None:
    clock = Clock()
    log_filter = RepeatFilter(every_s=1, clock=clock)
    line = ("kafka.producer", "%d%% of the buffer in use", 95)
    passed(log_filter, record(*line), record(*line))
    clock.now = 2.0
    assert passed(log_filter, record(*line)) == [
        "95% of the buffer in use (and 1 more like it in the last 2 s)"
    ]


def test_memory_stays_bounded_when_every_line_differs() -> None:
    clock = Clock()
    log_filter = RepeatFilter(every_s=30, clock=clock)
    for port in range(20_000):
        clock.now = port / 1000
        log_filter.filter(record("kafka.net.transport", "connected from port %d", port))
    assert len(log_filter._seen) <= 1024
