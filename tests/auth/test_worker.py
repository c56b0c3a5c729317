"""msg.auth in the worker, on a real Redis and a real DNS server: computed once, kept, reused."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import redis

from mailbus import deadletters as admin
from mailbus.status import timeline
from tests.auth.dnsserver import TestDnsServer, Zones
from tests.workers import handlers_basic
from tests.workers.conftest import EML, make_settings, put_message
from workers import context
from workers import metrics as worker_metrics
from workers.auth import FORGED
from workers.ledger import PREFIX
from workers.worker import drain


@pytest.fixture
def ctx(real_redis: redis.Redis, dns: TestDnsServer, zones: Zones) -> Iterator[context.Context]:
    zones.txt("example.org", "v=spf1 ip4:192.0.2.1 -all", ttl=1)  # put_message's peer, MAIL FROM
    zones.txt("_dmarc.example.org", "v=DMARC1; p=reject")
    settings = make_settings(auth=True, dns_servers=(dns.address,), dns_timeout=1.0,
                             hostname="mx.mailbus.test", redis_url="redis://unused")  # fmt: skip
    made = context.build(settings, handlers_basic.router, connection=real_redis)
    handlers_basic.calls.clear()
    handlers_basic.seen.clear()
    handlers_basic.failures.clear()
    yield made
    handlers_basic.failures.clear()
    context.install(None)


def test_handlers_see_verdicts_and_the_timeline_records_them(ctx: context.Context) -> None:
    before = worker_metrics.AUTH_RESULTS.labels(check="spf", result="pass")._value.get()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    auth = handlers_basic.seen[0].auth
    assert (auth.spf.result, auth.dmarc.result, auth.dmarc.spf_aligned) == ("pass", "pass", True)
    assert auth.header.startswith("mx.mailbus.test; iprev=permerror policy.iprev=192.0.2.1;")
    assert handlers_basic.seen[0].to_dict()["auth"]["dmarc"]["policy"] == "reject"
    [event] = [e for e in timeline(ctx.connection, message_id) if e["event"] == "auth"]
    assert (event["spf"], event["dmarc"], event["header"]) == ("pass", "pass", auth.header)
    after = worker_metrics.AUTH_RESULTS.labels(check="spf", result="pass")._value.get()
    assert after == before + 1


def test_requeue_reuses_the_first_verdicts(ctx: context.Context, zones: Zones) -> None:
    handlers_basic.failures["support"] = 99
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)  # three attempts, then a dead letter
    assert [m.auth.spf.result for m in handlers_basic.seen] == ["pass"] * 4
    zones.remove("example.org")
    zones.txt("example.org", "v=spf1 -all")  # the sender's DNS changes an hour later
    time.sleep(1.1)  # and the cached answer has expired
    asked = zones.queries[("example.org", "TXT")]
    handlers_basic.failures.clear()
    assert admin.requeue(ctx.connection, ctx.settings, message_id)
    drain(ctx)
    assert handlers_basic.seen[-1].auth.spf.result == "pass"
    assert zones.queries[("example.org", "TXT")] == asked == 1
    [record] = [k for k in ctx.connection.scan_iter(f"{PREFIX}*") if not k.endswith(b":claim")]
    assert ctx.connection.hget(record, "auth") and ctx.connection.ttl(record) > 0
    assert [e["event"] for e in timeline(ctx.connection, message_id)].count("auth") == 1


def test_forged_authentication_results_become_a_defect(ctx: context.Context) -> None:
    forged = b"Authentication-Results: mx.mailbus.test; dmarc=pass header.from=bank.example\r\n"
    put_message(ctx.store, ctx.connection, ctx.settings, body=forged + EML)
    drain(ctx)
    msg = handlers_basic.seen[0]
    assert [d.kind for d in msg.defects if d.kind == FORGED] == [FORGED]
    assert msg.auth.ignored_headers and msg.auth.dmarc.result == "pass"  # ours, from SPF


def test_auth_off_leaves_the_empty_verdicts(ctx: context.Context, zones: Zones) -> None:
    off = context.Context(ctx.settings.replace(auth=False), ctx.connection, ctx.store,
                          ctx.router, ctx.ledger)  # fmt: skip
    put_message(off.store, off.connection, off.settings)
    drain(off)
    assert handlers_basic.seen[0].auth.header == ""
    assert not zones.queries
