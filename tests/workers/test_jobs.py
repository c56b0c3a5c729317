"""process_message through an in-process SimpleWorker on fakeredis: retries, the ledger,
duplicates, dead letters and the status timeline."""

from __future__ import annotations

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from mailbus import deadletters as admin
from mailbus.queue import message_queue, resend_key
from mailbus.status import timeline
from mailbus.stores.base import attachment_key, raw_key
from tests.workers import handlers_basic
from tests.workers.conftest import EML, put_message
from workers.ledger import PREFIX, DeliveryRecord
from workers.worker import drain


def names() -> list[str]:
    return [call[0] for call in handlers_basic.calls]


def status(ctx, message_id: str) -> str:
    job = Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)
    return job.get_status().value


def events(ctx, message_id: str) -> list[str]:
    return [event["event"] for event in timeline(ctx.connection, message_id)]


def test_message_reaches_every_matching_handler_and_attachments_are_stored(make_ctx) -> None:
    ctx = make_ctx()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    assert sorted(names()) == ["audit", "support"]
    assert status(ctx, message_id) == "finished"
    msg = handlers_basic.seen[0]
    assert msg.id == message_id and msg.subject == "Printer on fire"
    assert msg.envelope.rcpt_tos == ("support@example.com",)
    (attachment,) = msg.attachments
    assert attachment.storage_key == attachment_key(attachment.sha256)
    assert ctx.store.get(attachment.storage_key) == bytes(range(8))
    assert events(ctx, message_id) == ["parsed", "handler", "handler", "done"]
    assert not ctx.store.exists(f"done/{message_id}"), "reconcile never sweeps the Redis store"


def test_named_groups_become_keyword_arguments(make_ctx) -> None:
    ctx = make_ctx()
    put_message(ctx.store, ctx.connection, ctx.settings, to=("reply+42@example.com",))
    drain(ctx)
    assert [(n, kw) for n, _, kw in handlers_basic.calls] == [("reply", {"ticket": "42"})]


def test_retry_runs_only_the_failed_handler_again(make_ctx) -> None:
    ctx = make_ctx()
    handlers_basic.failures["support"] = 2  # retries=2, backoff 0: third attempt succeeds
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    assert names().count("support") == 3
    assert names().count("audit") == 1
    assert status(ctx, message_id) == "finished"
    handler_events = [e for e in timeline(ctx.connection, message_id) if e["event"] == "handler"]
    assert [(e["handler"].rsplit(".", 1)[1], e["result"]) for e in handler_events] == [
        ("support", "failed"), ("audit", "ok"), ("support", "failed"), ("support", "ok"),
    ]  # fmt: skip
    assert "failed on purpose" in handler_events[0]["error"]


def test_handler_failing_every_attempt_becomes_a_dead_letter(make_ctx) -> None:
    ctx = make_ctx()
    handlers_basic.failures["support"] = 99
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    assert names().count("support") == 3 and names().count("audit") == 1
    assert status(ctx, message_id) == "failed"
    (letter,) = admin.list_failed(ctx.connection, ctx.settings)
    assert letter.id == message_id
    assert letter.reason == "RuntimeError: support failed on purpose"
    assert letter.envelope["rcpt_tos"] == ["support@example.com"]
    assert letter.failed_at is not None
    assert events(ctx, message_id)[-1] == "dead"


def test_no_route_goes_to_the_failed_registry_at_once_with_the_reason(make_ctx) -> None:
    ctx = make_ctx()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings,
                             to=("nobody@example.com",))  # fmt: skip
    drain(ctx)
    assert names() == []
    assert status(ctx, message_id) == "failed"
    (letter,) = admin.list_failed(ctx.connection, ctx.settings)
    assert letter.reason.startswith("mailbus.errors.NoRouteError: no route matches")
    assert "nobody@example.com" in letter.reason
    assert events(ctx, message_id) == ["parsed", "dead"]  # one attempt, no retries


def test_default_route_takes_what_no_route_matches(make_ctx) -> None:
    ctx = make_ctx(router=handlers_basic.with_default)
    put_message(ctx.store, ctx.connection, ctx.settings, to=("nobody@example.com",))
    put_message(ctx.store, ctx.connection, ctx.settings, to=("sales@example.com",))
    drain(ctx)
    assert names() == ["fallback", "sales"]


def test_duplicate_delivery_reaches_handlers_once(make_ctx) -> None:
    ctx = make_ctx()
    first = put_message(ctx.store, ctx.connection, ctx.settings)
    second = put_message(ctx.store, ctx.connection, ctx.settings)  # same bytes + envelope
    other = put_message(ctx.store, ctx.connection, ctx.settings, mail_from="bob@example.org")
    drain(ctx)
    assert sorted((n, i) for n, i, _ in handlers_basic.calls) == sorted(
        [("support", first), ("audit", first), ("support", other), ("audit", other)]
    )
    assert status(ctx, second) == "finished"
    assert timeline(ctx.connection, second)[0] == {
        **timeline(ctx.connection, second)[0], "event": "duplicate", "duplicate_of": first,
    }  # fmt: skip


def test_raw_bytes_gone_is_a_dead_letter_without_retries(make_ctx) -> None:
    ctx = make_ctx()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    ctx.store.delete(raw_key(message_id))
    drain(ctx)
    (letter,) = admin.list_failed(ctx.connection, ctx.settings)
    assert "is no longer in the store" in letter.reason
    assert events(ctx, message_id) == ["dead"]


def test_requeue_brings_a_dead_letter_back_and_skips_what_already_succeeded(make_ctx) -> None:
    ctx = make_ctx()
    handlers_basic.failures["support"] = 99
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    assert status(ctx, message_id) == "failed"
    handlers_basic.failures.clear()  # "the handler is fixed"
    handlers_basic.calls.clear()
    assert admin.requeue(ctx.connection, ctx.settings, message_id)
    assert not admin.requeue(ctx.connection, ctx.settings, message_id)  # no longer dead
    drain(ctx)
    assert names() == ["support"]
    assert status(ctx, message_id) == "finished"
    assert admin.list_failed(ctx.connection, ctx.settings) == []
    assert "requeued" in events(ctx, message_id)


def test_requeue_all_and_unknown_ids(make_ctx) -> None:
    ctx = make_ctx()
    for rcpt in ("a@nowhere.test", "b@nowhere.test"):
        put_message(ctx.store, ctx.connection, ctx.settings, to=(rcpt,))
    drain(ctx)
    assert len(admin.list_failed(ctx.connection, ctx.settings)) == 2
    assert not admin.requeue(ctx.connection, ctx.settings, "no-such-message")
    assert admin.requeue_all(ctx.connection, ctx.settings) == 2
    queue = message_queue(ctx.connection, ctx.settings)
    assert queue.count == 2
    assert FailedJobRegistry(queue=queue).count == 0
    assert EML  # the fixture message is what the listener would store


def test_job_time_limit_stops_the_job_and_fails_it(make_ctx) -> None:
    ctx = make_ctx(job_timeout=1, retries=0)
    message_id = put_message(ctx.store, ctx.connection, ctx.settings, to=("slow@example.com",))
    drain(ctx)
    assert names() == ["slow"]  # the time limit is fatal: the sibling does not run
    (letter,) = admin.list_failed(ctx.connection, ctx.settings)
    assert letter.id == message_id and "JobTimeoutException" in letter.reason


def test_claim_waits_for_a_live_holder_and_takes_over_from_a_dead_one(make_ctx) -> None:
    ctx = make_ctx()
    ledger = ctx.ledger
    assert ledger.claim("d1", "m1 w1", 60, stale=lambda holder: False) is None
    assert ledger.claim("d1", "m2 w2", 60, stale=lambda holder: False) == "m1 w1"
    assert ledger.claim("d1", "m1 w1", 60, stale=lambda holder: False) is None  # re-entry
    assert ledger.claim("d1", "m2 w2", 60, stale=lambda holder: holder == "m1 w1") is None
    ledger.release("d1", "m1 w1")  # not the holder any more: no effect
    assert ledger.claim("d1", "m3 w3", 60, stale=lambda holder: False) == "m2 w2"
    ledger.release("d1", "m2 w2")
    assert ledger.claim("d1", "m3 w3", 60, stale=lambda holder: False) is None


def test_the_rq_entry_point_finishes_the_delivery_itself(make_ctx) -> None:
    """A mailbus job performed by RQ's own path (not the batch worker) writes its completion
    and drops its claim: nothing is left pending for a finishing transaction."""
    ctx = make_ctx()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    job = Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)
    assert job.func_name == "workers.jobs.process_message"
    result = job.perform()
    assert sorted(names()) == ["audit", "support"] and result["duplicate_of"] is None
    digest = job.kwargs["digest"]
    assert ctx.ledger.record(digest).delivered_by == message_id
    assert not ctx.connection.exists(f"{PREFIX}{digest}:claim")
    assert events(ctx, message_id) == ["parsed", "handler", "handler", "done"]


NO_MESSAGE_ID = EML.replace(b"Message-ID: <m1@example.org>\r\n", b"")


def test_identical_messages_without_a_message_id_each_reach_the_handlers(make_ctx) -> None:
    """Issue 9/5: the same alert sent twice is two messages, not a retry of one."""
    ctx = make_ctx()
    ids = [put_message(ctx.store, ctx.connection, ctx.settings, body=NO_MESSAGE_ID)
           for _ in range(2)]  # fmt: skip
    drain(ctx)
    assert sorted((n, i) for n, i, _ in handlers_basic.calls) == sorted(
        (name, i) for i in ids for name in ("support", "audit")
    )
    assert all("duplicate" not in events(ctx, i) for i in ids)


def test_a_retry_without_a_message_id_still_skips_what_succeeded(make_ctx) -> None:
    ctx = make_ctx()
    handlers_basic.failures["support"] = 1
    put_message(ctx.store, ctx.connection, ctx.settings, body=NO_MESSAGE_ID)
    drain(ctx)
    assert names().count("support") == 2 and names().count("audit") == 1


def test_the_copy_the_listener_expects_again_is_suppressed_once(make_ctx) -> None:
    """The listener noted that it stored `first` but answered 451: the sender's next copy is
    that message (suppressed, and the note spent); a copy after that is a message of its own."""
    ctx = make_ctx()
    first = put_message(ctx.store, ctx.connection, ctx.settings, body=NO_MESSAGE_ID)
    job = Job.fetch(first, connection=ctx.connection, serializer=JSONSerializer)
    ctx.connection.set(resend_key(job.kwargs["digest"]), first)
    resent = put_message(ctx.store, ctx.connection, ctx.settings, body=NO_MESSAGE_ID)
    drain(ctx)
    assert sorted(names()) == ["audit", "support"]
    assert {(n, i) for n, i, _ in handlers_basic.calls} == {("support", first), ("audit", first)}
    (duplicate,) = [e for e in timeline(ctx.connection, resent) if e["event"] == "duplicate"]
    assert (duplicate["duplicate_of"], duplicate["reason"]) == (first, "resend")
    assert not ctx.connection.exists(resend_key(job.kwargs["digest"]))
    handlers_basic.calls.clear()
    later = put_message(ctx.store, ctx.connection, ctx.settings, body=NO_MESSAGE_ID)
    drain(ctx)
    assert {i for _, i, _ in handlers_basic.calls} == {later}


def test_a_copy_without_a_message_id_trades_the_digest_claim_for_its_own(make_ctx) -> None:
    """Identical messages without a Message-ID do not wait for each other; the two copies of
    one transmission (the stored one and the sender's resend) still do."""
    ledger = make_ctx().ledger
    assert ledger.claim_and_read("d1", "m1 w1", 60)[0] is not None
    assert ledger.move_claim("d1", "d1:m1", "m1 w1", 60) == DeliveryRecord(None, frozenset())
    assert ledger.claim_and_read("d1", "m2 w2", 60)[0] is not None  # the digest is free again
    assert ledger.move_claim("d1", "d1:m2", "m2 w2", 60) is not None
    assert ledger.claim_and_read("d1", "m3 w3", 60)[0] is not None
    assert ledger.move_claim("d1", "d1:m1", "m3 w3", 60) is None  # m1's transmission is held
