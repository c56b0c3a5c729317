"""One worker process: an RQ SimpleWorker (jobs run in the process itself, no fork per job) that
takes waiting messages in batches (workers.batch), on the one mailbus queue with the JSON
serializer, plus what a process needs at boot (memory limit, context) and the periodic
reconcile sweep piggy-backed on RQ's maintenance pass. RQ's own log lines about a job get the
job id (which is the message id) as their `id` field (`mailbus.rq_logs.tag_rq_lines`).

One queue means RQ dequeues with BLMOVE into an intermediate list (reliable). `worker_ttl` and
`maintenance_interval` are far below RQ's 420 s / 600 s defaults so that RQ's own sweep of
abandoned jobs (the fallback when the supervisor itself died) runs within about a minute.
"""

from __future__ import annotations

import logging
import os
import resource
import signal
import socket
import sys
from typing import NoReturn

from rq.serializers import JSONSerializer

from mailbus.logs import log_event
from mailbus.queue import message_queue
from mailbus.reconcile import reconcile
from mailbus.router import Router
from mailbus.rqseam import schedule
from mailbus.rqseam.logs import tag_rq_lines
from mailbus.settings import Settings
from workers import context
from workers.batch import BatchWorker

logger = logging.getLogger("mailbus.worker")
WORKER_TTL = 60
MAINTENANCE_INTERVAL = 30
RECONCILE_LOCK = "mailbus:reconcile:lock"


def worker_name(pid: int) -> str:
    """The RQ worker name of process `pid`: the supervisor finds a dead child's job by it."""
    return f"mailbus.{socket.gethostname()}.{pid}"


class MailbusWorker(BatchWorker):
    """BatchWorker whose maintenance pass also runs the reconcile sweep when it is due."""

    mailbus_context: context.Context | None = None

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()
        if self.mailbus_context is not None:
            reconcile_if_due(self.mailbus_context, self.name)


def reconcile_if_due(ctx: context.Context, owner: str) -> int:
    """Run reconcile when no worker ran it in the last interval (a Redis lock with that TTL)."""
    settings = ctx.settings
    if not settings.reconcile_interval or settings.store.kind == "redis":
        return 0
    if not ctx.connection.set(RECONCILE_LOCK, owner, nx=True, ex=settings.reconcile_interval):
        return 0
    try:
        return reconcile(ctx.connection, ctx.store, settings, grace=settings.reconcile_grace,
                         lookback=settings.dedupe_window)  # fmt: skip
    except Exception as exc:  # a failed sweep must not stop the worker; the next one retries
        log_event(logger, "reconcile.failed", level=logging.ERROR, exc_info=exc)
        return 0


def make_worker(ctx: context.Context, *, name: str | None = None) -> MailbusWorker:
    worker = MailbusWorker(
        [message_queue(ctx.connection, ctx.settings)],
        name=name,
        connection=ctx.connection,
        serializer=JSONSerializer,
        worker_ttl=WORKER_TTL,
        maintenance_interval=MAINTENANCE_INTERVAL,
    )
    worker.mailbus_context = ctx
    worker.log_result_lifespan = False
    return worker


def enqueue_due_retries(ctx: context.Context) -> int:
    """Move scheduled retries whose time has come onto the queue (burst mode's scheduler)."""
    return schedule.enqueue_due(message_queue(ctx.connection, ctx.settings))


def next_retry_in(ctx: context.Context) -> tuple[int, float | None]:
    """How many retries are scheduled, and in how many seconds the first falls due."""
    return schedule.next_due(message_queue(ctx.connection, ctx.settings))


def drain(ctx: context.Context, *, name: str | None = None) -> None:
    """Burst in this process until the queue is empty and no retry is due (tests, --burst)."""
    context.install(ctx)
    tag_rq_lines()
    queue = message_queue(ctx.connection, ctx.settings)
    while True:
        make_worker(ctx, name=name).work(burst=True, logging_level=ctx.settings.log_level.upper())
        if not enqueue_due_retries(ctx) and not queue.count:
            return


def apply_memory_limit(mib: int) -> None:
    """Cap this process's heap so a MIME bomb raises MemoryError instead of starving the host."""
    if mib <= 0:
        return
    kind = getattr(resource, "RLIMIT_DATA", resource.RLIMIT_AS)
    _, hard = resource.getrlimit(kind)
    limit = mib * 1024 * 1024
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(kind, (limit, hard))


def _exit_at_boot(signum: int, frame: object) -> None:
    raise SystemExit(0)


def child_main(settings: Settings, router: Router, *, burst: bool) -> NoReturn:
    """Body of a forked worker process; never returns into the supervisor's code."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)  # the supervisor's (workers.pool), not ours
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, _exit_at_boot)  # RQ installs its own in work()
        signal.signal(signal.SIGINT, _exit_at_boot)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
        apply_memory_limit(settings.worker_memory_limit)
        ctx = context.build(settings, router)
        context.install(ctx)
        tag_rq_lines()
        worker = make_worker(ctx, name=worker_name(os.getpid()))
        worker.work(burst=burst, logging_level=settings.log_level.upper())
        code = 0
    except SystemExit as exc:  # RQ's cold shutdown
        code = exc.code if isinstance(exc.code, int) else 0
    except BaseException as exc:  # report anything else, then exit non-zero for the supervisor
        log_event(logger, "worker.crashed", level=logging.ERROR, pid=os.getpid(), exc_info=exc)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
