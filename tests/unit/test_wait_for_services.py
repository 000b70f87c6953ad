"""Waiting at start for a database or broker that is not there yet (`lookout.runtime`,
`lookout.db.wait_for_database`); the services' waits end to end: test_broker_later."""

from __future__ import annotations

import threading

import pytest

from lookout.db import wait_for_database
from lookout.runtime import tcp_unreachable, wait_until_ready
from tests.conftest import free_port


def test_a_wait_logs_why_then_how_long_it_took(caplog: pytest.LogCaptureFixture) -> None:
    answers = iter(["refused", "refused", None])
    ready = wait_until_ready("the thing", lambda: next(answers), threading.Event(), every_s=0.01)

    assert ready
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == ["waiting for the thing: refused", "the thing reachable after 0 s"]


def test_a_wait_that_never_ends_says_so_every_log_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()
    threading.Timer(0.35, stop.set).start()

    ready = wait_until_ready("the thing", lambda: "refused", stop, every_s=0.01, log_every_s=0.1)

    assert not ready
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "waiting for the thing: refused"
    assert len(messages) >= 3  # at 0.1 s and 0.2 s at least
    assert all(m.startswith("still waiting for the thing after") for m in messages[1:])


def test_sqlite_needs_no_wait() -> None:
    assert wait_for_database("sqlite:////nonexistent/dir/lookout.db", threading.Event())


def test_a_database_wait_ends_with_the_stop_and_hides_the_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = free_port()  # nothing listens there
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()

    assert not wait_for_database(f"postgresql://lookout:s3cret@127.0.0.1:{port}/lookout", stop)
    assert f"waiting for the database at postgresql+psycopg://lookout:***@127.0.0.1:{port}" in (
        caplog.text
    )
    assert "s3cret" not in caplog.text


def test_tcp_unreachable_names_every_server_it_tried() -> None:
    ports = [free_port(), free_port()]
    problem = tcp_unreachable([("127.0.0.1", port) for port in ports])

    assert problem is not None
    assert all(f"127.0.0.1:{port}:" in problem for port in ports)
