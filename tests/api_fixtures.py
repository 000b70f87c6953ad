"""API test helpers: alert builders, a config folder, live servers, keys, webhook receivers.

Test modules import what they use (`from tests.api_fixtures import ...`); the fixtures
(`api_config_dir`, `make_api`, `webhook_receiver`) are plain pytest fixtures.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
import yaml
from fastapi import FastAPI

from anomaly.records import Alert, AlertType, Rule, Severity, Tlp, Vessel, alert_id
from api.context import ApiContext
from api.main import create_app
from api.settings import ApiSettings
from api.sharing import Role
from api.vessels import VesselSource
from tracks.records import StaticFields, TrackPoint

REPO = Path(__file__).resolve().parent.parent
PEPPER = "test-pepper-0123456789-abcdefghijklmnopqrstuvwxyz"
OPERATOR = "lookout-ops"
BASE_MS = 1_717_200_000_000  # 2024-06-01


def make_alert(
    n: int,
    *,
    type: AlertType = AlertType.MIGRANT_RISK,
    tlp: Tlp = Tlp.GREEN,
    lat: float = 12.0,
    lon: float = 97.0,
    revision: int = 1,
    recipients: tuple[str, ...] = (),
    severity: Severity = Severity.HIGH,
    score: float = 0.85,
) -> Alert:
    """Alert number `n` (its id depends on n and the type only, so revisions share it)."""
    mmsi = 100_000_000 + n
    start = BASE_MS + n * 60_000
    extra: dict[str, Any] = {"recipients": list(recipients)} if recipients else {}
    return Alert(
        id=alert_id(type, [mmsi], start),
        type=type,
        severity=Severity.CRITICAL if type is AlertType.DISTRESS else severity,
        score=score,
        mmsi=mmsi,
        mmsis=(mmsi,),
        vessel=Vessel(name=f"TEST {n}", callsign=f"T{n}", imo=None, ship_type=30, flag="TH"),
        lat=lat,
        lon=lon,
        start=start,
        end=None,
        detected_at=start + 5_000,
        reasons=(f"test alert {n}: {type.value} at {lat}, {lon}",),
        evidence={"type": "LineString", "coordinates": [[lon - 0.01, lat], [lon, lat]]},
        rule=Rule(f"{type.value}.test", 1),
        tlp=tlp,
        areas=(),
        revision=revision,
        extra=extra,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class ApiServer:
    """A live API (uvicorn in a thread) on a loopback port."""

    url: str
    context: ApiContext
    server: uvicorn.Server
    thread: threading.Thread
    app: FastAPI

    def client(self, key: str | None = None, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        kwargs.setdefault("timeout", 10)
        return httpx.Client(base_url=self.url, headers=headers, **kwargs)

    def key(self, agency: str, roles: list[Role] | None = None) -> str:
        agency_obj = self.context.registry.get(agency)
        assert agency_obj is not None, agency
        wanted = roles if roles is not None else sorted(agency_obj.roles)
        _, key = self.context.store.create_key(agency, wanted, PEPPER.encode())
        return key

    def stop(self) -> None:
        if self.thread.is_alive():
            self.server.should_exit = True
            self.thread.join(timeout=15)


def serve(settings: ApiSettings, vessels: VesselSource | None = None) -> ApiServer:
    app = create_app(settings, vessels=vessels)
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API server did not start")
        time.sleep(0.01)
    return ApiServer(f"http://127.0.0.1:{port}", app.state.context, server, thread, app)


def api_settings(db_url: str, config_dir: Path, **overrides: Any) -> ApiSettings:
    values: dict[str, Any] = {
        "db_url": db_url,
        "config_dir": config_dir,
        "api_key_pepper": PEPPER,
        "environment": "production",
        "rate_limit_per_s": 10_000.0,
        "rate_limit_burst": 10_000,
        "audit_flush_interval_s": 0.05,
        "stream_poll_s": 0.05,
        "stream_heartbeat_s": 0.2,
        "webhook_poll_s": 0.05,
        "webhook_backoff_base_s": 0.05,
        "webhook_backoff_max_s": 0.5,
        "webhook_timeout_s": 2.0,
    }
    values.update(overrides)
    return ApiSettings(**values)


@pytest.fixture
def api_config_dir(tmp_path: Path) -> Path:
    """A copy of the shipped config folder's agencies.yaml and zones, to modify freely."""
    folder = tmp_path / "config"
    folder.mkdir()
    shutil.copy(REPO / "config" / "agencies.yaml", folder / "agencies.yaml")
    shutil.copytree(REPO / "config" / "zones", folder / "zones")
    return folder


def set_webhooks(config_dir: Path, urls: dict[str, str]) -> None:
    path = config_dir / "agencies.yaml"
    data = yaml.safe_load(path.read_text())
    for agency in data["agencies"]:
        if agency["id"] in urls:
            agency["webhook"] = urls[agency["id"]]
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def make_api(tmp_path: Path, api_config_dir: Path) -> Iterator[Callable[..., ApiServer]]:
    """Factory: `make_api(db_url=None, config_dir=None, vessels=None, **settings)` -> a live
    server (SQLite in tmp_path by default); every server is stopped at the end."""
    made: list[ApiServer] = []

    def make(
        db_url: str | None = None,
        config_dir: Path | None = None,
        vessels: VesselSource | None = None,
        **overrides: Any,
    ) -> ApiServer:
        url = db_url or f"sqlite:///{tmp_path / 'api.db'}"
        server = serve(api_settings(url, config_dir or api_config_dir, **overrides), vessels)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    """An HTTP server on 127.0.0.1 that records deliveries; `fail_first[path] = n` answers
    500 to the first n attempts on that path."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)  # acknowledged (2xx) deliveries
    attempts: list[Received] = field(default_factory=list)  # every request
    fail_first: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def for_path(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    holder: dict[str, WebhookReceiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = self.rfile.read(length)
            receiver = holder["r"]
            record = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            with receiver.lock:
                receiver.attempts.append(record)
                failures = receiver.fail_first.get(self.path, 0)
                if failures > 0:
                    receiver.fail_first[self.path] = failures - 1
                    status = 500
                else:
                    receiver.received.append(record)
                    status = 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = WebhookReceiver(server)
    holder["r"] = receiver
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


def poll_all(
    client: httpx.Client, limit: int = 50, **params: Any
) -> tuple[list[dict[str, Any]], str]:
    """Every item of a cursor poll from the start; returns (items, last cursor)."""
    items: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = {"limit": limit, **params}
        if after is not None:
            query["after"] = after
        response = client.get("/v1/alerts", params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items.extend(page["data"])
        if not page["data"] and page["next"] == after:
            return items, page["next"]
        after = page["next"]


def make_point(mmsi: int, ts: int, lat: float, lon: float, segment_id: int = 1) -> TrackPoint:
    return TrackPoint(
        mmsi=mmsi,
        ts=ts,
        lat=lat,
        lon=lon,
        sog=7.5,
        cog=90.0,
        heading=90,
        nav_status=0,
        rot=None,
        accuracy=True,
        msg_type=1,
        ais_class="A",
        mmsi_class="ship",
        flag="TH",
        source="test",
        rx_ts=ts,
        segment_id=segment_id,
        dt_s=60.0,
        dist_m=230.0,
        implied_sog=7.4,
        turn_rate=0.0,
        flags=(),
        static=StaticFields(name=f"V{mmsi}"),
    )


class MemoryVessels:
    """A VesselSource over a list of points (the real TrackStore is wired by the lead)."""

    def __init__(self, points: list[TrackPoint]) -> None:
        self.points = sorted(points, key=lambda p: (p.mmsi, p.ts))

    def picture(
        self, bbox: tuple[float, float, float, float] | None = None, since_ms: int | None = None
    ) -> list[TrackPoint]:
        latest: dict[int, TrackPoint] = {}
        for point in self.points:
            latest[point.mmsi] = point
        out = []
        for point in latest.values():
            if bbox is not None and point.lat is not None and point.lon is not None:
                west, south, east, north = bbox
                if not (west <= point.lon <= east and south <= point.lat <= north):
                    continue
            if since_ms is not None and point.ts < since_ms:
                continue
            out.append(point)
        return out

    def history(self, mmsi: int, start_ms: int, end_ms: int) -> list[TrackPoint]:
        return [p for p in self.points if p.mmsi == mmsi and start_ms <= p.ts <= end_ms]
