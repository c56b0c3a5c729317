"""The same bytes through a real listener and worker, and through `mailbus.testing.deliver`:
the handler must get the same parsed message either way (issue 9, defect 3), and repairs the
parser made leave their defects on both paths (defect 7)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import redis

from mailbus import Router
from mailbus.testing import deliver
from tests.e2e.harness import Listener, handled, mailbus, mailbus_env, send

pytestmark = pytest.mark.e2e

BOM = b"\xef\xbb\xbf"
MBOX = b"From ada@example.org Mon Jan  1 00:00:00 2024\r\n"
LEADS = {"none": b"", "bom": BOM, "mbox": MBOX, "bom+mbox": BOM + MBOX}
EXPECTED = {
    "none": set(),
    "bom": {"byte_order_mark"},
    "mbox": {"garbage_before_headers"},
    "bom+mbox": {"byte_order_mark", "garbage_before_headers"},
    "bare-lf": {"bare_lf_line_endings"},
    "nul": {"nul_removed"},
}
SAME = ("subject", "from_", "to", "cc", "date", "message_id", "text", "html", "defects")
router = Router()


@router.route(to="*@example.com")
def take(msg: object) -> None:
    pass


def message(name: str, body: bytes = b"It is still burning.\r\n") -> bytes:
    return (
        b"From: Ada Lovelace <ada@example.org>\r\n"
        b"To: support@example.com\r\n"
        b"Subject: Printer on fire (" + name.encode() + b")\r\n"
        b"Date: Mon, 1 Jan 2024 10:00:00 +0000\r\n"
        b"Message-ID: <fire-" + name.encode() + b"@example.org>\r\n"
        b"\r\n" + body
    )


def test_worker_and_deliver_parse_the_same_bytes_alike(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    env = mailbus_env(tmp_path, redis_server.url, "redis",
                      MAILBUS_HANDLERS="tests.parse.handlers_dump:router")  # fmt: skip
    sent = {name: lead + message(name) for name, lead in LEADS.items()}
    sent["bare-lf"] = message("bare-lf", b"line one\nline two\r\n")
    sent["nul"] = message("nul", b"It is \x00still burning.\r\n")
    with Listener(env) as listener:
        for raw in sent.values():
            code, reply = send(listener.port, raw)
            assert code == 250, reply
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    by_subject = {record["subject"]: record for record in handled(env)}
    assert sorted(by_subject) == sorted(f"Printer on fire ({name})" for name in sent)

    for name, raw in sent.items():
        real = by_subject[f"Printer on fire ({name})"]
        assert {d["kind"] for d in real["defects"]} == EXPECTED[name], name
        helper = deliver(router, raw, to="support@example.com", mail_from="ada@example.org")
        mine = json.loads(json.dumps(helper.message.to_dict()))
        assert {k: mine[k] for k in SAME} == {k: real[k] for k in SAME}, name
        assert [h["name"] for h in mine["headers"]] == [h["name"] for h in real["headers"]]
        assert [h for h in mine["headers"] if h["name"] != "Received"] == [
            h for h in real["headers"] if h["name"] != "Received"
        ]


CSV = b"id;name\r\n1;caf\xc3\xa9\r\n2;tea\r\n"


def test_attachment_bytes_survive_listener_and_worker(
    tmp_path: Path, real_redis: redis.Redis, redis_server
) -> None:
    """Issue 12 defect 1 on the real path: a 7bit CRLF attachment keeps its size and sha256."""
    env = mailbus_env(tmp_path, redis_server.url, "redis",
                      MAILBUS_HANDLERS="tests.parse.handlers_dump:router")  # fmt: skip
    raw = message(
        "csv",
        b"--b\r\nContent-Type: text/plain\r\n\r\nsee the file\r\n--b\r\n"
        b"Content-Type: text/csv; name=data.csv\r\nContent-Transfer-Encoding: 8bit\r\n"
        b"Content-Disposition: attachment; filename=data.csv\r\n\r\n" + CSV + b"\r\n--b--\r\n",
    ).replace(b"\r\n\r\n--b", b'\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n--b', 1)
    with Listener(env) as listener:
        code, reply = send(listener.port, raw)
        assert code == 250, reply
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr
    [record] = handled(env)
    assert record["text"] == "see the file"
    [att] = record["attachments"]
    assert (att["filename"], att["size"]) == ("data.csv", len(CSV))
    assert att["sha256"] == hashlib.sha256(CSV).hexdigest()
