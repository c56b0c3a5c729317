"""An RQ SimpleWorker that takes the mailbus jobs waiting in the queue a batch at a time.

RQ's own loop spends about 20 round trips and 50 Redis commands on every job (heartbeats,
worker state, the execution record, registries, the result), which is more time than parsing a
typical message takes. When more messages are waiting, this worker moves up to a batch of them
into RQ's intermediate list at once (as RQ's dequeue does, one at a time), marks them all
started in one transaction, runs them one after the other, each under its own time limit, and
finishes each with one transaction. The jobs, their states and registries are RQ's own, so
`rq info`, retries, the failed registry and the supervisor's recovery of a dead worker (which
puts back every job that worker had started) work unchanged.

A batch stays short: its size is chosen so that it takes about BATCH_SECONDS given how long
recent jobs took, so slow handlers get one job at a time. When a batch runs past
OVERDUE_SECONDS (one unexpectedly slow message) or a warm stop comes, the jobs not yet run go
back to the front of the queue for any worker, so a slow message delays at most itself.
Jobs of any other function on the queue run through RQ's ordinary path.
"""

from __future__ import annotations

import logging
import sys
import time

from rq.job import Job, JobStatus
from rq.queue import Queue
from rq.timeouts import JobTimeoutException
from rq.utils import now
from rq.worker import SimpleWorker, WorkerStatus

from mailbus.logs import log_event
from mailbus.queue import JOB_FUNCTION
from mailbus.rqseam import started
from workers import context, jobs
from workers.ledger import Ledger

logger = logging.getLogger("mailbus.worker")
MAX_BATCH = 32
BATCH_SECONDS = 0.5
OVERDUE_SECONDS = 2 * BATCH_SECONDS  # a batch running longer puts back what has not run
_SMOOTHING = 0.2  # weight of the latest job in the running average of job time


class BatchWorker(SimpleWorker):
    """SimpleWorker that runs mailbus jobs in batches (see the module docstring)."""

    job_seconds = BATCH_SECONDS  # running average; starts cautious: batches of one
    _current_id: str | None = None  # the job RQ's worker hash names as current
    _finished, _worked = 0, 0.0  # this batch's successes and their seconds, for RQ's counters

    def execute_job(self, job: Job, queue: Queue) -> None:
        batch = [job, *started.take(self, queue, self.batch_size() - 1)]
        executions = started.start(self, batch, queue)
        self._current_id = batch[0].id
        overdue = time.monotonic() + OVERDUE_SECONDS
        for index, current in enumerate(batch):
            # A warm stop, or a job far slower than the batch was sized for: what has not run
            # goes back to the front of the queue, for any worker to take.
            if index and (started.stop_requested(self) or time.monotonic() > overdue):
                self._put_back(batch[index:], queue)
                break
            self.execution = executions[current.id]
            if current.func_name == JOB_FUNCTION:
                self._run(current, queue, batch[index + 1 : index + 2])
            else:  # not ours: RQ's own path, which prepares it again and clears current_job
                started.perform(self, current, queue)
                self._current_id = None
        with self.connection.pipeline() as pipe:
            self.set_state(WorkerStatus.IDLE, pipeline=pipe)
            if self._finished:  # RQ's per-job worker counters, once for the batch
                started.count_successes(pipe, self, self._finished, self._worked)
            pipe.execute()
        self._finished, self._worked = 0, 0.0

    def unsubscribe(self) -> None:
        """RQ's, in the order that does not stall exit: RQ unsubscribes first, so the reply can
        wake its listener thread before it is told to stop, and then the join waits out its
        one-second timeout (the thread blocks in a 60 s read)."""
        if self.pubsub_thread:
            self.pubsub_thread.stop()
            self.pubsub.unsubscribe()
            self.pubsub_thread.join(timeout=1)
            self.pubsub.close()

    def batch_size(self) -> int:
        return max(1, min(MAX_BATCH, int(BATCH_SECONDS / max(self.job_seconds, 1e-4))))

    def _run(self, job: Job, queue: Queue, after: list[Job]) -> None:
        """RQ's perform_job for one mailbus job; success is one transaction that also names
        the next job of the batch as the worker's current one."""
        if self._current_id != job.id:  # only after a failure, which RQ's path clears it on
            started.set_current(self, job.id)
        ctx = context.current()
        job.started_at = now()
        clock = job.started_at
        try:
            with self.death_penalty_class(
                job.timeout or Queue.DEFAULT_TIMEOUT, JobTimeoutException, job_id=job.id
            ):
                result = jobs.deliver(ctx, job, **job.kwargs)
            job.ended_at = now()
            started.set_outcome(job, JobStatus.FINISHED, result)
            self._succeeded(job, after, ctx.ledger)
            self.log.info("Worker %s: %s: Job OK (%s)", self.name, job.origin, job.id)
        except Exception:
            job.ended_at = now()
            started.set_outcome(job, JobStatus.FAILED)
            started.record_failure(self, job, queue, sys.exc_info())
            self._current_id = None
        seconds = (job.ended_at - clock).total_seconds()
        self.job_seconds += _SMOOTHING * (seconds - self.job_seconds)

    def _succeeded(self, job: Job, after: list[Job], ledger: Ledger) -> None:
        """RQ's handle_job_success for a mailbus job (`started.record_success`), with the
        delivery's pending ledger writes and the next current job, in one transaction."""
        with self.connection.pipeline() as pipe:
            ledger.flush(pipe)
            started.record_success(pipe, self, job)
            started.set_current(self, after[0].id if after else None, pipe)
            pipe.execute()
        self._current_id = after[0].id if after else None
        self._finished += 1
        self._worked += (job.ended_at - job.started_at).total_seconds()  # type: ignore[operator]

    def _put_back(self, rest: list[Job], queue: Queue) -> None:
        for job in reversed(rest):  # each goes to the front: the first ends up first
            started.requeue(self.connection, queue, job)
        log_event(logger, "batch.put_back", jobs=len(rest), first=rest[0].id,
                  stopping=started.stop_requested(self))  # fmt: skip
