"""process_message through an in-process SimpleWorker on fakeredis: retries, the ledger,
duplicates, dead letters and the status timeline."""

from __future__ import annotations

from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from mailbus import deadletters as admin
from mailbus.queue import message_queue
from mailbus.status import timeline
from mailbus.stores.base import attachment_key, raw_key
from tests.workers import handlers_basic
from tests.workers.conftest import EML, put_message
from workers.ledger import PREFIX
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
