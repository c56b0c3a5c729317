"""smtplib → `mailbus listen` → `mailbus worker --burst`: mail to the `xn--` form of a domain
reaches the route written with its Unicode form, and `async def` handlers run to completion,
two jobs in a row on the worker's one event loop. Real processes, Redis and sockets."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.e2e.harness import Listener, handled, mailbus, mailbus_env, multipart_message, queued_id
from tests.e2e.harness import send as smtp_send

pytestmark = pytest.mark.e2e


def test_mail_to_the_a_label_reaches_the_unicode_route_and_async_handlers_finish(
    tmp_path: Path, redis_server, real_redis: redis.Redis
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, f"file://{tmp_path / 'store'}",
                      MAILBUS_DOMAINS="bücher.example",
                      MAILBUS_HANDLERS="tests.e2e.handlers_async:router")  # fmt: skip
    to = ("info@xn--bcher-kva.example",)
    with Listener(env) as listener:
        replies = [smtp_send(listener.port, multipart_message(f"order {n}"), to=to) for n in (1, 2)]
    assert [code for code, _ in replies] == [250, 250], replies
    ids = [queued_id(reply) for _, reply in replies]

    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    records = handled(env)
    assert sorted((r["handler"], r["id"]) for r in records) == sorted(
        (handler, message_id) for handler in ("info", "audit") for message_id in ids
    )
    assert all(r["rcpt_tos"] == list(to) for r in records)
    ran_on = {(r["pid"], r["loop"]) for r in records if r["handler"] == "info"}
    assert len(ran_on) == 1, "both async calls ran in one worker process on one event loop"
