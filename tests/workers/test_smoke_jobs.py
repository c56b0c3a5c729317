from __future__ import annotations

from rq.job import Job
from rq.serializers import JSONSerializer

from tests.workers import handlers_basic
from tests.workers.conftest import put_message
from workers.worker import drain


def test_message_reaches_both_matching_handlers(make_ctx) -> None:
    ctx = make_ctx()
    message_id = put_message(ctx.store, ctx.connection, ctx.settings)
    drain(ctx)
    assert sorted(c[0] for c in handlers_basic.calls) == ["audit", "support"]
    job = Job.fetch(message_id, connection=ctx.connection, serializer=JSONSerializer)
    assert job.get_status().value == "finished"
