"""The batch worker leaves Redis exactly as RQ's own SimpleWorker would (mailbus/rqseam).

The same four jobs (a success, a failure that succeeds on its retry, a failure that ends in the
dead-letter registry, a timeout) run once through `rq.SimpleWorker` and once through the
mailbus worker, each on a fresh database, and everything RQ keeps (job hashes field by field,
registries, the queue, the worker's hash and statistics, the result streams, TTLs) is compared.
Only what must differ between two runs is masked: timestamps, durations, execution ids, and
tracebacks beyond their last line (the frames name the worker's own code). A difference fails
with the key and field named. With `RQ_VERSION=… make test` this says what a new RQ changed.
"""

from __future__ import annotations

import base64
import re
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from rq.serializers import JSONSerializer
from rq.worker import SimpleWorker

from mailbus import Router
from mailbus.ids import new_message_id
from mailbus.queue import message_queue
from tests.workers.conftest import EML, make_settings, put_message
from workers import batch, context
from workers.worker import MAINTENANCE_INTERVAL, WORKER_TTL, make_worker

pytestmark = pytest.mark.integration

NAME = "mailbus.conformance"  # both workers register under one name, so their keys match
router = Router()
attempts: dict[str, int] = {}


@router.route(to="ok@example.com")
def ok(msg: Any) -> None:
    attempts[msg.id] = attempts.get(msg.id, 0) + 1


@router.route(to="flaky@example.com")
def flaky(msg: Any) -> None:
    attempts[msg.id] = attempts.get(msg.id, 0) + 1
    if attempts[msg.id] == 1:
        raise RuntimeError("flaky fails its first attempt")


@router.route(to="broken@example.com")
def broken(msg: Any) -> None:
    raise RuntimeError("broken always fails")


@router.route(to="slow@example.com")
def slow(msg: Any) -> None:
    time.sleep(10)  # the job's 1 s time limit stops it


STAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z?$")
EXECUTION = re.compile(r"(rq:execution[s]?:[0-9a-z]{26}):[0-9a-f-]{8,}")
RECEIVED = re.compile(r'"received_at": ?[0-9.e+-]+')
DURATIONS = {"total_working_time", "current_job_working_time"}


def masked(field: str, value: bytes) -> str:
    """`value` as compared: what two runs cannot share is replaced by what it stands for."""
    if field == "data":  # the job's function and arguments, zlib-compressed JSON
        return RECEIVED.sub('"received_at": <time>', zlib.decompress(value).decode())
    text = value.decode()
    if STAMP.match(text) or (field.endswith("_at") and text):
        return "<time>"
    if field in DURATIONS:
        return "<zero>" if float(text or 0) == 0 else "<seconds>"
    if field == "exc_string" and text:  # a traceback, compressed: its frames name the worker
        lines = zlib.decompress(base64.b64decode(text)).decode().strip().splitlines()
        return lines[-1]
    if field == "execution_id" and text:
        return "<execution>"
    if field == "ip_address":  # the client's port differs
        return text.rpartition(":")[0]
    return text


def snapshot(connection: redis.Redis) -> dict[str, Any]:
    """Every RQ key: its type, whether it expires, and its contents with the masks applied."""
    state: dict[str, Any] = {}
    for raw in connection.scan_iter("rq:*"):
        key = EXECUTION.sub(r"\1:<execution>", raw.decode())
        kind = connection.type(raw).decode()
        value: Any
        if kind == "hash":
            value = {f.decode(): masked(f.decode(), v) for f, v in connection.hgetall(raw).items()}
        elif kind in ("zset", "set"):
            members = connection.zrange(raw, 0, -1) if kind == "zset" else connection.smembers(raw)
            value = sorted(EXECUTION.sub(r"\1:<execution>", m.decode()) for m in members)
        elif kind == "list":
            value = [m.decode() for m in connection.lrange(raw, 0, -1)]
        elif kind == "stream":
            value = [
                {f.decode(): masked(f.decode(), v) for f, v in fields.items()}
                for _, fields in connection.xrange(raw)
            ]
        else:
            value = masked("", connection.get(raw) or b"")
        ttl = connection.ttl(raw)
        state[key] = {"type": kind, "ttl": ttl if ttl < 0 else round(ttl, -2), "value": value}
    return state


def differences(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    found = []
    for key in sorted(expected.keys() | actual.keys()):
        if key not in actual or key not in expected:
            found.append(f"{key}: only after {'RQ' if key in expected else 'the batch worker'}")
            continue
        a, b = expected[key], actual[key]
        for part in ("type", "ttl"):
            if a[part] != b[part]:
                found.append(f"{key} {part}: RQ {a[part]!r}, batch worker {b[part]!r}")
        if isinstance(a["value"], dict) and isinstance(b["value"], dict):
            for field in sorted(a["value"].keys() | b["value"].keys()):
                x, y = a["value"].get(field, "(missing)"), b["value"].get(field, "(missing)")
                if x != y:
                    found.append(f"{key} field {field!r}: RQ {x!r}, batch worker {y!r}")
        elif (
            isinstance(a["value"], list) and isinstance(b["value"], list) and a["type"] == "stream"
        ):
            if len(a["value"]) != len(b["value"]):
                found.append(f"{key}: RQ {len(a['value'])} entries, batch {len(b['value'])}")
            for n, (x, y) in enumerate(zip(a["value"], b["value"], strict=False)):
                for field in sorted(x.keys() | y.keys()):
                    if x.get(field) != y.get(field):
                        found.append(f"{key} entry {n} field {field!r}: RQ {x.get(field)!r}, "
                                     f"batch worker {y.get(field)!r}")  # fmt: skip
        elif a["value"] != b["value"]:
            found.append(f"{key} value: RQ {a['value']!r}, batch worker {b['value']!r}")
    return found


@pytest.fixture
def messages() -> dict[str, tuple[str, bytes]]:
    """One message (id, body) per kind of job, the same in both runs so that their keys match."""
    return {
        kind: (new_message_id(), EML.replace(b"<m1@", f"<{uuid.uuid4().hex}@".encode()))
        for kind in ("ok", "flaky", "broken", "slow")
    }


@pytest.fixture
def run(
    real_redis: redis.Redis, messages: dict[str, tuple[str, bytes]]
) -> Iterator[Callable[..., Any]]:
    settings = make_settings(retries=1, retry_backoff=(0,), job_timeout=1)

    def run_with(worker_for: Callable[[context.Context], SimpleWorker]) -> dict[str, Any]:
        real_redis.flushdb()
        attempts.clear()
        ctx = context.build(settings, router, connection=real_redis)
        context.install(ctx)
        for kind, (message_id, body) in messages.items():
            put_message(ctx.store, real_redis, settings, to=(f"{kind}@example.com",),
                        body=body, message_id=message_id)  # fmt: skip
        worker = worker_for(ctx)
        worker.log_result_lifespan = False
        assert worker.work(burst=True, logging_level="WARNING")
        return snapshot(real_redis)

    yield run_with
    context.install(None)


def rq_simple_worker(ctx: context.Context) -> SimpleWorker:
    """RQ's own worker, configured as workers.worker.make_worker configures ours."""
    queue = message_queue(ctx.connection, ctx.settings)
    return SimpleWorker(
        [queue],
        name=NAME,
        connection=ctx.connection,
        serializer=JSONSerializer,
        worker_ttl=WORKER_TTL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )


def test_the_batch_worker_leaves_redis_as_rqs_simple_worker_does(
    run: Callable[..., dict[str, Any]],
    messages: dict[str, tuple[str, bytes]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    by_rq = run(rq_simple_worker)
    monkeypatch.setattr(batch.BatchWorker, "job_seconds", 0.001)  # batches as large as they get
    by_batch = run(lambda ctx: make_worker(ctx, name=NAME))
    # The runs did what they should, or equal states would prove nothing.
    jobs = {
        kind: by_rq[f"rq:job:{message_id}"]["value"] for kind, (message_id, _) in messages.items()
    }
    assert {kind: job["status"] for kind, job in jobs.items()} == {
        "ok": "finished", "flaky": "finished", "broken": "failed", "slow": "failed"
    }  # fmt: skip
    assert by_rq[f"rq:worker:{NAME}"]["value"]["successful_job_count"] == "2"
    assert not differences(by_rq, by_batch), "\n".join(differences(by_rq, by_batch))
