"""`mailbus failed`, `mailbus show` and `mailbus reconcile`: looking after messages by id."""

from __future__ import annotations

import datetime
import sys
from typing import Any

from mailbus.connections import redis_connection
from mailbus.queue import message_queue
from mailbus.settings import Settings
from mailbus.status import timeline
from mailbus.stores import open_store
from mailbus.stores.base import raw_key


def failed(settings: Settings, action: str, message_id: str | None, *, requeue_all: bool) -> int:
    from mailbus import deadletters as admin

    connection = redis_connection(settings.redis_url)
    if action == "list":
        letters = admin.list_failed(connection, settings)
        store = open_store(settings.store, connection, raw_ttl=settings.raw_ttl)
        gone = 0
        for letter in letters:
            note = "" if store.exists(raw_key(letter.id)) else "  [raw gone: expired or erased]"
            gone += bool(note)
            print(f"{letter.id}  {_when(letter.failed_at)}  {letter.reason}{note}")
        print(f"{len(letters)} dead letter(s)" + (f", {gone} whose raw bytes are gone: a requeue "
              "cannot deliver them" if gone else ""))  # fmt: skip
        return 0
    if requeue_all:
        print(f"requeued {admin.requeue_all(connection, settings)} message(s)")
        return 0
    if not message_id:
        print("mailbus failed requeue: give a message id or --all", file=sys.stderr)
        return 2
    if not admin.requeue(connection, settings, message_id):
        print(f"mailbus failed requeue: {message_id} is not a dead letter", file=sys.stderr)
        return 1
    print(f"requeued {message_id}")
    return 0


def show(settings: Settings, message_id: str) -> int:
    connection = redis_connection(settings.redis_url)
    events = timeline(connection, message_id)
    job = message_queue(connection, settings).fetch_job(message_id)
    if not events and job is None:
        print(f"mailbus show: no message {message_id} (unknown id, or its records expired)",
              file=sys.stderr)  # fmt: skip
        return 1
    print(f"message {message_id}" + (f"  job: {job.get_status().value}" if job else ""))
    for event in events:
        print(f"  {_when(event.pop('at'))}  {event.pop('event'):<10} {_details(event)}")
    return 0


def reconcile_now(settings: Settings, *, grace: float) -> int:
    from mailbus.reconcile import reconcile

    connection = redis_connection(settings.redis_url)
    store = open_store(settings.store, connection, raw_ttl=settings.raw_ttl)
    count = reconcile(connection, store, settings, grace=grace)
    print(f"reconcile: enqueued {count} stored message(s) that had no job")
    return 0


def _when(timestamp: Any) -> str:
    if not timestamp:
        return "-"
    if isinstance(timestamp, datetime.datetime):
        return timestamp.strftime("%Y-%m-%d %H:%M:%S")
    moment = datetime.datetime.fromtimestamp(float(timestamp), tz=datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _details(event: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in event.items())
