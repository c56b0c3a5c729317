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
