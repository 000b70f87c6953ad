"""Read AIS feeds as raw lines: TCP client, UDP listener, plain or gzip files, stdin.

A source frames bytes into lines and stamps the wall-clock receive time; it never judges a line.
Over-long lines are cut and flagged, a partial line left by a dropped connection is kept:
downstream dead-letters both, so every byte that arrived is accounted for.
"""

from __future__ import annotations

import errno
import gzip
import io
import logging
import os
import queue
import random
import re
import select
import socket
import sys
import threading
import time
import zlib
from collections.abc import Callable, Generator, Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Final, NamedTuple, Protocol
from urllib.parse import unquote, urlsplit

log = logging.getLogger(__name__)

FILE_CHUNK_BYTES: Final = 1 << 20
RECV_BYTES: Final = 1 << 16
POLL_S: Final = 0.2  # how long a blocking read waits before it looks at stop() again
CONNECT_TIMEOUT_S: Final = 10.0
MERGE_QUEUE_LINES: Final = 10_000
GZIP_MAGIC: Final = b"\x1f\x8b"
_CR: Final = 13
_URL_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RawLine(NamedTuple):
    """One line as it arrived (a NamedTuple: a frozen dataclass costs 0.4 us per line)."""

    data: bytes  # one line without its terminator (\n, \r\n or \r)
    source: str  # the source name, e.g. "tcp://10.0.0.1:4001", "file:///x.nmea", "stdin"
    rx_ms: int  # wall-clock receive time, epoch milliseconds
    truncated: bool = False  # the line exceeded max_line_bytes: data is its beginning only


_raw_line = RawLine._make


class Source(Protocol):
    name: str
    live: bool  # receive time matters (tcp, udp, stdin), as opposed to a recorded file

    def lines(self) -> Iterator[RawLine]:
        """Blocking; ends at end of input (files, stdin) or soon after stop()."""
        ...

    def stop(self) -> None:
        """Thread-safe: makes lines() end within about POLL_S."""
        ...


class LineFramer:
    """Cuts a byte stream into lines at \\n, \\r\\n or \\r, wherever chunk boundaries fall.

    Memory stays bounded: an unterminated line is held up to max_line_bytes; past that its
    beginning is emitted flagged truncated and the rest is skipped up to the next line end.
    """

    __slots__ = ("_discarding", "_pending", "_skip_lf", "max_line_bytes", "source")

    def __init__(self, source: str, max_line_bytes: int) -> None:
        self.source = source
        self.max_line_bytes = max_line_bytes
        self._pending = b""
        self._discarding = False  # inside an over-long line already emitted truncated
        self._skip_lf = False  # the last chunk ended in \r: a leading \n completes that \r\n

    def feed(self, chunk: bytes, rx_ms: int) -> Iterator[RawLine]:
        return self._stamp(self._split(chunk), rx_ms)

    def flush(self, rx_ms: int) -> Iterator[RawLine]:
        """End of stream: an unterminated last line is a line too. Resets for a new stream."""
        return self._stamp(self.flush_lines(), rx_ms)

    def feed_lines(self, chunk: bytes) -> list[bytes]:
        """`feed` without the stamping: a line longer than max_line_bytes comes whole (up to
        max_line_bytes + 1 bytes); the caller cuts it and flags it truncated."""
        return self._split(chunk)

    def flush_lines(self) -> list[bytes]:
        rest = [self._pending] if self._pending and not self._discarding else []
        self._pending, self._discarding, self._skip_lf = b"", False, False
        return rest

    def _split(self, chunk: bytes) -> list[bytes]:
        """Complete lines, any length: those over the limit are cut in _stamp."""
        if not chunk:
            return []
        if self._skip_lf:
            self._skip_lf = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        end = max(chunk.rfind(b"\n"), chunk.rfind(b"\r")) + 1
        if end == 0:
            return self._hold(chunk)
        lines = (self._pending + chunk).splitlines()
        self._pending = b""
        if end < len(chunk):
            lines.pop()
        else:
            self._skip_lf = chunk[-1] == _CR
        if self._discarding:
            del lines[0]
            self._discarding = False
        lines += self._hold(chunk[end:])
        return lines

    def _hold(self, part: bytes) -> list[bytes]:
        if self._discarding:
            return []
        pending = self._pending + part
        if len(pending) <= self.max_line_bytes:
            self._pending = pending
            return []
        self._pending, self._discarding = b"", True
        return [pending[: self.max_line_bytes + 1]]

    def _stamp(self, lines: list[bytes], rx_ms: int) -> Iterator[RawLine]:
        source, limit = self.source, self.max_line_bytes
        if lines and max(map(len, lines)) > limit:
            for line in lines:
                if len(line) > limit:
                    yield _raw_line((line[:limit], source, rx_ms, True))
                else:
                    yield _raw_line((line, source, rx_ms, False))
        else:
            for line in lines:
                yield _raw_line((line, source, rx_ms, False))


class FileSource:
    """A recorded file, plain or gzip (told by its magic bytes, whatever its name)."""

    live: bool = False

    def __init__(self, path: Path, *, max_line_bytes: int = 4096) -> None:
        _check_readable(path)
        self.path = path
        self.name = path.absolute().as_uri()
        self.max_line_bytes = max_line_bytes
        self._stop = threading.Event()

    def lines(self) -> Iterator[RawLine]:
        framer = LineFramer(self.name, self.max_line_bytes)
        try:
            for chunk in _file_chunks(self.path, self._stop):
                yield from framer.feed(chunk, now_ms())
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            yield from framer.flush(now_ms())
            raise OSError(f"{self.path}: corrupt or truncated gzip data ({exc})") from exc
        # Stopped mid-file, the held bytes are half a line that is still in the file: not a line.
        if not self._stop.is_set():
            yield from framer.flush(now_ms())

    def batches(self) -> Iterator[LineBatch]:
        """The same lines as `lines()`, a read chunk at a time (`Ingestor.push_lines`)."""
        framer = LineFramer(self.name, self.max_line_bytes)
        try:
            for chunk in _file_chunks(self.path, self._stop):
                yield LineBatch(framer.feed_lines(chunk), self.name, now_ms())
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            yield LineBatch(framer.flush_lines(), self.name, now_ms())
            raise OSError(f"{self.path}: corrupt or truncated gzip data ({exc})") from exc
        if not self._stop.is_set():
            yield LineBatch(framer.flush_lines(), self.name, now_ms())

    def stop(self) -> None:
        self._stop.set()


class LineBatch(NamedTuple):
    """Lines read together from one source: `RawLine`s sharing source and receive time, and
    not yet cut at max_line_bytes (see `LineFramer.feed_lines`)."""

    lines: list[bytes]
    source: str
    rx_ms: int


def _check_readable(path: Path) -> None:
    """Fail when the source is opened rather than mid-run. (Opening would block on a FIFO.)"""
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
    path.stat()
    if not os.access(path, os.R_OK):
        raise PermissionError(errno.EACCES, "not readable", str(path))


def _file_chunks(path: Path, stop: threading.Event) -> Iterator[bytes]:
    with path.open("rb") as raw:
        is_gzip = raw.peek(2)[:2] == GZIP_MAGIC
        stream: io.BufferedIOBase = gzip.GzipFile(fileobj=raw) if is_gzip else raw
        with stream:
            # read1, not read: a truncated gzip loses the data of the read call that hits its end.
            while not stop.is_set() and (chunk := stream.read1(FILE_CHUNK_BYTES)):
                yield chunk


class StdinSource:
    """Standard input (sys.stdin.buffer, looked up when reading starts)."""

    live: bool = True
    name: str = "stdin"

    def __init__(self, *, max_line_bytes: int = 4096) -> None:
        self.max_line_bytes = max_line_bytes
        self._stop = threading.Event()

    def lines(self) -> Iterator[RawLine]:
        stream = sys.stdin.buffer
        # read1 returns what has arrived; read(n) would wait for n bytes and delay live lines.
        read: Callable[[int], bytes] = getattr(stream, "read1", stream.read)
        framer = LineFramer(self.name, self.max_line_bytes)
        while not self._stop.is_set():
            if not _wait_readable(stream, POLL_S):
                continue
            chunk = read(RECV_BYTES)
            if not chunk:
                break
            yield from framer.feed(chunk, now_ms())
        yield from framer.flush(now_ms())

    def stop(self) -> None:
        self._stop.set()


def _wait_readable(stream: BinaryIO, timeout_s: float) -> bool:
    """True when a read will not block; True also when that cannot be told (no fd, Windows)."""
    try:
        fd = stream.fileno()
        return bool(select.select([fd], [], [], timeout_s)[0])
    except (AttributeError, OSError, ValueError):
        return True


class Backoff:
    """Exponential delays capped at max_s, each scaled by a random 0.5..1 so that clients cut
    off together do not all reconnect in step; never below initial_s / 2, so never a spin."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        self.initial_s = initial_s
        self.max_s = max_s
        self._attempt = 0

    def delay(self) -> float:
        delay = min(self.max_s, self.initial_s * 2.0 ** min(self._attempt, 60))
        self._attempt += 1
        return delay * random.uniform(0.5, 1.0)

    def reset(self) -> None:
        self._attempt = 0


class TcpSource:
    """TCP client to a feed server; reconnects with backoff for as long as it runs."""

    live: bool = True

    def __init__(
        self,
        host: str,
        port: int,
        *,
        name: str | None = None,
        max_line_bytes: int = 4096,
        reconnect_initial_s: float = 0.5,
        reconnect_max_s: float = 30.0,
    ) -> None:
        self.host = host
        self.port = port
        self.name = name or f"tcp://{host}:{port}"
        self.max_line_bytes = max_line_bytes
        self.attempts = 0  # connection attempts so far, for metrics
        self._backoff = Backoff(reconnect_initial_s, reconnect_max_s)
        self._stop = threading.Event()

    def lines(self) -> Iterator[RawLine]:
        while not self._stop.is_set():
            sock = self._connect()
            if sock is not None:
                with sock:
                    received = yield from self._read(sock)
                if received:
                    self._backoff.reset()
            # Also after a clean disconnect: a server that accepts and drops must not spin us.
            self._stop.wait(self._backoff.delay())

    def stop(self) -> None:
        self._stop.set()

    def _read(self, sock: socket.socket) -> Generator[RawLine, None, bool]:
        framer = LineFramer(self.name, self.max_line_bytes)
        received = False
        while not self._stop.is_set():
            try:
                chunk = sock.recv(RECV_BYTES)
            except TimeoutError:
                continue
            except OSError as exc:
                log.warning("%s: connection lost: %s", self.name, exc)
                break
            if not chunk:
                log.warning("%s: connection closed by the server", self.name)
                break
            received = True
            yield from framer.feed(chunk, now_ms())
        yield from framer.flush(now_ms())  # a partial line is evidence too: downstream judges it
        return received

    def _connect(self) -> socket.socket | None:
        self.attempts += 1
        try:
            sock = _connect_any(self.host, self.port, self._stop)
        except OSError as exc:
            log.warning("%s: cannot connect: %s", self.name, exc)
            return None
        if sock is not None:
            log.info("%s: connected", self.name)
        return sock


def _connect_any(host: str, port: int, stop: threading.Event) -> socket.socket | None:
    """The first of host's addresses that accepts; None if stopped meanwhile."""
    error = OSError(f"no address for {host}")
    for family, kind, proto, _, address in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            if not _connect_stoppable(sock, address, stop):
                sock.close()
                return None
            sock.settimeout(POLL_S)
            _keep_alive(sock)
            return sock
        except OSError as exc:
            sock.close()
            error = exc
    raise error


def _connect_stoppable(
    sock: socket.socket,
    address: tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes],
    stop: threading.Event,
) -> bool:
    """Connect, looking at stop() every POLL_S (a plain connect() would not); False if stopped."""
    sock.setblocking(False)
    err = sock.connect_ex(address)
    if err not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK):
        raise OSError(err, os.strerror(err))
    deadline = time.monotonic() + CONNECT_TIMEOUT_S
    while not stop.is_set():
        if select.select([], [sock], [], POLL_S)[1]:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                raise OSError(err, os.strerror(err))
            return True
        if time.monotonic() > deadline:
            raise TimeoutError(f"no answer within {CONNECT_TIMEOUT_S:g} s")
    return False


def _keep_alive(sock: socket.socket) -> None:
    """Notice a feed server that vanished without closing within about a minute."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for option, value in (("TCP_KEEPIDLE", 30), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, option):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


class UdpSource:
    """UDP listener; each datagram holds one or several lines. Binds when created."""

    live: bool = True

    def __init__(
        self, host: str, port: int, *, name: str | None = None, max_line_bytes: int = 4096
    ) -> None:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE
        )[0]
        self._sock = socket.socket(family, kind, proto)
        try:
            _enlarge_receive_buffer(self._sock)
            self._sock.bind(address)
            self._sock.settimeout(POLL_S)
        except OSError:
            self._sock.close()
            raise
        self.address: tuple[str, int] = self._sock.getsockname()[:2]
        self.name = name or f"udp://{host}:{port}"
        self.max_line_bytes = max_line_bytes
        self._stop = threading.Event()
        self._reading = False

    def lines(self) -> Iterator[RawLine]:
        self._reading = True
        framer = LineFramer(self.name, self.max_line_bytes)
        try:
            while not self._stop.is_set():
                try:
                    datagram = self._sock.recv(RECV_BYTES)
                except TimeoutError:
                    continue
                rx_ms = now_ms()
                yield from framer.feed(datagram, rx_ms)
                yield from framer.flush(rx_ms)  # a datagram ends its last line
        finally:
            self._sock.close()

    def stop(self) -> None:
        self._stop.set()
        if not self._reading:
            self._sock.close()


def _enlarge_receive_buffer(sock: socket.socket) -> None:
    """AIS arrives in bursts; the default buffer drops datagrams while the consumer is busy."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)


def open_source(
    url: str,
    *,
    max_line_bytes: int = 4096,
    reconnect_initial_s: float = 0.5,
    reconnect_max_s: float = 30.0,
) -> Source:
    """`tcp://host:port`, `udp://host:port`, `file:///path` or a plain path, `-` for stdin.

    Raises ValueError for a URL it cannot use and OSError for a file it cannot read.
    """
    if max_line_bytes < 1:
        raise ValueError(f"max_line_bytes must be at least 1, not {max_line_bytes}")
    if not 0 < reconnect_initial_s <= reconnect_max_s:
        raise ValueError("need 0 < reconnect_initial_s <= reconnect_max_s")
    if url == "-":
        return StdinSource(max_line_bytes=max_line_bytes)
    match = _URL_SCHEME.match(url)
    if match is None:
        if not url.strip():
            raise ValueError("empty source: expected a URL, a path or -")
        return FileSource(Path(url), max_line_bytes=max_line_bytes)
    scheme = match.group(1).lower()
    if scheme == "file":
        return FileSource(_file_path(url), max_line_bytes=max_line_bytes)
    if scheme == "tcp":
        host, port, name = _host_port(url, scheme, port_zero_ok=False)
        return TcpSource(
            host,
            port,
            name=name,
            max_line_bytes=max_line_bytes,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
        )
    if scheme == "udp":
        host, port, name = _host_port(url, scheme, port_zero_ok=True)
        return UdpSource(host, port, name=name, max_line_bytes=max_line_bytes)
    raise ValueError(
        f"unsupported source {url!r}: expected tcp://host:port, udp://host:port, "
        "file:///path, a path, or - for stdin"
    )


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"bad source {url!r}: file URLs name a local path, file:///path")
    if not parts.path or parts.query or parts.fragment:
        raise ValueError(f"bad source {url!r}: expected file:///path")
    return Path(unquote(parts.path))


def _host_port(url: str, scheme: str, *, port_zero_ok: bool) -> tuple[str, int, str]:
    """(host, port, name) from `scheme://host:port`; the name keeps IPv6 brackets."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    extras = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    if not parts.hostname or port is None or (port == 0 and not port_zero_ok) or extras:
        raise ValueError(f"bad source {url!r}: expected {scheme}://host:port")
    return parts.hostname, port, f"{scheme}://{parts.netloc}"


def iter_sources(sources: list[Source]) -> Iterator[RawLine]:
    """Recorded sources one after the other; live ones merged as their lines arrive.

    Each live source gets a reader thread (the recorded ones share one, in order) feeding a
    bounded queue, so a slow consumer holds the readers back. Ends when every source has ended
    or been stopped; closing the iterator early stops them all.
    """
    if not any(source.live for source in sources):
        return _chain(sources)
    groups = [[source] for source in sources if source.live]
    recorded = [source for source in sources if not source.live]
    if recorded:
        groups.append(recorded)
    return _merge(groups)


def _chain(sources: list[Source]) -> Iterator[RawLine]:
    for source in sources:
        yield from source.lines()


@dataclass(frozen=True, slots=True)
class _End:
    error: BaseException | None = None


def _merge(groups: list[list[Source]]) -> Iterator[RawLine]:
    out: queue.Queue[RawLine | _End] = queue.Queue(maxsize=MERGE_QUEUE_LINES)
    closed = threading.Event()
    for group in groups:
        reader = threading.Thread(
            target=_pump, args=(group, out, closed), name=f"source {group[0].name}", daemon=True
        )
        reader.start()
    try:
        running = len(groups)
        while running:
            item = out.get()
            if isinstance(item, RawLine):
                yield item
                continue
            running -= 1
            if item.error is not None:
                raise item.error
    finally:
        closed.set()
        for group in groups:
            for source in group:
                source.stop()


def _pump(group: list[Source], out: queue.Queue[RawLine | _End], closed: threading.Event) -> None:
    error: BaseException | None = None
    try:
        for source in group:
            lines = source.lines()
            try:
                for line in lines:
                    if not _put(out, line, closed):
                        return
            finally:
                _close(lines)
    except BaseException as exc:  # the consumer re-raises it in its own thread
        error = exc
    _put(out, _End(error), closed)


def _close(lines: Iterator[RawLine]) -> None:
    """Run a generator's cleanup (sockets, files) now rather than whenever it is collected."""
    close = getattr(lines, "close", None)
    if close is not None:
        close()


def _put(out: queue.Queue[RawLine | _End], item: RawLine | _End, closed: threading.Event) -> bool:
    """Wait for room, unless the consumer has gone; False then."""
    while not closed.is_set():
        try:
            out.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False
