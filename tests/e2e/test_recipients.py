"""Issue 9 defect 1 end to end: a 250-recipient submission reaches the handler for all 250.

smtplib's `sendmail` stands in for the sending MTA: it delivers to the recipients the server
accepted and returns the refused ones, which the test sends again in a further transaction on the
same connection, as an MTA does with `452 4.5.3` (RFC 5321 §4.5.3.1.10).
"""

from __future__ import annotations

import smtplib
from pathlib import Path

import pytest
import redis

from tests.e2e.harness import Listener, handled, mailbus, mailbus_env, multipart_message

pytestmark = pytest.mark.e2e


def test_250_recipients_all_reach_the_handler(
    tmp_path: Path, redis_server, real_redis: redis.Redis
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, f"file://{tmp_path / 'store'}")
    rcpts = [f"user{n}@example.com" for n in range(250)]
    raw = multipart_message("250 recipients")
    transactions = []
    with Listener(env) as listener, smtplib.SMTP("127.0.0.1", listener.port, timeout=30) as smtp:
        pending = rcpts
        while pending:
            refused = smtp.sendmail("ada@example.org", pending, raw)
            assert set(refused.values()) <= {(452, b"4.5.3 Error: too many recipients")}
            transactions.append(len(pending) - len(refused))
            pending = [rcpt for rcpt in pending if rcpt in refused]
    assert transactions == [100, 100, 50]
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    records = handled(env)
    assert len(records) == 3
    assert sorted(rcpt for record in records for rcpt in record["rcpt_tos"]) == sorted(rcpts)
