"""`mailbus worker`: N long-lived worker processes under one supervisor.

The supervisor loads the user's router before forking (a bad MAILBUS_HANDLERS fails at once,
naming the path), forks the children (workers.worker), and then:
- reaps them every 0.2 s; a child that died mid-job has its job put back at once (or
  dead-lettered as poison after MAILBUS_POISON_CRASHES deaths, see workers.recovery), and is
  respawned (in burst mode only when it died mid-job, so the drain completes);
- is the RQ scheduler for the queue (RQ's scheduler lock keeps it to one per cluster), so retry
  backoff intervals work without a scheduler process per child that a SIGKILL would orphan (in
  burst mode it promotes due retries itself and waits MAILBUS_BURST_RETRY_WAIT for more);
- SIGKILLs a child whose job overran its time limit by BACKSTOP seconds (a C call that ignores
  RQ's SIGALRM), which then goes through the same recovery;
- runs the retention sweep (mailbus.retention) that expires what no TTL or S3 rule covers;
- prints the queue depth as a CloudWatch embedded-metric line every MAILBUS_EMF_INTERVAL seconds
  (not in burst mode) for autoscaling, and drops a dead child's live metrics (mailbus.metrics);
- on SIGTERM/SIGINT forwards SIGTERM to the children (RQ's warm stop: the current job finishes)
  and waits; a second signal is forwarded too (RQ's cold stop).
"""

from __future__ import annotations

import logging
import os
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

import redis

from mailbus import logs, malloc, metrics
from mailbus.depth import EmfReporter, read_levels
from mailbus.errors import HandlerLoadError
from mailbus.logs import log_event
from mailbus.queue import message_queue
from mailbus.retention import Sweeper
from mailbus.router import Router, load_router
from mailbus.rqseam import schedule
from mailbus.settings import Settings
from workers import context, recovery
from workers.worker import child_main, enqueue_due_retries, next_retry_in, worker_name

logger = logging.getLogger("mailbus.worker")
TICK = 0.2
BACKSTOP = 30.0
GIVE_UP = 100  # failed recovery attempts (~40 s) before leaving a dead child's job to RQ
GIVE_UP_STOPPING = 10  # fewer while stopping: the platform's kill timer is running
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


@dataclass
class Child:
    pid: int
    name: str
    started: float = field(default_factory=time.monotonic)
    killed_for: str | None = None


def run(settings: Settings, *, processes: int = 1, burst: bool = False) -> int:
    """Run the pool until SIGTERM (or, with `burst`, until the queue is drained); exit code."""
    if not logging.getLogger().handlers:
        logs.configure(settings.log_level)
    if not settings.handlers and not settings.webhook_url:
        raise HandlerLoadError("MAILBUS_HANDLERS is not set: the worker has no handlers to call")
    router = load_router(settings.handlers) if settings.handlers else Router()
    if settings.webhook_url:  # the catch-all: every message, beside the user's routes
        router.forward(to="*", url=settings.webhook_url, secret=settings.webhook_secret,
                       timeout=settings.webhook_timeout,
                       inline_max=settings.webhook_inline_max)  # fmt: skip
    malloc.return_big_buffers()  # before forking: the children inherit it
    return Supervisor(settings, router, processes=max(1, processes), burst=burst).run()


class Supervisor:
    def __init__(self, settings: Settings, router: Router, *, processes: int, burst: bool):
        self.settings = settings
        self.router = router
        self.processes = processes
        self.burst = burst
        self.children: dict[int, Child] = {}
        self.pending: list[recovery.Death] = []
        self.stopping = False
        self.waiting = False  # burst: idle until a scheduled retry falls due
        self.failures = 0
        self.respawn_delay = 0.0
        self.respawn_at = 0.0
        self.ctx = context.build(settings, router)
        self.queue = message_queue(self.ctx.connection, settings)
        self.scheduler = schedule.Scheduler(
            self.ctx.connection, settings.queue,
            name=f"mailbus-scheduler.{worker_name(os.getpid())}",
            level=settings.log_level.upper(),
        )  # fmt: skip
        self.next_schedule = 0.0
        self.next_backstop = 0.0
        self.retention = Sweeper(self.ctx.connection, self.ctx.store, settings)
        self.emf = EmfReporter(
            settings.queue, 0 if burst else settings.emf_interval,
            lambda: read_levels(self.ctx.connection, settings.queue),
        )  # fmt: skip

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        wakeup = self._wake_on_signals()
        for _ in range(self.processes):
            self._spawn()
        log_event(logger, "worker.ready", pid=os.getpid(), processes=self.processes,
                  queue=self.settings.queue, burst=self.burst, store=self.settings.store,
                  handlers=self.settings.handlers)  # fmt: skip
        try:
            while True:
                self._reap()
                self._guarded(self._recover_pending)
                self._guarded(self._schedule)
                self._guarded(self._backstop)
                self._guarded(self.emf.tick)
                self._guarded(self.retention.tick)
                if not self.children and not self._next_round():
                    break
                self._refill()
                _sleep(wakeup, TICK)
        finally:
            self._guarded(self.scheduler.release)
        log_event(logger, "worker.stopped", pid=os.getpid(), failures=self.failures)
        return 1 if self.failures and self.burst else 0

    def _wake_on_signals(self) -> int:
        """A pipe that each signal writes a byte to (SIGCHLD included): the loop's tick then
        ends at once when a child exits, instead of up to TICK later."""
        read, write = os.pipe()
        os.set_blocking(read, False)
        os.set_blocking(write, False)
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        return read

    def _spawn(self) -> None:
        # Block our stop signals across fork so a SIGTERM cannot hit the child before it has
        # its own handlers (the child unblocks them in child_main).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:
                child_main(self.settings, self.router, burst=self.burst)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        self.children[pid] = Child(pid, worker_name(pid))

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            metrics.process_exited(pid)
            self._exited(child, status)

    def _exited(self, child: Child, status: int) -> None:
        if os.WIFSIGNALED(status):
            cause = f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
        else:
            cause = f"exit code {os.WEXITSTATUS(status)}"
        if child.killed_for:
            cause = f"{cause}: {child.killed_for}"
        crashed = os.WIFSIGNALED(status) or os.WEXITSTATUS(status) != 0
        lived = time.monotonic() - child.started
        if crashed:
            log_event(logger, "worker.died", level=logging.WARNING, pid=child.pid, cause=cause,
                      lived=round(lived, 1))  # fmt: skip
        if not self.stopping and (crashed or not self.burst):
            # a crash (or exit) loop at boot must not spin: back off up to 30 s between respawns
            self.respawn_delay = 0.0 if lived > 30 else min(30.0, self.respawn_delay * 2 or 1.0)
            self.respawn_at = time.monotonic() + self.respawn_delay
        self.pending.append(recovery.Death(child.name, cause, crashed))

    def _recover_pending(self) -> None:
        while self.pending:
            death = self.pending[0]
            job_id = recovery.recover(
                self.ctx.connection, self.queue, self.ctx.ledger, self.ctx.store, death,
                poison_crashes=self.settings.poison_crashes,
            )  # fmt: skip
            self.pending.pop(0)
            if death.crashed and job_id is None:
                self.failures += 1
            if job_id is not None and self.burst and not self.stopping:
                self._spawn()  # finish the drain the dead child left

    def _refill(self) -> None:
        """Keep N children alive (not in burst mode, not while stopping)."""
        if self.burst or self.stopping or time.monotonic() < self.respawn_at:
            return
        while len(self.children) < self.processes:
            self._spawn()

    def _next_round(self) -> bool:
        """With no children left: in burst mode start another round if work became due, and
        wait for a scheduled retry due within MAILBUS_BURST_RETRY_WAIT (later ones stay
        scheduled: the next worker, burst or not, runs them)."""
        if self.pending:
            return True
        if self.stopping or not self.burst:
            return not self.stopping
        try:
            enqueue_due_retries(self.ctx)
            more = self.queue.count
            scheduled, due_in = (0, None) if more else next_retry_in(self.ctx)
        except redis.RedisError as exc:
            log_event(logger, "worker.supervisor_error", level=logging.ERROR, exc_info=exc)
            self.failures += 1
            return False
        if more:
            self.waiting = False
            for _ in range(self.processes):
                self._spawn()
            return True
        if due_in is not None and due_in <= self.settings.burst_retry_wait:
            if not self.waiting:  # once per wait, not every tick
                log_event(logger, "worker.waiting_for_retry", scheduled=scheduled,
                          due_in=round(due_in, 1))  # fmt: skip
            self.waiting = True
            return True  # the loop ticks on; the retry is promoted once due
        if scheduled:
            log_event(logger, "worker.retries_left_scheduled", scheduled=scheduled,
                      due_in=round(due_in or 0, 1))  # fmt: skip
        return False

    def _schedule(self) -> None:
        now = time.monotonic()
        if self.burst or now < self.next_schedule:
            return
        self.next_schedule = now + 1.0
        self.scheduler.step()

    def _backstop(self) -> None:
        now = time.monotonic()
        if now < self.next_backstop:
            return
        self.next_backstop = now + 5.0
        for child in list(self.children.values()):
            job_id = recovery.overdue(self.ctx.connection, child.name, BACKSTOP)
            if job_id and not child.killed_for:
                child.killed_for = f"job {job_id} overran its time limit"
                log_event(logger, "worker.overdue", level=logging.ERROR, pid=child.pid, id=job_id)
                os.kill(child.pid, signal.SIGKILL)

    def _guarded(self, step: Callable[[], object]) -> None:
        """Redis or store trouble must not take the supervisor down (its children would run on
        unsupervised): log it with its traceback and try again on the next tick."""
        try:
            step()
        except Exception as exc:
            log_event(logger, "worker.supervisor_error", level=logging.ERROR,
                      step=getattr(step, "__name__", str(step)), exc_info=exc)  # fmt: skip
            if self.pending and step == self._recover_pending:
                death = self.pending[0]
                death.attempts += 1
                if death.attempts >= (
                    GIVE_UP_STOPPING if self.stopping else GIVE_UP
                ):  # RQ's own abandoned-job sweep takes over
                    log_event(logger, "worker.recovery_abandoned", level=logging.ERROR,
                              worker=death.name)  # fmt: skip
                    self.pending.pop(0)
            time.sleep(TICK)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        first = not self.stopping
        self.stopping = True
        log_event(logger, "worker.stopping", signal=signal.Signals(signum).name,
                  mode="warm" if first else "cold", children=len(self.children))  # fmt: skip
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                continue


def _sleep(wakeup: int, seconds: float) -> None:
    """Wait up to `seconds`, less if a signal arrives; then empty the wake-up pipe."""
    select.select([wakeup], [], [], seconds)
    try:
        while os.read(wakeup, 512):
            pass
    except BlockingIOError:
        pass
