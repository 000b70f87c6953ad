"""Property-based tests of the API against its own OpenAPI schema (schemathesis): whatever the
request, no server error, and every error is an RFC 9457 problem (application/problem+json).

Requests go to a live server on loopback, as an authenticated admin of the operator (so every
route is reachable), for every operation except the endless event stream (tested elsewhere).
Bounded: a few examples per operation.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, given
from schemathesis.checks import not_a_server_error

from api.sharing import Role
from tests.api_fixtures import (  # noqa: F401  (fixtures)
    BASE_MS,
    OPERATOR,
    MemoryVessels,
    api_config_dir,
    make_alert,
    make_api,
    make_point,
)

EXAMPLES_PER_OPERATION = 25


def problem_json(ctx: Any, response: Any, case: Any) -> bool | None:
    if response.status_code >= 400:
        content_type = response.headers.get("content-type", [""])
        value = content_type[0] if isinstance(content_type, list) else content_type
        assert value.startswith("application/problem+json"), (
            f"{response.status_code} answered with {value!r}"
        )
        body = response.json()
        assert body["status"] == response.status_code
        assert isinstance(body["type"], str) and isinstance(body["title"], str)
    return None


def test_api_against_its_openapi_schema(make_api: Any) -> None:  # noqa: F811
    points = [make_point(200_000_000, BASE_MS, 12.0, 97.0)]
    server = make_api(vessels=MemoryVessels(points))
    server.context.store.put_alerts([make_alert(n, lat=12.0, lon=97.0) for n in range(5)])
    key = server.key(OPERATOR, [Role.PARTNER, Role.OFFICER, Role.ANALYST, Role.ADMIN])
    schema = schemathesis.openapi.from_dict(server.app.openapi())
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {key}"
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    tested = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.endswith("/stream"):
            continue
        tested += 1

        @given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def check(case: Any) -> None:
            response = case.call(base_url=server.url, session=session, timeout=10)
            statuses[response.status_code] += 1
            case.validate_response(response, checks=[not_a_server_error, problem_json])

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then fail once
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert tested >= 15
    assert sum(statuses.values()) >= tested * 5, statuses
    assert statuses[200] and statuses[404] and statuses[422], statuses
    print(f"{tested} operations, responses by status: {dict(sorted(statuses.items()))}")
