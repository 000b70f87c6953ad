"""The analysts' workbench, end to end: `lookout run` with a backtest data folder, the page in
the machine's headless Chromium (as in test_map.py), an analyst of the operator loosening the
loitering rule: a validation error shown beside its field, a backtest of the edit on a recorded
file showing the alerts gained, then the edit saved as version 2, attributed. A partner agency's
key is turned away. Screenshots go to tests/e2e/screenshots/.

The browser runs in a thread of its own: test_map.py's session-wide Playwright holds this
thread's event loop, and the sync API allows one per thread.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from anomaly.rules import load_rules
from lookout.simulate import simulate
from tests.e2e.lookout_run import LookoutRun, start_lookout
from tests.e2e.test_map import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PLAYWRIGHT,
    VIEWPORT,
    install_chromium,
    shot,
    sign_in,
)
from tests.waiting import wait_for

if PLAYWRIGHT:
    from playwright.sync_api import Browser, expect, sync_playwright

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

OPERATOR = "lookout-ops"
PARTNER = "bd-coast-guard"
RECORDING = "small.nmea"
MODELLED = ("route_anomaly", "migrant_risk")
LOOSER = {"max_speed_kn": "15", "min_duration_h": "0.5", "min_shore_distance_nm": "0"}


@pytest.fixture(scope="module")
def lookout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LookoutRun]:
    data = tmp_path_factory.mktemp("recorded")
    (data / RECORDING).write_text("\n".join(simulate(vessels=8, hours=1.5, seed=3)) + "\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LOOKOUT_API_BACKTEST_DATA_DIR", str(data))
        run = start_lookout(tmp_path_factory.mktemp("lookout-run"), replay_speed=0)
    try:
        yield run
    except BaseException:
        print(run.tail(80))
        raise
    finally:
        run.stop()


def in_a_browser(scenario: Callable[[Browser], None]) -> None:
    """Run `scenario` with a headless Chromium of its own, in a thread of its own."""
    if not PLAYWRIGHT:
        pytest.fail("playwright is not installed: pip install -e '.[dev]' (the dev extra has it)")
    if not CHROMIUM.exists():
        install_chromium()
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
                )
                try:
                    scenario(browser)
                finally:
                    browser.close()
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="workbench-browser")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def test_the_embedded_detection_reports_its_rules(lookout: LookoutRun) -> None:
    """What the analyst sees beside the rules: every rule running in the one embedded stage
    (the bundled models loaded), with the event time the replay reached."""
    with lookout.client() as client:

        def reported() -> list[dict[str, Any]]:
            response = client.get("/v1/detectors")
            response.raise_for_status()
            rows: list[dict[str, Any]] = response.json()["detectors"]
            return rows if rows and all(r["event_time"] for r in rows) else []

        wait_for(lambda: bool(reported()), 60, every_s=0.5, what="a report with event times")
        rows = reported()
        with httpx.Client(base_url=lookout.url, timeout=10) as anonymous:
            assert anonymous.get("/v1/detectors").status_code == 401
    assert {r["rule"]["id"] for r in rows} == {rule.id for rule in load_rules()}
    assert {(r["group"], r["state"], r["stale"]) for r in rows} == {("detect", "running", False)}
    assert all(r["model_version"] for r in rows if r["rule"]["id"] in MODELLED)


def test_analyst_loosens_a_rule_backtests_and_saves(lookout: LookoutRun) -> None:
    in_a_browser(lambda browser: analyst_session(browser, lookout))


def analyst_session(browser: Browser, lookout: LookoutRun) -> None:
    started = time.monotonic()
    page = browser.new_page(viewport=VIEWPORT)
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None,
    )
    expect.set_options(timeout=15_000)

    # From the map's header to the workbench; the map's sign-in carries over (same tab).
    page.goto(lookout.url + "/")
    sign_in(page, lookout.keys[OPERATOR])
    page.click("a[href='/workbench']")
    expect(page.locator("#rule-list [data-rule=loitering]")).to_be_visible()
    # A model file's path is the operator's to set (it is unpickled): shown, not editable.
    page.click("#rule-list [data-rule=migrant_risk]")
    expect(page.locator("#p-model")).to_have_value("default")
    expect(page.locator("#p-model")).to_have_attribute("readonly", "")
    page.click("#rule-list [data-rule=loitering]")
    expect(page.locator("#rule-title")).to_contain_text("Loitering")
    expect(page.locator("#active-version")).to_have_text("v1")

    # A value out of range: refused by the API, shown beside the field.
    page.fill("#p-min_duration_h", "-1")
    page.fill("#f-comment", "boats waited 2 to 3 h off Teknaf")
    page.click("#wb-save")
    expect(page.locator("#e-min_duration_h")).to_contain_text("greater than 0")
    expect(page.locator("#save-msg")).to_contain_text("Not saved")

    # Loosen the rule, backtest the edit against the saved rules on the recording.
    for name, value in LOOSER.items():
        page.fill(f"#p-{name}", value)
    expect(page.locator(".param.changed")).to_have_count(3)
    page.select_option("#bt-data", RECORDING)
    page.click("#wb-backtest")
    expect(page.locator("#bt-status[data-status=done]")).to_be_visible(timeout=120_000)
    gained = int(page.locator("#bt-gained-count .n").inner_text().lstrip("+"))
    assert gained > 0
    expect(page.locator("#bt-gained li.bt-alert")).to_have_count(gained)
    expect(page.locator("#bt-gained li.bt-alert").first).to_contain_text("Loitering for")
    expect(page.locator("#bt-lost")).to_contain_text("None.")
    expect(page.locator("#bt-precision")).to_be_visible()
    shot(page, "workbench-backtest")

    # Save: version 2, attributed, not deployed until an operator installs the export.
    page.click("#wb-save")
    expect(page.locator("#save-msg")).to_contain_text("Saved as version 2")
    expect(page.locator("#active-version")).to_have_text("v2")
    row = page.locator("#history tbody tr").first
    expect(row).to_contain_text(OPERATOR)
    expect(row).to_contain_text("boats waited 2 to 3 h off Teknaf")
    expect(page.locator(".dep.pending")).to_contain_text("Not deployed")
    shot(page, "workbench-saved")
    assert not problems, problems

    # A partner agency's key: no rules for it.
    partner = browser.new_page(viewport=VIEWPORT)
    partner.goto(lookout.url + "/workbench")
    sign_in(partner, lookout.keys[PARTNER])
    expect(partner.locator("#wb-message")).to_contain_text("analyst role")
    expect(partner.locator("#wb-grid")).to_be_hidden()
    print(f"workbench e2e in {time.monotonic() - started:.1f} s")
