"""`lookout run` as a subprocess for end-to-end tests: a free port, its own SQLite database, the
sample replayed as fast as possible; the demo keys it prints; alerts seeded into its database.

Tests seed the alerts they need the way the alert sink stores them (`AlertStore.put_alerts` on
the same database); embedded detection's own alerts arrive too, and tests must not depend on
their absence.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from anomaly.records import Alert, AlertType, Rule, Severity, Tlp, Vessel, alert_id
from api.sharing import Registry, compile_agency, load_zones, read_agency_configs
from api.store import AlertStore
from config import default_config_dir
from tests.api_fixtures import OPERATOR, free_port

KEY_LINE = re.compile(
    r"^\s+(?P<agency>[a-z0-9][a-z0-9._-]+)\s+(?P<roles>[a-z,]+)\s+(?P<key>lk_\S+)\s*$"
)
START_TIMEOUT_S = 60.0


@dataclass
class LookoutRun:
    url: str
    db_url: str
    keys: dict[str, str]
    process: subprocess.Popen[bytes]
    log: Path

    def client(self, agency: str = OPERATOR) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[agency]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=10)

    def picture(self) -> list[dict[str, Any]]:
        with self.client() as client:
            response = client.get("/v1/picture")
            response.raise_for_status()
            features: list[dict[str, Any]] = response.json()["features"]
            return features

    def track(self, mmsi: int, start: str, end: str) -> list[dict[str, Any]]:
        with self.client() as client:
            response = client.get(f"/v1/vessels/{mmsi}/track", params={"start": start, "end": end})
            if response.status_code == 404:
                return []
            response.raise_for_status()
            features: list[dict[str, Any]] = response.json()["features"]
            return features

    def wait_for_vessels(self, at_least: int, timeout_s: float = 60.0) -> list[dict[str, Any]]:
        """The picture once it holds `at_least` vessels and stopped growing (replay done)."""
        deadline = time.monotonic() + timeout_s
        previous: tuple[int, str] | None = None
        while True:
            self.check_alive()
            features = self.picture()
            latest = max((f["properties"]["ts"] for f in features), default="")
            state = (len(features), latest)
            if len(features) >= at_least and state == previous:
                return features
            if time.monotonic() > deadline:
                raise AssertionError(f"only {len(features)} vessels after {timeout_s} s")
            previous = state
            time.sleep(1.0)

    def seed(self, alerts: Sequence[Alert]) -> None:
        """Store alerts as the alert sink would, in the run's own database, with the same
        agencies (and so the same per-agency bookkeeping) as the run."""
        config_dir = default_config_dir()
        zones = load_zones(config_dir)
        agencies = [compile_agency(c, zones) for c in read_agency_configs(config_dir)]
        store = AlertStore.from_url(self.db_url, Registry(OPERATOR, agencies))
        try:
            store.put_alerts(alerts)
        finally:
            store.close()

    def check_alive(self) -> None:
        if self.process.poll() is not None:
            raise AssertionError(f"lookout run exited ({self.process.returncode}):\n{self.tail()}")

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def lookout_command() -> list[str]:
    script = Path(sys.executable).with_name("lookout")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lookout.cli"]


def start_lookout(
    workdir: Path, *, replay_speed: float = 0, config_dir: Path | None = None
) -> LookoutRun:
    """`lookout run` on a free loopback port with its own database in `workdir` (and the
    configuration in `config_dir`, default the bundled one)."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_url = f"sqlite:///{workdir / 'lookout.db'}"
    env = {
        **os.environ,
        "LOOKOUT_API__HOST": "127.0.0.1",
        "LOOKOUT_API__PORT": str(port),
        "LOOKOUT_DATABASE__URL": db_url,
        "LOOKOUT_EMBEDDED__REPLAY_SPEED": str(replay_speed),
        "LOOKOUT_ENV": "development",  # the demo keys are printed in development only
        "PYTHONUNBUFFERED": "1",
    }
    log = workdir / "lookout-run.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*lookout_command(), "run", *(["--config", str(config_dir)] if config_dir else [])],
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    run = LookoutRun(f"http://127.0.0.1:{port}", db_url, {}, process, log)
    try:
        run.keys = _wait_for_keys(run)
        _wait_ready(run)
    except BaseException:
        run.stop()
        raise
    return run


def _wait_for_keys(run: LookoutRun) -> dict[str, str]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        run.check_alive()
        text = run.log.read_text(errors="replace")
        if "map: http" in text:
            keys = {}
            for line in text.splitlines():
                match = KEY_LINE.match(line)
                if match:
                    keys[match["agency"]] = match["key"]
            if OPERATOR not in keys:
                raise AssertionError(f"no key for {OPERATOR} in the output:\n{run.tail()}")
            return keys
        time.sleep(0.1)
    raise AssertionError(f"lookout run printed no demo keys in {START_TIMEOUT_S} s:\n{run.tail()}")


def _wait_ready(run: LookoutRun) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        run.check_alive()
        try:
            if httpx.get(f"{run.url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"lookout run did not answer /readyz:\n{run.tail()}")


# -- alerts built on the replayed vessels ----------------------------------------------------


def iso_to_ms(text: str) -> int:
    from ingest.records import parse_iso_ms

    return parse_iso_ms(text)


def vessel_alert(
    vessel: dict[str, Any],
    track: list[dict[str, Any]],
    alert_type: AlertType,
    severity: Severity,
    reasons: Sequence[str],
    *,
    tlp: Tlp = Tlp.GREEN,
    score: float = 0.8,
    areas: Sequence[str] = (),
    episode_fixes: int = 40,
    salt: int = 7,
) -> Alert:
    """An alert about a replayed vessel: its episode is the vessel's last `episode_fixes`
    fixes, its evidence their LineString, its position the latest fix. `salt` (ms) keeps the
    id apart from any alert real detection could raise for the same vessel and start."""
    props = vessel["properties"]
    fixes = [f for f in track if f["geometry"]["type"] == "Point"][-episode_fixes:]
    if len(fixes) < 2:
        raise AssertionError(f"vessel {props['mmsi']} has no track to build an alert on")
    lon, lat = fixes[-1]["geometry"]["coordinates"]
    start = iso_to_ms(fixes[0]["properties"]["ts"]) + salt
    mmsi = int(props["mmsi"])
    return Alert(
        id=alert_id(alert_type, [mmsi], start),
        type=alert_type,
        severity=severity,
        score=score,
        mmsi=mmsi,
        mmsis=(mmsi,),
        vessel=Vessel(
            name=props.get("name"),
            callsign=props.get("callsign"),
            imo=props.get("imo"),
            ship_type=props.get("ship_type"),
            flag=props.get("flag"),
        ),
        lat=lat,
        lon=lon,
        start=start,
        end=None,
        detected_at=iso_to_ms(fixes[-1]["properties"]["ts"]),
        reasons=tuple(reasons),
        evidence={
            "type": "LineString",
            "coordinates": [f["geometry"]["coordinates"] for f in fixes],
        },
        rule=Rule(f"{alert_type.value}.e2e", 1),
        tlp=tlp,
        areas=tuple(areas),
    )
