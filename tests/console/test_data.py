"""What the console derives from the records: a message's status, the health numbers."""

from __future__ import annotations

import pytest

from console.data import status_of
from tests.console.conftest import store_message

RECEIVED = [{"event": "received"}, {"event": "stored"}, {"event": "queued"}]
FAILED = {"event": "handler", "result": "failed", "error": "RuntimeError: x"}


@pytest.mark.parametrize(
    ("events", "job_status", "expected"),
    [
        (RECEIVED, "queued", "queued"),
        (RECEIVED, "started", "running"),
        ([*RECEIVED, {"event": "parsed"}], None, "running"),
        ([*RECEIVED, FAILED], "scheduled", "retrying"),
        ([*RECEIVED, FAILED], "started", "running"),
        ([*RECEIVED, FAILED, {"event": "dead", "reason": "x"}], "failed", "dead"),
        ([*RECEIVED, FAILED, {"event": "dead"}, {"event": "requeued"}], "queued", "queued"),
        ([*RECEIVED, {"event": "done", "duplicate_of": None}], "finished", "done"),
        ([*RECEIVED, {"event": "done", "duplicate_of": "ID"}], "finished", "done"),
        (
            [*RECEIVED, {"event": "duplicate"}, {"event": "done", "duplicate_of": "OTHER"}],
            "finished",
            "duplicate",
        ),  # fmt: skip
    ],
)
def test_status_follows_the_timeline_and_the_job(events, job_status, expected) -> None:
    assert status_of("ID", events, job_status) == expected


def test_health_shows_the_queue_and_the_routes_in_order(fake, console) -> None:
    client = console(handlers="tests.e2e.handlers_record:router")
    for _ in range(3):
        store_message(fake, client.settings, b"Subject: s\r\n\r\nx\r\n")
    html = client.get("/health").text
    assert '<dd id="queued">3</dd>' in html
    assert "tests.e2e.handlers_record.record" in html


def test_health_says_why_it_cannot_show_the_routes(console) -> None:
    html = console(handlers="no.such.module:router").get("/health").text
    assert "cannot import module" in html


def test_health_lists_the_listener_processes_and_their_last_hour(fake, console) -> None:
    from mailbus.heartbeat import record_listener

    client = console()
    identity = {"host": "mx-1", "pid": 4242, "started": 1_800_000_000.0}
    totals = {"accepted": 7, "rejected": 2, "failed": 1}
    record_listener(fake, identity, sessions=3, totals=totals, deltas=totals)
    record_listener(fake, identity, sessions=3, totals=totals, deltas={"accepted": 0})
    html = client.get("/health").text
    assert '<dd id="rejected">2</dd>' in html
    assert (
        "<td>mx-1</td><td>4242</td>" in html and "<td>3</td><td>7</td><td>2</td><td>1</td>" in html
    )
