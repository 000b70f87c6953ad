"""Sources: files (plain, gzip), stdin, TCP client, UDP listener, and merging them.

Network tests use loopback only; each bounds its wait so that a bug fails rather than hangs.
"""

from __future__ import annotations

import gzip
import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from itertools import islice, pairwise
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.sources import (
    Backoff,
    FileSource,
    LineFramer,
    RawLine,
    Source,
    StdinSource,
    TcpSource,
    UdpSource,
    iter_sources,
    open_source,
)

WAIT_S = 5.0  # upper bound on any wait, so a broken source fails the test instead of hanging it


def take(source: Source, n: int) -> list[RawLine]:
    """The first n lines (fewer if they do not come in WAIT_S), then stop and drain."""
    watchdog = threading.Timer(WAIT_S, source.stop)
    watchdog.start()
    lines = source.lines()
    try:
        return list(islice(lines, n))
    finally:
        watchdog.cancel()
        source.stop()
        for _ in lines:
            pass


def data_of(lines: list[RawLine]) -> list[bytes]:
    return [line.data for line in lines]


def write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def listening(port: int = 0) -> Iterator[socket.socket]:
    with socket.create_server(("127.0.0.1", port)) as server:
        server.settimeout(WAIT_S)
        yield server


def read_in_thread(source: Source) -> tuple[threading.Thread, list[RawLine]]:
    got: list[RawLine] = []
    thread = threading.Thread(target=lambda: got.extend(source.lines()), daemon=True)
    thread.start()
    return thread, got


def assert_stops_promptly(source: Source, thread: threading.Thread) -> None:
    started = time.monotonic()
    source.stop()
    thread.join(WAIT_S)
    assert not thread.is_alive()
    assert time.monotonic() - started < 1.0


# --- framing -------------------------------------------------------------------------------

PIECES = st.sampled_from([b"a", b"bc", b"\r", b"\n", b"\r\n", b"\xff"])


@given(
    pieces=st.lists(PIECES, max_size=40),
    cuts=st.lists(st.integers(0, 80), max_size=8),
    limit=st.integers(1, 6),
)
def test_framing_ignores_chunk_boundaries(pieces: list[bytes], cuts: list[int], limit: int) -> None:
    stream = b"".join(pieces)
    bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
    framer = LineFramer("test", limit)
    got = [line for a, b in pairwise(bounds) for line in framer.feed(stream[a:b], 0)]
    got += framer.flush(0)
    expected = [(line[:limit], len(line) > limit) for line in stream.splitlines()]
    assert [(line.data, line.truncated) for line in got] == expected


def test_cr_at_a_chunk_end_and_lf_at_the_next_start_are_one_line_end() -> None:
    framer = LineFramer("test", 100)
    got = [*framer.feed(b"a\r", 0), *framer.feed(b"\nb\r", 0), *framer.feed(b"\r", 0)]
    assert data_of(got + list(framer.flush(0))) == [b"a", b"b", b""]


# --- files ---------------------------------------------------------------------------------


def test_plain_file_keeps_blank_lines_and_a_last_line_without_newline(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.nmea", b"one\r\ntwo\nthree\rfour\r\n\r\n\nlast")
    before = time.time_ns() // 1_000_000
    lines = list(open_source(str(path)).lines())
    assert data_of(lines) == [b"one", b"two", b"three", b"four", b"", b"", b"last"]
    assert {line.source for line in lines} == {path.as_uri()}
    assert all(before <= line.rx_ms <= time.time_ns() // 1_000_000 for line in lines)
    assert not any(line.truncated for line in lines)


def test_gzip_is_told_by_its_magic_bytes_not_its_name(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.txt", gzip.compress(b"one\ntwo\r\nthree"))
    assert data_of(list(open_source(str(path)).lines())) == [b"one", b"two", b"three"]


def test_file_url(tmp_path: Path) -> None:
    path = write(tmp_path / "a feed.nmea", b"one\n")
    source = open_source(path.as_uri())
    assert isinstance(source, FileSource)
    assert not source.live
    assert source.name == path.as_uri()
    assert data_of(list(source.lines())) == [b"one"]


def test_over_long_lines_are_cut_and_flagged(tmp_path: Path) -> None:
    path = write(tmp_path / "long.nmea", b"12345678\n123456789\r\n" + b"x" * 100_000 + b"\nok")
    lines = list(open_source(str(path), max_line_bytes=8).lines())
    assert [(line.data, line.truncated) for line in lines] == [
        (b"12345678", False),
        (b"12345678", True),
        (b"xxxxxxxx", True),
        (b"ok", False),
    ]


def test_batches_hold_the_same_lines_as_lines(tmp_path: Path) -> None:
    body = b"12345678\n123456789\r\n" + b"x" * 100_000 + b"\nok\r\rlast"
    path = write(tmp_path / "long.nmea", body)
    source = open_source(str(path), max_line_bytes=8)
    assert isinstance(source, FileSource)
    batched = [line for batch in source.batches() for line in batch.lines]
    # Batches leave over-long lines to the caller to cut (at most max_line_bytes + 1 bytes).
    cut = [(line[:8], len(line) > 8) for line in batched]
    assert cut == [(raw.data, raw.truncated) for raw in source.lines()]


def test_truncated_gzip_yields_what_it_could_read_then_raises(tmp_path: Path) -> None:
    whole = gzip.compress(b"".join(b"line %d\n" % i for i in range(1000)))
    path = write(tmp_path / "cut.gz", whole[: len(whole) // 2])
    got: list[RawLine] = []
    with pytest.raises(OSError, match="gzip"):
        got.extend(open_source(str(path)).lines())
    assert got
    assert got[0].data == b"line 0"


def test_unreadable_file_raises_oserror_when_opened(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        open_source(str(tmp_path / "missing.nmea"))
    with pytest.raises(OSError):
        open_source(str(tmp_path))


@pytest.mark.parametrize(
    "url",
    [
        "",
        "http://example.org/feed",
        "tcp://example.org",
        "tcp://:4001",
        "tcp://example.org:0",
        "tcp://example.org:99999",
        "tcp://example.org:4001/path",
        "udp://0.0.0.0:port",
        "file://otherhost/feed.nmea",
        "file://",
    ],
)
def test_bad_urls_raise_valueerror(url: str) -> None:
    with pytest.raises(ValueError, match="source"):
        open_source(url)


# --- stdin ---------------------------------------------------------------------------------


def test_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = SimpleNamespace(buffer=io.BytesIO(b"one\r\n\ntwo"))
    monkeypatch.setattr("sys.stdin", fake)
    source = open_source("-")
    assert isinstance(source, StdinSource)
    assert source.live
    lines = list(source.lines())
    assert data_of(lines) == [b"one", b"", b"two"]
    assert {line.source for line in lines} == {"stdin"}


# --- TCP -----------------------------------------------------------------------------------


def test_tcp_reconnects_and_keeps_the_partial_line() -> None:
    with listening() as server:
        port = server.getsockname()[1]
        done = threading.Event()

        def serve() -> None:
            first, _ = server.accept()
            with first:
                first.sendall(b"one\r\ntwo\npar")
            second, _ = server.accept()
            with second:
                second.sendall(b"three\nfour\n")
                done.wait(WAIT_S)

        server_thread = threading.Thread(target=serve, daemon=True)
        server_thread.start()
        source = open_source(f"tcp://127.0.0.1:{port}", reconnect_initial_s=0.05)
        lines = take(source, 5)
        done.set()
        server_thread.join(WAIT_S)
    assert data_of(lines) == [b"one", b"two", b"par", b"three", b"four"]
    assert {line.source for line in lines} == {f"tcp://127.0.0.1:{port}"}
    assert isinstance(source, TcpSource)
    assert source.attempts == 2


def test_tcp_backs_off_while_refused_then_connects() -> None:
    port = free_port()
    source = open_source(f"tcp://127.0.0.1:{port}", reconnect_initial_s=0.1)
    assert isinstance(source, TcpSource)
    got: list[RawLine] = []
    reader = threading.Thread(target=lambda: got.extend(take(source, 1)), daemon=True)
    reader.start()
    time.sleep(1.5)
    assert 2 <= source.attempts < 10  # retrying, but not spinning
    with listening(port) as server:
        conn, _ = server.accept()  # the next attempt, after a backoff of at most 1.6 s
        with conn:
            conn.sendall(b"hello\n")
            reader.join(WAIT_S)
    assert data_of(got) == [b"hello"]


def test_tcp_stop_while_connected() -> None:
    with listening() as server:
        source = open_source(f"tcp://127.0.0.1:{server.getsockname()[1]}")
        thread, got = read_in_thread(source)
        conn, _ = server.accept()
        with conn:
            assert_stops_promptly(source, thread)
    assert got == []


def test_tcp_stop_while_backing_off() -> None:
    source = open_source(f"tcp://127.0.0.1:{free_port()}", reconnect_initial_s=30.0)
    thread, _ = read_in_thread(source)
    time.sleep(0.1)
    assert_stops_promptly(source, thread)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    backoff = Backoff(0.1, 1.0)
    delays = [backoff.delay() for _ in range(8)]
    for attempt, delay in enumerate(delays):
        ceiling = min(1.0, 0.1 * 2**attempt)
        assert ceiling / 2 <= delay <= ceiling
    backoff.reset()
    assert backoff.delay() <= 0.1


# --- UDP -----------------------------------------------------------------------------------


def send_udp(address: tuple[str, int], *datagrams: bytes) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for datagram in datagrams:
            sender.sendto(datagram, address)


def test_udp_yields_each_line_of_each_datagram() -> None:
    source = open_source("udp://127.0.0.1:0")
    assert isinstance(source, UdpSource)
    assert source.live
    send_udp(source.address, b"one\r\n", b"two\nthree\r\nfour", b"five")
    lines = take(source, 5)
    assert data_of(lines) == [b"one", b"two", b"three", b"four", b"five"]
    assert {line.source for line in lines} == {"udp://127.0.0.1:0"}


def test_udp_stop() -> None:
    source = open_source("udp://127.0.0.1:0")
    thread, got = read_in_thread(source)
    time.sleep(0.05)
    assert_stops_promptly(source, thread)
    assert got == []


# --- several sources -----------------------------------------------------------------------


def test_recorded_sources_are_chained_in_order(tmp_path: Path) -> None:
    first = open_source(str(write(tmp_path / "1.nmea", b"a\nb\n")))
    second = open_source(str(write(tmp_path / "2.nmea", gzip.compress(b"c\nd\n"))))
    assert data_of(list(iter_sources([first, second]))) == [b"a", b"b", b"c", b"d"]


def test_live_sources_are_merged_and_end_when_all_are_stopped(tmp_path: Path) -> None:
    udp_a, udp_b = open_source("udp://127.0.0.1:0"), open_source("udp://127.0.0.1:0")
    assert isinstance(udp_a, UdpSource)
    assert isinstance(udp_b, UdpSource)
    recorded = open_source(str(write(tmp_path / "r.nmea", b"r1\nr2\n")))
    send_udp(udp_a.address, b"a1\na2\n")
    send_udp(udp_b.address, b"b1\n")
    watchdog = threading.Timer(WAIT_S, lambda: (udp_a.stop(), udp_b.stop()))
    watchdog.start()
    got: list[bytes] = []
    for line in iter_sources([udp_a, recorded, udp_b]):
        got.append(line.data)
        if len(got) == 5:
            udp_a.stop()
            udp_b.stop()
    watchdog.cancel()
    assert sorted(got) == [b"a1", b"a2", b"b1", b"r1", b"r2"]
    assert got.index(b"r1") < got.index(b"r2")
    assert got.index(b"a1") < got.index(b"a2")


def test_a_failing_source_stops_the_merge_and_the_others(tmp_path: Path) -> None:
    live = open_source("udp://127.0.0.1:0")
    assert isinstance(live, UdpSource)
    broken = open_source(str(write(tmp_path / "bad.gz", b"\x1f\x8b" + b"not gzip at all")))
    with pytest.raises(OSError):
        list(iter_sources([live, broken]))
    deadline = time.monotonic() + WAIT_S
    while live._sock.fileno() != -1 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert live._sock.fileno() == -1  # its reader saw stop() and closed the socket
