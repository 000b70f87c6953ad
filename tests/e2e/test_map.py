"""The watch officers' map, end to end: `lookout run` on the bundled sample, the page in the
machine's headless Chromium (Debian's `chromium`, driven by Playwright; never a downloaded
browser), as a watch officer of the operator and then as a partner agency.

Detection may or may not raise alerts from the sample; the test seeds its own alerts about
replayed vessels into the run's database and looks only at those, so real alerts arriving too
change nothing. Screenshots go to tests/e2e/screenshots/ (not committed); with
LOOKOUT_DOCS_SCREENSHOT=1 the alert view is also saved as docs/map.png for the README.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import shapely

from anomaly.records import Alert, AlertType, Rule, Severity, Tlp, Vessel
from anomaly.records import alert_id as make_alert_id
from anomaly.rules import load_rules
from api.sharing import load_zones
from config import default_config_dir
from lookout.simulate import simulate
from tests.e2e.lookout_run import LookoutRun, iso_to_ms, start_lookout, vessel_alert

try:
    from playwright.sync_api import Browser, Page, ViewportSize, expect, sync_playwright

    PLAYWRIGHT = True
except ImportError:  # reported by the `browser` fixture, so that collection still works
    PLAYWRIGHT = False

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the first run may install Chromium

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
DOCS_SCREENSHOT = REPO / "docs" / "map.png"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1440, "height": 900}
OPERATOR = "lookout-ops"
PARTNER = "bd-coast-guard"
PARTNER_BOX = (88.0, 19.0, 93.0, 23.0)  # bd-coast-guard's area in config/agencies.yaml
MAIN_REASON = "Loitered 2 h 10 min within 1.4 NM"


# -- the browser ---------------------------------------------------------------------------


def install_chromium() -> None:
    """Debian's `chromium` (and the fonts it recommends) with apt-get, as CI (root) can."""
    if shutil.which("apt-get") is None:
        pytest.skip("no /usr/bin/chromium, and no apt-get to install Debian's chromium package")
    if os.geteuid() != 0:
        pytest.skip("no /usr/bin/chromium: run `apt-get install chromium` as root")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [
        "apt-get",
        "install",
        "-y",
        "--no-install-recommends",
        "chromium",
        "fonts-liberation",
    ]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            pytest.fail(f"apt-get install chromium failed:\n{done.stdout[-2000:]}{done.stderr}")
    if not CHROMIUM.exists():
        pytest.fail("apt-get installed chromium, but /usr/bin/chromium is not there")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not PLAYWRIGHT:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (the dev extra has it)")
    if not CHROMIUM.exists():
        install_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


# -- the pipeline and its alerts -------------------------------------------------------------


def inside(box: tuple[float, float, float, float], feature: dict[str, Any]) -> bool:
    lon, lat = feature["geometry"]["coordinates"]
    west, south, east, north = box
    return bool(west <= lon <= east and south <= lat <= north)


def zone_ids(lon: float, lat: float) -> tuple[str, ...]:
    zones = load_zones(default_config_dir())
    point = shapely.Point(lon, lat)
    return tuple(z for z, geometry in zones.items() if geometry.covers(point))


class Scenario:
    """Alerts about replayed vessels: one the operator works on (outside the partner's
    area), one inside the partner's area and of a type it receives, one inside its area of a
    type it does not receive, and a few more for a realistic picture."""

    def __init__(self, run: LookoutRun, vessels: list[dict[str, Any]]) -> None:
        self.run = run
        moving = [v for v in vessels if (v["properties"].get("sog") or 0) > 3]
        outside = [
            v for v in moving if not inside(PARTNER_BOX, v) and v["geometry"]["coordinates"][0] > 90
        ]
        outside.sort(key=lambda v: v["properties"].get("ship_type") != 30)  # a fishing boat first
        within = [v for v in vessels if inside(PARTNER_BOX, v)]
        assert outside and within, "the sample has vessels inside and outside the partner's area"
        others = [v for v in moving if v not in outside[:1] and not inside(PARTNER_BOX, v)]
        self.main = self.alert(
            outside[0],
            AlertType.MIGRANT_RISK,
            Severity.HIGH,
            0.82,
            Tlp.AMBER,
            [
                "Risk 0.82 from 3 indicators: loitering, AIS gap, course towards the Andaman coast",
                f"{MAIN_REASON}, 118 NM off the Rakhine coast",
                "No AIS for 3 h 20 min before reappearing 26 NM south-east",
            ],
        )
        self.shared = self.alert(
            within[0],
            AlertType.COASTAL_APPROACH,
            Severity.HIGH,
            0.74,
            Tlp.GREEN,
            ["Approaching the coast at 7.4 kn, 6.2 NM out, away from any port approach, at night"],
        )
        self.wrong_type = self.alert(
            within[-1],
            AlertType.DRIFTING,
            Severity.MEDIUM,
            0.5,
            Tlp.GREEN,
            ["Speed 0.6 to 1.2 kn for 1 h 30 min, heading wandering 40° an hour: engine off"],
        )
        extras = [
            self.alert(
                others[1],
                AlertType.AIS_GAP,
                Severity.MEDIUM,
                0.5,
                Tlp.GREEN,
                ["No position for 47 min (expected every 10 s at 11 kn); back 9.1 NM away"],
            ),
            self.alert(
                others[2],
                AlertType.LOITERING,
                Severity.LOW,
                0.35,
                Tlp.GREEN,
                ["Stayed within 1.1 NM for 1 h 45 min at 0.8 kn, 64 NM offshore"],
            ),
        ]
        self.to_close = extras[1]
        self.alerts = [self.main, self.shared, self.wrong_type, *extras]
        self.late = self.distress()  # stored once the page is open: it must arrive live

    def alert(
        self,
        vessel: dict[str, Any],
        alert_type: AlertType,
        severity: Severity,
        score: float,
        tlp: Tlp,
        reasons: list[str],
    ) -> Alert:
        mmsi = vessel["properties"]["mmsi"]
        track = self.run.track(mmsi, "2024-04-30T00:00:00Z", "2024-05-02T00:00:00Z")
        lon, lat = vessel["geometry"]["coordinates"]
        return vessel_alert(
            vessel,
            track,
            alert_type,
            severity,
            reasons,
            tlp=tlp,
            score=score,
            areas=zone_ids(lon, lat),
        )

    def distress(self) -> Alert:
        sart = 970_012_345
        start = iso_to_ms("2024-05-01T02:41:00Z")
        lon, lat = 94.71, 13.92
        return Alert(
            id=make_alert_id(AlertType.DISTRESS, [sart], start + 7),
            type=AlertType.DISTRESS,
            severity=Severity.CRITICAL,
            score=1.0,
            mmsi=sart,
            mmsis=(sart,),
            vessel=Vessel(),
            lat=lat,
            lon=lon,
            start=start,
            end=None,
            detected_at=start + 20_000,
            reasons=(
                "AIS-SART active: MMSI 970012345, navigational status 14, 6 reports in 3 min",
            ),
            evidence=None,
            rule=Rule("distress.e2e", 1),
            tlp=Tlp.CLEAR,
            areas=zone_ids(lon, lat),
        )


@pytest.fixture(scope="module")
def lookout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LookoutRun, Scenario]]:
    run = start_lookout(tmp_path_factory.mktemp("lookout-run"), replay_speed=0)
    try:
        scenario = Scenario(run, run.wait_for_vessels(100))
        run.seed(scenario.alerts)
        yield run, scenario
    except BaseException:
        print(run.tail(80))
        raise
    finally:
        run.stop()


# -- the test ------------------------------------------------------------------------------


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def save_small_png(png: bytes, path: Path) -> None:
    """The README's screenshot, as a palette PNG when Pillow is at hand (a third the size)."""
    path.parent.mkdir(exist_ok=True)
    try:
        from PIL import Image
    except ImportError:
        path.write_bytes(png)
        return
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=192, dither=Image.Dither.NONE).save(path, optimize=True)


def sign_in(page: Page, key: str) -> None:
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-key", key)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login")).to_be_hidden()


def item(page: Page, alert: Alert) -> Any:
    return page.locator(f'#alert-list [data-alert-id="{alert.id}"]')


def vessel_count(page: Page) -> int:
    return int(page.locator("body").get_attribute("data-vessels") or 0)


def wait_for_vessels(page: Page, at_least: int = 1, timeout_s: float = 15) -> int:
    deadline = time.monotonic() + timeout_s
    while vessel_count(page) < at_least:
        assert time.monotonic() < deadline, "no vessels shown"
        page.wait_for_timeout(200)
    return vessel_count(page)


def test_watch_officer_map(browser: Browser, lookout: tuple[LookoutRun, Scenario]) -> None:
    run, scenario = lookout
    started = time.monotonic()
    page = browser.new_page(viewport=VIEWPORT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    expect.set_options(timeout=15_000)

    # The operator's watch officer signs in: vessels, zones and alerts.
    page.goto(f"{run.url}/")
    sign_in(page, run.keys[OPERATOR])
    expect(page.locator("#who-name")).to_have_text("Lookout operations centre")
    expect(page.locator("#conn")).to_have_text("Live")
    expect(page.locator("#detection-state")).to_have_text(f"all {len(load_rules())} rules running")
    assert wait_for_vessels(page, 100) >= 100
    for alert in scenario.alerts:
        expect(item(page, alert)).to_be_visible()
    run.seed([scenario.late])  # arrives over the event stream, no reload
    expect(item(page, scenario.late)).to_be_visible()
    expect(page.locator("#announce")).to_contain_text("New critical alert")
    assert page.locator("path.alert-marker").count() >= len(scenario.alerts) + 1
    assert page.locator("#map").get_attribute("data-land") == "loaded"
    page.wait_for_timeout(500)  # let the vessel canvas settle for the picture
    shot(page, "01-operator")

    # One alert: its vessel's track, its evidence and its reasons.
    item(page, scenario.main).locator("button").click()
    detail = page.locator("#detail")
    expect(detail).to_be_visible()
    expect(page.locator("#detail-title")).to_have_text("Migrant risk")
    expect(page.locator("#detail-reasons")).to_contain_text(MAIN_REASON)
    expect(page.locator("#detail-track")).to_have_text(re.compile(r"^\d+ fixes"))
    assert page.locator("path.track-line").count() >= 1
    assert page.locator("path.evidence-line").count() >= 1
    page.wait_for_timeout(900)  # the map flies to the track
    shot(page, "02-alert")
    if os.environ.get("LOOKOUT_DOCS_SCREENSHOT") == "1":  # the README's: the alert in context
        for _ in range(2):
            page.click(".leaflet-control-zoom-out")
            page.wait_for_timeout(400)
        page.mouse.move(1, 1)  # off the map: no pointer position in the picture
        page.wait_for_timeout(300)
        save_small_png(page.screenshot(), DOCS_SCREENSHOT)

    # Acknowledge it and add a note: the list and the API agree.
    page.click("#ack-btn")
    expect(page.locator("#detail-status")).to_have_text("Status: Acknowledged")
    expect(item(page, scenario.main).locator(".a-status")).to_have_text("Acknowledged")
    page.fill("#note-text", "Patrol vessel tasked; MRCC informed.")
    page.click("#note-btn")
    expect(page.locator("#detail-notes")).to_contain_text("Patrol vessel tasked")
    with run.client(OPERATOR) as client:
        stored = client.get(f"/v1/alerts/{scenario.main.id}").json()
    assert stored["status"] == "acknowledged"
    shot(page, "03-acknowledged")

    # Close another one with an outcome: it leaves the default list (open and acknowledged).
    item(page, scenario.to_close).locator("button").click()
    expect(page.locator("#detail")).to_have_attribute("data-alert-id", scenario.to_close.id)
    page.check("#outcome-false_alarm")
    page.click("#close-btn")
    expect(page.locator("#detail-status")).to_have_text("Status: Closed: False alarm")
    expect(item(page, scenario.to_close)).to_have_count(0)
    page.select_option("#f-status", "closed")
    expect(item(page, scenario.to_close)).to_be_visible()
    page.select_option("#f-status", "active")
    page.keyboard.press("Escape")
    expect(page.locator("#detail")).to_be_hidden()

    # A partner agency: only what its agreement allows.
    page.click("#sign-out")
    sign_in(page, run.keys[PARTNER])
    expect(page.locator("#who-name")).to_have_text("Bangladesh Coast Guard")
    expect(page.locator("#detection")).to_be_hidden()  # detector health is for staff
    expect(item(page, scenario.shared)).to_be_visible()
    expect(item(page, scenario.main)).to_have_count(0)  # outside its area
    expect(item(page, scenario.wrong_type)).to_have_count(0)  # a type it does not receive
    expect(page.locator("#alert-list")).not_to_contain_text(MAIN_REASON)
    partner_vessels = wait_for_vessels(page)
    assert 0 < partner_vessels < 100  # only the vessels inside its area
    with run.client(PARTNER) as client:
        assert client.get(f"/v1/alerts/{scenario.main.id}").status_code == 404
    page.goto(f"{run.url}/#alert={scenario.main.id}")  # not even by its address
    expect(page.locator("#detail")).to_contain_text("not available to your agency")
    shot(page, "04-partner")

    # The partner's briefing: trends count only what it may see.
    page.click("a[href='/trends']")
    expect(page.locator("#t-total")).to_have_text(re.compile(r"^[1-9]\d*$"))
    expect(page.locator("#t-types")).to_contain_text("Coastal approach")
    expect(page.locator("#t-types")).not_to_contain_text("Drifting")
    shot(page, "05-partner-trends")

    assert not problems, problems
    page.close()
    print(f"map checks took {time.monotonic() - started:.1f} s")


def test_the_map_names_the_detectors_that_are_not_running(
    browser: Browser, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule whose model file is missing raises nothing: the officer is told which and why,
    and so is the analyst whose backtest it could not run in."""
    config = tmp_path / "config"
    shutil.copytree(default_config_dir(), config)
    rules = config / "rules.yaml"
    rules.write_text(rules.read_text().replace("model: default", f"model: {tmp_path}/none.joblib"))
    data = tmp_path / "recorded"
    data.mkdir()
    (data / "small.nmea").write_text("\n".join(simulate(vessels=4, hours=1.0, seed=3)) + "\n")
    monkeypatch.setenv("LOOKOUT_API_BACKTEST_DATA_DIR", str(data))
    run = start_lookout(tmp_path / "run", replay_speed=0, config_dir=config)
    try:
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{run.url}/")
        sign_in(page, run.keys[OPERATOR])
        state = page.locator("#detection-state")
        expect(state).to_have_text("not running: Migrant risk, Route anomaly")
        assert state.get_attribute("data-state") == "attention"
        assert f"no model file at {tmp_path}/none.joblib" in (state.get_attribute("title") or "")

        page.click("a[href='/workbench']")
        page.click("#rule-list [data-rule=loitering]")
        expect(page.locator("#rule-title")).to_contain_text("Loitering")
        page.select_option("#bt-data", "small.nmea")
        page.fill("#p-min_duration_h", "0.5")
        page.click("#wb-backtest")
        expect(page.locator("#bt-status[data-status=done]")).to_be_visible(timeout=120_000)
        warning = page.locator("#bt-not-running")
        expect(warning).to_contain_text("Did not run, so raised nothing here: ")
        for rule in ("Migrant risk", "Route anomaly"):
            expect(warning).to_contain_text(f"{rule}: no model file at {tmp_path}/none.joblib")
        expect(warning).not_to_contain_text("rules only")  # the same on both sides
        shot(page, "06-backtest-not-running")
        page.close()
    finally:
        run.stop()
