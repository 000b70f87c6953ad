"""The analysts' workbench: /v1/rules (roles, validation, versions and attribution, If-Match),
/v1/backtest (data folder, queue, timeout, cancel) and the acceptance test of issue 6:
loosen a threshold, backtest, see more alerts than the saved version.

The recorded data is made here: a few vessels of `lookout.simulate` for 90 minutes, sailing at
3 to 14 kn, so the saved loitering rule (below 2 kn for 4 h, 20 nm offshore) never fires and a
loosened one (below 15 kn for 30 min, anywhere) does.
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import sqlalchemy as sa
import yaml
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from anomaly.records import Alert, Outcome
from anomaly.rules import load_rules, parse_rules
from api import tables as t
from api.keys import key_id_of
from api.rules_store import metadata as rules_metadata
from api.rules_store import rule_version
from api.sharing import Role
from api.store import CHANGE_CLOSED
from api.workbench import DataError, DataFolders, compare, jobs_metadata
from ingest.pipeline import IngestSettings
from lookout.batch import process
from lookout.db import alembic_config, make_engine, migrate
from lookout.simulate import simulate
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    OPERATOR,
    REPO,
    ApiServer,
    api_config_dir,
    make_api,
)
from tests.waiting import wait_for

SAMPLE = "small.nmea"
LOOSER = {"max_speed_kn": 15.0, "min_duration_h": 0.5, "min_shore_distance_nm": 0.0}
ANALYST = [Role.ANALYST]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of recorded data: 8 vessels for 90 minutes, NMEA with tag-block times."""
    folder = tmp_path_factory.mktemp("recorded")
    lines = simulate(vessels=8, hours=1.5, seed=3)
    (folder / SAMPLE).write_text("\n".join(lines) + "\n", encoding="ascii")
    return folder


@pytest.fixture
def bench_config(api_config_dir: Path) -> Path:  # noqa: F811
    """The test's config folder with its own rules.yaml (the bundled one at this moment)."""
    shutil.copy(REPO / "config" / "rules.yaml", api_config_dir / "rules.yaml")
    return api_config_dir


@pytest.fixture
def bench(
    make_api: Any,  # noqa: F811
    bench_config: Path,
    recorded: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Any]:
    """Factory: `bench(**workbench_env)` -> a live API whose backtests read `recorded`."""

    def make(**env: str) -> ApiServer:
        monkeypatch.setenv("LOOKOUT_API_BACKTEST_DATA_DIR", str(recorded))
        for name, value in env.items():
            monkeypatch.setenv(f"LOOKOUT_API_{name.upper()}", value)
        server: ApiServer = make_api(config_dir=bench_config)
        return server

    yield make


def analyst(server: ApiServer) -> httpx.Client:
    return server.client(server.key(OPERATOR, ANALYST), timeout=30)


def loitering(client: httpx.Client) -> tuple[dict[str, Any], str]:
    response = client.get("/v1/rules/loitering")
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


def put(
    client: httpx.Client,
    body: dict[str, Any],
    if_match: str | None = '"1"',
    rule: str = "loitering",
) -> httpx.Response:
    headers = {"If-Match": if_match} if if_match is not None else {}
    return client.put(f"/v1/rules/{rule}", json=body, headers=headers)


def finished(client: httpx.Client, job_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        response = client.get(f"/v1/backtest/{job_id}")
        assert response.status_code == 200, response.text
        job: dict[str, Any] = response.json()
        if job["status"] not in ("queued", "running"):
            return job
        assert time.monotonic() < deadline, f"backtest still {job['status']}"
        time.sleep(0.2)


def is_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


# -- roles ----------------------------------------------------------------------------------------
def test_only_analysts_edit_rules_and_run_backtests(bench: Any) -> None:
    server = bench()
    partner = server.client(server.key("th-mecc"))
    officer = server.client(server.key(OPERATOR, [Role.OFFICER]))
    admin = server.client(server.key(OPERATOR, [Role.ADMIN]))
    anonymous = server.client()
    edit = {"params": LOOSER, "comment": "looser"}
    backtest = {"data": SAMPLE, "rules": {"loitering": LOOSER}}
    for client in (partner, officer):
        assert client.get("/v1/rules").status_code == 403
        assert client.get("/v1/rules/loitering").status_code == 403
        assert client.get("/v1/rules/loitering/versions").status_code == 403
        assert client.get("/v1/rules/export").status_code == 403
        is_problem(put(client, edit), 403)
        is_problem(client.post("/v1/backtest", json=backtest), 403)
        assert client.get("/v1/backtest/data").status_code == 403
    # Admins may read the rules (and export them for deployment), not change them.
    assert admin.get("/v1/rules").status_code == 200
    assert admin.get("/v1/rules/export").status_code == 200
    is_problem(put(admin, edit), 403)
    is_problem(admin.post("/v1/backtest", json=backtest), 403)
    for path in ("/v1/rules", "/v1/rules/loitering", "/v1/backtest/data", "/v1/backtest"):
        assert anonymous.get(path).status_code == 401
    # Nothing changed.
    assert analyst(server).get("/v1/rules/loitering").json()["active_version"] == 1


def test_backtests_are_visible_to_their_agency_only(bench: Any) -> None:
    server = bench(backtest_timeout_s="0.2")
    client = analyst(server)
    job = client.post("/v1/backtest", json={"data": SAMPLE, "rules": {"loitering": LOOSER}})
    assert job.status_code == 202, job.text
    # Another agency's analyst (the demo agreements give partners no analyst role: add one).
    admin = server.client(server.key(OPERATOR, [Role.ADMIN]))
    agency = {
        "id": "xx-analysts",
        "name": "Analysts",
        "country": "XX",
        "areas": "any",
        "roles": ["partner", "analyst"],
        "alert_types": "all",
        "max_tlp": "GREEN",
    }
    assert admin.post("/v1/admin/agencies", json=agency).status_code in (200, 201)
    other = server.client(server.key("xx-analysts", ANALYST))
    assert other.get(f"/v1/backtest/{job.json()['id']}").status_code == 404
    assert other.delete(f"/v1/backtest/{job.json()['id']}").status_code == 404
    assert other.get("/v1/backtest").json()["jobs"] == []
    assert finished(client, job.json()["id"])["status"] == "timeout"


# -- validation -----------------------------------------------------------------------------------
def test_a_bad_rule_is_refused_with_each_problem_located(bench: Any) -> None:
    server = bench()
    client = analyst(server)
    rule, _ = loitering(client)
    params = dict(rule["active"]["params"])
    bad = {**params, "min_duration_h": -1, "min_duraton_h": 2.0}
    body = is_problem(put(client, {"params": bad, "comment": "typo"}), 422)
    located = {tuple(e["loc"]) for e in body["errors"]}
    assert ("params", "min_duration_h") in located  # out of range
    assert ("params", "min_duraton_h") in located  # misspelt: unknown
    assert "min_duration_h" in body["detail"]

    body = is_problem(put(client, {"tlp": "PURPLE", "comment": "x"}), 422)
    assert any(e["loc"][-1] == "tlp" for e in body["errors"])
    body = is_problem(
        put(client, {"params": {**params, "max_speed_kn": "fast"}, "comment": "x"}), 422
    )
    assert [e["loc"] for e in body["errors"]] == [["params", "max_speed_kn"]]
    # A detector with a DEFAULTS table (no pydantic model): unknown names still refused.
    current = client.get("/v1/rules/encounter")
    encounter = current.json()["active"]["params"]
    body = is_problem(
        put(
            client,
            {"params": {**encounter, "max_distanse_m": 1}, "comment": "x"},
            current.headers["etag"],
            rule="encounter",
        ),
        422,
    )
    assert ["params", "max_distanse_m"] in [e["loc"] for e in body["errors"]]
    # A model file is unpickled by its detector: its path is not the API's to set, neither in
    # a saved rule nor in a backtest's proposal (which runs on this server too).
    assert client.get("/v1/rules").json()["protected_params"] == ["model"]
    for rule_id in ("migrant_risk", "route_anomaly"):
        current = client.get(f"/v1/rules/{rule_id}")
        given = current.json()["active"]["params"]
        assert given["model"] == "default"
        evil = {**given, "model": "/tmp/evil.joblib"}
        body = is_problem(
            put(client, {"params": evil, "comment": "x"}, current.headers["etag"], rule=rule_id),
            422,
        )
        assert ["params", "model"] in [e["loc"] for e in body["errors"]]
        body = is_problem(
            client.post("/v1/backtest", json={"data": SAMPLE, "rules": {rule_id: evil}}), 422
        )
        assert "model" in str(body["errors"])
    # No comment, non-finite numbers: refused by the request schema or the rule.
    is_problem(put(client, {"params": params}), 422)
    is_problem(put(client, {"params": params, "comment": ""}), 422)
    # Unknown rule ids.
    assert client.get("/v1/rules/not_a_rule").status_code == 422
    # Nothing was saved.
    assert [
        v["version"] for v in client.get("/v1/rules/loitering/versions").json()["versions"]
    ] == [1]
    # The same as the active version: nothing to save.
    is_problem(put(client, {"params": params, "comment": "same"}), 409)


def test_a_saved_version_a_newer_detector_refuses_is_not_exported(bench: Any) -> None:
    """After an upgrade renames a detector's parameter, the stored versions still read, but
    exporting (or backtesting) them is refused with the rule and parameter named."""
    server = bench()
    client = analyst(server)
    with server.context.store.engine.begin() as conn:
        row = conn.execute(
            sa.select(rule_version.c.params).where(rule_version.c.rule_id == "loitering")
        ).scalar_one()
        params = {**orjson.loads(row), "renamed_since_h": 1.0}
        conn.execute(
            rule_version.update()
            .where(rule_version.c.rule_id == "loitering")
            .values(params=orjson.dumps(params).decode())
        )
    listed = client.get("/v1/rules")
    assert listed.status_code == 200
    assert "loitering" in listed.json()["undeployed"]
    problem = is_problem(client.get("/v1/rules/export"), 409)
    assert (
        problem["errors"][0]["loc"][:1] == ["loitering"] and "renamed_since_h" in problem["detail"]
    )
    problem = is_problem(
        client.post(
            "/v1/backtest", json={"data": SAMPLE, "rules": {"drifting": {"min_duration_h": 2}}}
        ),
        422,
    )
    assert "renamed_since_h" in problem["detail"]


# -- versions, attribution, deployment ------------------------------------------------------------
def test_a_change_is_version_n_plus_1_attributed_and_not_deployed(
    bench: Any, bench_config: Path
) -> None:
    server = bench()
    key = server.key(OPERATOR, ANALYST)
    client = server.client(key, timeout=30)
    rules_file = bench_config / "rules.yaml"
    before = rules_file.read_bytes()
    listed = client.get("/v1/rules").json()
    assert [r["id"] for r in listed["rules"]] == [e.id for e in load_rules(rules_file)]
    assert all(r["deployed"] and r["active"]["origin"] == "config" for r in listed["rules"])
    assert listed["undeployed"] == [] and "operator" in listed["note"]

    rule, tag = loitering(client)
    assert tag == '"1"'
    params = {**rule["active"]["params"], **LOOSER}
    response = put(client, {"params": params, "comment": "boats waited 2 h off Teknaf"}, tag)
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"2"'
    saved = response.json()
    assert saved["active_version"] == 2 and saved["deployed_version"] == 1
    assert not saved["deployed"]
    active = saved["active"]
    assert active["params"] == params and active["origin"] == "api"
    assert active["author"] == {"agency": OPERATOR, "key_id": key_id_of(key)}
    assert active["comment"] == "boats waited 2 h off Teknaf"
    assert [h["version"] for h in saved["history"]] == [2, 1]

    versions = client.get("/v1/rules/loitering/versions").json()["versions"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["origin"] == "config" and versions[1]["params"]["min_duration_h"] == 4.0
    assert client.get("/v1/rules/loitering/versions/1").json()["params"]["min_duration_h"] == 4.0
    assert client.get("/v1/rules/loitering/versions/9").status_code == 404
    # Only the loitering entry changed.
    assert client.get("/v1/rules").json()["undeployed"] == ["loitering"]

    # Fields left out keep their values; severity: null restores the detector's own.
    response = put(client, {"severity": "high", "comment": "raise"}, '"2"')
    assert response.json()["active"]["severity"] == "high"
    assert response.json()["active"]["params"] == params
    response = put(client, {"severity": None, "enabled": False, "comment": "off"}, '"3"')
    assert response.json()["active"]["severity"] is None
    assert response.json()["active"]["enabled"] is False

    # Detection is untouched: config/rules.yaml is the operator's to deploy.
    assert rules_file.read_bytes() == before
    exported = client.get("/v1/rules/export")
    assert exported.headers["content-type"].startswith("application/yaml")
    ruleset = parse_rules(exported.text)
    entry = ruleset.get("loitering")
    assert entry is not None and entry.version == 4 and not entry.enabled
    assert entry.params == params
    assert ruleset.version == load_rules(rules_file).version + 1
    assert ruleset.get("ais_gap") == load_rules(rules_file).get("ais_gap")

    # Every change is in the audit log, with who and why.
    def audited() -> list[dict[str, Any]]:
        with server.context.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.audit_log.c.detail).where(t.audit_log.c.action == "rule.changed")
            ).all()
        return [orjson.loads(r.detail) for r in rows]

    wait_for(lambda: len(audited()) == 3)
    assert audited()[0] == {
        "rule": "loitering",
        "version": 2,
        "previous": 1,
        "comment": "boats waited 2 h off Teknaf",
    }


def test_seeding_imports_the_operators_edits_and_keeps_the_analysts(
    bench: Any, bench_config: Path
) -> None:
    server = bench()
    client = analyst(server)
    rule, _ = loitering(client)
    assert (
        put(client, {"params": {**rule["active"]["params"], **LOOSER}, "comment": "x"}).status_code
        == 200
    )
    server.stop()
    # The operator edits the file by hand: drifting raised a version (imported as the active
    # version), ais_gap changed without raising its version (the database's is kept).
    data = yaml.safe_load((bench_config / "rules.yaml").read_text())
    for entry in data["rules"]:
        if entry["id"] == "drifting":
            shipped_drifting = entry["version"]
            entry["version"] = shipped_drifting + 1
            entry["params"]["min_duration_h"] = 2.0
        if entry["id"] == "ais_gap":
            shipped_gap = entry["version"]
            entry["params"]["open_sea_h"] = 12.0
    (bench_config / "rules.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    again = bench()  # the same database
    client = analyst(again)
    rules = {r["id"]: r for r in client.get("/v1/rules").json()["rules"]}
    assert rules["loitering"]["active_version"] == 2  # the analysts' edit survives a restart
    assert len(rules["loitering"]["history"]) == 2  # and nothing was imported twice
    drifting = rules["drifting"]
    assert drifting["active_version"] == shipped_drifting + 1 and drifting["deployed"]
    assert drifting["active"]["params"]["min_duration_h"] == 2.0
    assert drifting["active"]["origin"] == "config"
    gap = rules["ais_gap"]
    assert gap["active_version"] == shipped_gap and not gap["deployed"]
    assert gap["active"]["params"]["open_sea_h"] != 12.0


# -- optimistic concurrency -----------------------------------------------------------------------
def test_if_match_guards_against_lost_updates(bench: Any) -> None:
    server = bench()
    client = analyst(server)
    rule, _ = loitering(client)
    params = rule["active"]["params"]
    body = {"params": {**params, "min_duration_h": 3.0}, "comment": "a"}
    assert is_problem(put(client, body, None), 428)["type"].endswith("precondition-required")
    is_problem(put(client, body, 'W/"1"'), 412)  # weak tags never match If-Match
    is_problem(put(client, body, "nonsense"), 412)
    assert put(client, body, '"1"').status_code == 200
    # A second analyst saw version 1 and saves over it: refused, told the current version.
    stale = put(client, {"params": {**params, "min_duration_h": 5.0}, "comment": "b"}, '"1"')
    problem = is_problem(stale, 412)
    assert problem["current_version"] == 2 and stale.headers["etag"] == '"2"'
    assert put(client, {"params": params, "comment": "c"}, '"1", "2"').status_code == 200
    assert put(client, {"params": body["params"], "comment": "d"}, "*").status_code == 200
    assert loitering(client)[0]["active_version"] == 4

    # Two analysts racing from the same version: exactly one wins.
    clients = [analyst(server) for _ in range(4)]
    results: list[int] = []
    barrier = threading.Barrier(len(clients))

    def race(index: int, c: httpx.Client) -> None:
        barrier.wait()
        edit = {"params": {**params, "min_duration_h": 10.0 + index}, "comment": f"race {index}"}
        results.append(put(c, edit, '"4"').status_code)

    threads = [threading.Thread(target=race, args=(i, c)) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 412, 412, 412]
    versions = client.get("/v1/rules/loitering/versions").json()["versions"]
    assert [v["version"] for v in versions] == [5, 4, 3, 2, 1]


# -- backtest: the data it may read, the queue, the time limit ------------------------------------
def test_backtests_read_only_the_configured_data(
    bench: Any, recorded: Path, tmp_path: Path
) -> None:
    server = bench()
    client = analyst(server)
    files = client.get("/v1/backtest/data").json()["files"]
    assert {
        "name": SAMPLE,
        "size": (recorded / SAMPLE).stat().st_size,
        "folder": "configured",
    } in files
    assert "sample.nmea.gz" in [f["name"] for f in files]  # the bundled sample
    secret = tmp_path / "secret.nmea"
    secret.write_text("!AIVDM\n")
    link = recorded / "link.nmea"
    if not link.exists():
        link.symlink_to(secret)
    for name in (
        "../secret.nmea",
        str(secret),
        "/etc/passwd",
        "link.nmea",  # a link out of the folder
        "tcp://127.0.0.1:1",
        "-",
        ".hidden",
        "nothing.nmea",
        "mid.csv",  # beside the bundled sample, not a recording
    ):
        problem = is_problem(
            client.post("/v1/backtest", json={"data": name, "rules": {"loitering": LOOSER}}), 422
        )
        assert problem["errors"][0]["loc"] == ["body", "data"], name
    problem = is_problem(
        client.post(
            "/v1/backtest", json={"data": SAMPLE, "rules": {"loitering": {"max_speed_kn": -1}}}
        ),
        422,
    )
    assert problem["errors"][0]["loc"] == ["body", "rules", "loitering", "max_speed_kn"]
    problem = is_problem(client.post("/v1/backtest", json={"data": SAMPLE}), 422)
    assert "nothing to compare" in problem["detail"]
    is_problem(
        client.post("/v1/backtest", json={"data": SAMPLE, "versions": {"loitering": 7}}), 422
    )
    with server.context.store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM backtest_job")).scalar() == 0
    link.unlink()


def test_data_folders_refuse_names_that_leave_them(tmp_path: Path) -> None:
    inside = tmp_path / "data"
    (inside / "sub").mkdir(parents=True)
    (inside / "sub" / "a.nmea").write_text("x")
    (tmp_path / "outside.nmea").write_text("x")
    (inside / "escape").symlink_to(tmp_path)
    folders = DataFolders(inside)
    assert folders.resolve("sub/a.nmea").path == (inside / "sub" / "a.nmea").resolve()
    for name in ("escape/outside.nmea", "sub/../../outside.nmea", "/etc/passwd", "sub//a.nmea", ""):
        with pytest.raises(DataError):
            folders.resolve(name)
    assert [f.name for f in folders.list()] == ["sub/a.nmea", "sample.nmea.gz"]


def test_a_backtest_over_its_time_is_stopped(bench: Any) -> None:
    server = bench(backtest_timeout_s="0.3")
    client = analyst(server)
    response = client.post("/v1/backtest", json={"data": SAMPLE, "rules": {"loitering": LOOSER}})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/v1/backtest/{response.json()['id']}"
    job = finished(client, response.json()["id"])
    assert job["status"] == "timeout" and "0.3 s" in job["error"] and job["result"] is None


def test_one_backtest_at_a_time_a_bounded_queue_and_cancel(bench: Any) -> None:
    server = bench(backtest_queue="1")
    client = analyst(server)
    body = {"data": SAMPLE, "rules": {"loitering": LOOSER}}
    first = client.post("/v1/backtest", json=body).json()
    wait_for(lambda: client.get(f"/v1/backtest/{first['id']}").json()["status"] == "running")
    second = client.post("/v1/backtest", json=body)
    assert second.status_code == 202 and second.json()["status"] == "queued"
    assert second.json()["queue_position"] == 1
    busy = client.post("/v1/backtest", json=body)
    assert is_problem(busy, 503) and busy.headers["retry-after"]
    assert client.delete(f"/v1/backtest/{second.json()['id']}").json()["status"] == "cancelled"
    assert client.delete(f"/v1/backtest/{first['id']}").json()["status"] == "cancelled"
    assert finished(client, first["id"])["status"] == "cancelled"
    listed = client.get("/v1/backtest").json()["jobs"]
    assert [j["id"] for j in listed] == [second.json()["id"], first["id"]]
    assert client.get("/v1/backtest/0123456789abcdef").status_code == 404


def test_compare_pairs_kept_changed_gained_and_lost() -> None:
    def alert(alert_id: str, mmsi: int, start: str, end: str | None = None) -> dict[str, Any]:
        return {"id": alert_id, "type": "loitering", "mmsi": mmsi, "mmsis": [mmsi],
                "start": start, "end": end}  # fmt: skip

    a = [
        alert("k", 1, "2024-05-01T00:00:00Z", "2024-05-01T05:00:00Z"),
        alert("c-a", 2, "2024-05-01T01:00:00Z", "2024-05-01T03:00:00Z"),
        alert("l", 3, "2024-05-01T01:00:00Z", "2024-05-01T02:00:00Z"),
    ]
    b = [
        alert("k", 1, "2024-05-01T00:00:00Z", "2024-05-01T05:00:00Z"),
        alert("c-b", 2, "2024-05-01T02:00:00Z", None),  # started later, same episode
        alert("l2", 3, "2024-05-01T04:00:00Z", None),  # same vessel, another episode
        alert("g", 4, "2024-05-01T01:00:00Z", None),
    ]
    result = compare(a, b)
    assert [(x["id"], y["id"]) for x, y in result.kept] == [("k", "k")]
    assert [(x["id"], y["id"]) for x, y in result.changed] == [("c-a", "c-b")]
    assert [x["id"] for x in result.lost] == ["l"]
    assert [x["id"] for x in result.gained] == ["l2", "g"]


# -- the acceptance test --------------------------------------------------------------------------
def test_loosen_a_threshold_backtest_see_more_alerts_than_the_saved_version(
    bench: Any, bench_config: Path, recorded: Path, tmp_path: Path
) -> None:
    server = bench()
    client = analyst(server)
    # Officers' outcomes for two alerts the saved rules raise on this recording (ids are
    # deterministic): one rescue, one false alarm.
    saved_run = process([str(recorded / SAMPLE)], tmp_path / "saved", IngestSettings(),
                        config_dir=bench_config)  # fmt: skip
    assert saved_run["alerts_total"] >= 2
    lines = (tmp_path / "saved" / "alerts.jsonl").read_bytes().splitlines()
    raised = [Alert.from_dict(orjson.loads(line)) for line in lines[:2]]
    store = server.context.store
    store.put_alerts(raised)
    store.change(raised[0].id, CHANGE_CLOSED, OPERATOR, "test", outcome=Outcome.RESCUED)
    store.change(raised[1].id, CHANGE_CLOSED, OPERATOR, "test", outcome=Outcome.FALSE_ALARM)

    # 1. Loosen loitering in the editor and backtest the edit against the saved rules.
    rule, tag = loitering(client)
    started = time.monotonic()
    response = client.post("/v1/backtest", json={"data": SAMPLE, "rules": {"loitering": LOOSER}})
    assert response.status_code == 202, response.text
    assert response.json()["changes"][0]["params"]["min_duration_h"] == [4.0, 0.5]
    job = finished(client, response.json()["id"])
    assert job["status"] == "done", job["error"]
    result = job["result"]
    seconds = time.monotonic() - started
    saved, proposed = result["baseline"], result["proposed"]
    assert saved["rules"]["loitering"] == 1 and proposed["rules"]["loitering"] == 2
    assert proposed["alerts"] > saved["alerts"], (saved, proposed)
    assert saved["by_type"].get("loitering", 0) == 0 < proposed["by_type"]["loitering"]
    assert result["gained_total"] == proposed["alerts"] - saved["alerts"] > 0
    assert result["lost_total"] == 0 and result["kept"] == saved["alerts"]
    gained = result["gained"]
    assert {a["type"] for a in gained} == {"loitering"}
    for alert in gained:
        assert alert["id"].startswith("loitering-") and alert["mmsi"] and alert["reasons"]
        assert alert["rule"] == {"id": "loitering", "version": 2}
        assert "Loitering" in alert["reasons"][0]
    assert result["by_type"]["loitering"]["gained"] == len(gained)
    # Precision from the officers' outcomes: one rescue, one false alarm, in both versions.
    for side in (saved, proposed):
        assert side["precision"]["reviewed"] == 2
        assert side["precision"]["confirmed"] == 1 and side["precision"]["false_alarms"] == 1
        assert side["precision"]["precision"] == 0.5
    assert saved["precision"]["unreviewed"] == saved["alerts"] - 2
    assert saved["not_running"] == proposed["not_running"] == []  # every detector worked

    # 2. Save it (version 2, attributed) and backtest what is saved against what is deployed.
    params = {**rule["active"]["params"], **LOOSER}
    assert put(client, {"params": params, "comment": "looser"}, tag).status_code == 200
    response = client.post("/v1/backtest", json={"data": SAMPLE, "baseline": "deployed"})
    assert response.status_code == 202, response.text
    job = finished(client, response.json()["id"])
    assert job["status"] == "done", job["error"]
    again = job["result"]
    assert again["baseline"]["label"] == "deployed"
    assert again["changes"][0]["saved"] is True
    assert again["proposed"]["alerts"] > again["baseline"]["alerts"]
    assert {a["id"] for a in again["gained"]} == {a["id"] for a in gained}
    print(f"backtest: {saved['alerts']} -> {proposed['alerts']} alerts in {seconds:.1f} s")


# -- the page and the schema -------------------------------------------------------------------
def test_the_page_and_everything_it_loads_is_served_from_here(bench: Any) -> None:
    server = bench()
    client = server.client()
    page = client.get("/workbench")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    references = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert "/static/js/workbench.js" in references and "/static/workbench.css" in references
    for reference in references:
        assert client.get(reference).status_code == 200, reference
    assert "http://" not in page.text and "https://" not in page.text
    # The map links to it.
    assert 'href="/workbench"' in client.get("/").text


def test_the_migration_matches_the_tables_and_downgrades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'schema.db'}"
    migrate(url)
    engine = make_engine(url)
    mine = sa.MetaData()
    for table in (*rules_metadata.tables.values(), *jobs_metadata.tables.values()):
        table.to_metadata(mine)
    names = set(mine.tables)

    def state() -> tuple[set[str], list[Any]]:
        with engine.connect() as conn:
            tables = set(sa.inspect(conn).get_table_names())
            context = MigrationContext.configure(
                conn,
                opts={"include_name": lambda n, kind, _p: kind != "table" or n in names},
            )
            return tables, compare_metadata(context, mine)

    try:
        tables, diff = state()
        assert tables >= names and diff == [], diff
        command.downgrade(alembic_config(url), "api_0002")
        tables, _ = state()
        assert not names & tables and "alert_visibility" in tables
        migrate(url)
        tables, diff = state()
        assert tables >= names and diff == []
    finally:
        engine.dispose()
