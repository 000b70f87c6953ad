"""API polling benchmark: 100 agencies polling over 100,000 stored alerts on PostgreSQL.

    .venv/bin/python benchmarks/bench_api.py [--alerts 100000] [--agencies 100] [--seconds 10]

Creates its own database on the local server (LOOKOUT_BENCH_PG_ADMIN_URL, default
postgresql://postgres@127.0.0.1:5432/postgres) and drops it at the end. The API runs under
uvicorn in a subprocess pinned to core 0 (`taskset -c 0`); this process drives it from core 1
over loopback with a small asyncio HTTP/1.1 client (keep-alive, one connection per agency).

Phases, each bounded in time:
- steady: every agency polls from the head 10 times a second (open loop, staggered, 1,000
  polls/s offered) while new alerts are stored at 20 a second; latency is measured from each
  poll's scheduled time, so a slow server cannot hide queueing.
- saturation: every agency polls back to back (closed loop): the most polls/s one core gives.
- catch-up: every agency pages from the beginning, 100 alerts a page (closed loop).
Prints polls/s, p50/p99 latency and the API's CPU time per poll for each phase, and writes
benchmarks/results/api.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from psycopg import sql  # noqa: E402

from anomaly.records import AlertType, Tlp  # noqa: E402
from api import cursor  # noqa: E402
from api.context import ApiContext  # noqa: E402
from api.settings import ApiSettings  # noqa: E402
from tests.api_fixtures import make_alert  # noqa: E402

PG_ADMIN = os.environ.get(
    "LOOKOUT_BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
PEPPER = "bench-pepper-" + "k" * 40
TYPES = list(AlertType)


def make_config(folder: Path, agencies: int, rng: random.Random) -> None:
    """An operator and `agencies - 1` partners with boxes around the Bay of Bengal."""
    entries: list[dict[str, Any]] = [
        {
            "id": "lookout-ops",
            "name": "Operator",
            "country": "XX",
            "roles": ["partner", "officer", "analyst", "admin"],
            "areas": "any",
            "alert_types": "all",
            "max_tlp": "AMBER",
        },
    ]
    for index in range(1, agencies):
        west, south = rng.uniform(80, 100), rng.uniform(-5, 15)
        box = [
            [west, south],
            [west + 8, south],
            [west + 8, south + 8],
            [west, south + 8],
            [west, south],
        ]
        entries.append(
            {
                "id": f"agency-{index:03d}",
                "name": f"Agency {index}",
                "country": "XX",
                "roles": ["partner"],
                "areas": [{"type": "Polygon", "coordinates": [box]}],
                "alert_types": sorted(rng.sample([t.value for t in TYPES], 8)),
                "max_tlp": rng.choice(["GREEN", "AMBER"]),
                "sar": index % 10 == 0,
            }
        )
    (folder / "agencies.yaml").write_text(yaml.safe_dump({"agencies": entries}))
    (folder / "zones").mkdir()


def random_alert(n: int, rng: random.Random) -> Any:
    return make_alert(
        n,
        type=rng.choice(TYPES),
        tlp=rng.choices(list(Tlp), weights=[3, 5, 3, 1, 1])[0],
        lat=rng.uniform(-5, 23),
        lon=rng.uniform(80, 108),
    )


def seed(settings: ApiSettings, count: int, agencies: int) -> dict[str, str]:
    context = ApiContext.open(settings)
    rng = random.Random(7)
    batch = 5000
    for start in range(0, count, batch):
        context.store.put_alerts([random_alert(n, rng) for n in range(start, start + batch)])
    keys = {}
    for agency in context.registry.all():
        _, key = context.store.create_key(agency.id, sorted(agency.roles), PEPPER.encode())
        keys[agency.id] = key
    context.store.close()
    return keys


# -- a small HTTP/1.1 client -------------------------------------------------------------------


class Connection:
    def __init__(self, port: int, key: str) -> None:
        self.port = port
        self.key = key
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> tuple[int, bytes, dict[str, str]]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        request = (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {self.key}"
            "\r\nAccept: application/json\r\n\r\n"
        )
        self.writer.write(request.encode())
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        return status, body, headers


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def run_phase(
    port: int,
    keys: dict[str, str],
    start: dict[str, int],
    seconds: float,
    *,
    rate_per_agency: float | None,
    limit: int,
) -> dict[str, Any]:
    latencies: list[float] = []
    counts = {"polls": 0, "alerts": 0, "errors": 0}
    deadline = time.perf_counter() + seconds

    async def agency_loop(agency: str, offset: float) -> None:
        connection = Connection(port, keys[agency])
        after = cursor.encode(start[agency])
        interval = 1.0 / rate_per_agency if rate_per_agency else 0.0
        scheduled = time.perf_counter() + offset
        while True:
            if rate_per_agency:
                now = time.perf_counter()
                if scheduled > now:
                    await asyncio.sleep(scheduled - now)
            begun = scheduled if rate_per_agency else time.perf_counter()
            if begun > deadline:
                return
            status, body, _ = await connection.get(f"/v1/alerts?after={after}&limit={limit}")
            latencies.append(time.perf_counter() - begun)
            counts["polls"] += 1
            if status != 200:
                counts["errors"] += 1
                continue
            page = json.loads(body)
            counts["alerts"] += page["count"]
            after = page["next"]
            scheduled += interval

    began = time.perf_counter()
    tasks = [
        agency_loop(a, i * (1.0 / (rate_per_agency or 1e9)) / len(keys)) for i, a in enumerate(keys)
    ]
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - began
    return {
        "seconds": round(elapsed, 2),
        "polls": counts["polls"],
        "polls_per_s": round(counts["polls"] / elapsed, 1),
        "alerts_per_s": round(counts["alerts"] / elapsed, 1),
        "errors": counts["errors"],
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
    }


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process (all its threads) so far; None off Linux."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measured(pid: int, phase: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """Run a phase; add the API's CPU time per poll and this load generator's CPU use. On a
    machine shared with other work, polls/s and latency move with the neighbours; the API's
    CPU per poll much less."""
    server = cpu_seconds(pid)
    driver = os.times()
    result = asyncio.run(phase)
    used = cpu_seconds(pid)
    after = os.times()
    if server is not None and used is not None and result["polls"]:
        result["api_cpu_ms_per_poll"] = round((used - server) * 1000 / result["polls"], 3)
    busy = (after.user - driver.user) + (after.system - driver.system)
    result["load_generator_cpu_pct"] = round(busy / result["seconds"] * 100, 1)
    return result


def write(per_second: float, first: int) -> None:
    """New alerts at a steady rate until terminated (its own process: no GIL shared with the
    load generator)."""
    context = ApiContext.open(ApiSettings.from_env(), migrate_db=False)
    rng = random.Random(11)
    n = first
    while True:
        context.store.put_alerts([random_alert(n, rng)])
        n += 1
        time.sleep(1.0 / per_second)


def serve(port: int) -> None:
    import uvicorn

    from api.main import create_app

    settings = ApiSettings.from_env()
    uvicorn.run(
        create_app(settings),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--agencies", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--write", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.write:
        write(args.write, 10_000_000)
        return

    name = f"lookout_bench_{uuid.uuid4().hex[:10]}"
    admin = psycopg.connect(PG_ADMIN, autocommit=True)
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = admin.info
    url = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
    folder = Path(tempfile.mkdtemp(prefix="lookout-bench-"))
    process: subprocess.Popen[bytes] | None = None
    try:
        make_config(folder, args.agencies, random.Random(3))
        settings = ApiSettings(
            db_url=url,
            config_dir=folder,
            api_key_pepper=PEPPER,
            environment="production",
            rate_limit_per_s=1000.0,
            rate_limit_burst=1000,
            webhooks_enabled=False,
        )
        began = time.perf_counter()
        keys = seed(settings, args.alerts, args.agencies)
        print(
            f"seeded {args.alerts} alerts, {len(keys)} agencies in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )

        port = 18000 + random.randint(0, 999)
        env = {
            **os.environ,
            "LOOKOUT_API_DB_URL": url,
            "LOOKOUT_API_KEY_PEPPER": PEPPER,
            "LOOKOUT_ENV": "production",
            "LOOKOUT_API_CONFIG_DIR": str(folder),
            "LOOKOUT_API_RATE_LIMIT_PER_S": "1000",
            "LOOKOUT_API_RATE_LIMIT_BURST": "1000",
            "LOOKOUT_API_WEBHOOKS_ENABLED": "false",
        }
        command = [sys.executable, __file__, "--serve", str(port)]
        if shutil.which("taskset"):
            command = ["taskset", "-c", "0", *command]
            os.sched_setaffinity(0, {1})
        process = subprocess.Popen(command, env=env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while True:
            try:
                import urllib.request

                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("the API did not start") from None
                time.sleep(0.2)

        results: dict[str, Any] = {
            "alerts": args.alerts,
            "agencies": len(keys),
            "cpu": os.cpu_count(),
        }
        context = ApiContext.open(settings, migrate_db=False)
        head = context.store.head()
        context.store.close()
        at_head = dict.fromkeys(keys, head)
        asyncio.run(run_phase(port, keys, at_head, 2.0, rate_per_agency=None, limit=100))  # warm

        writer = subprocess.Popen([sys.executable, __file__, "--write", "20"], env=env, cwd=ROOT)
        steady = run_phase(port, keys, at_head, args.seconds, rate_per_agency=10.0, limit=100)
        results["steady"] = measured(process.pid, steady)
        print("steady (1,000 polls/s offered, 20 new alerts/s):", results["steady"], flush=True)
        closed = run_phase(port, keys, at_head, args.seconds, rate_per_agency=None, limit=100)
        results["saturation"] = measured(process.pid, closed)
        print("saturation (closed loop):", results["saturation"], flush=True)
        writer.terminate()
        writer.wait(10)
        results["catch_up"] = measured(
            process.pid,
            run_phase(
                port, keys, dict.fromkeys(keys, 0), args.seconds, rate_per_agency=None, limit=100
            ),
        )
        print("catch-up from the start, 100 a page (closed loop):", results["catch_up"])
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "api.json").write_text(json.dumps(results, indent=2) + "\n")
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.close()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
