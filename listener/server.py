"""Sockets, processes, signals and drain: how `mailbus listen` runs the SMTP sessions.

Each process binds the port itself with SO_REUSEPORT (the kernel spreads connections), runs one
event loop (uvloop when installed) and drains on SIGTERM/SIGINT: stop accepting, 421 4.3.2 to
idle sessions and to the next command of busy ones, let DATA in flight finish its persist, and
close what is left at MAILBUS_SHUTDOWN_GRACE. With --processes N a small supervisor forks N
children, restarts a child that dies, and forwards signals. SIGHUP reloads the TLS certificate.
One process per listener prints the queue depth for autoscaling (listener.depth).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import signal
import socket
import ssl
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import redis

from listener import depth, heartbeat, recipients, tls
from listener.context import ListenerContext
from listener.persist import Persister
from listener.session import Session
from mailbus import logs, malloc
from mailbus.connections import redis_connection
from mailbus.logs import log_event
from mailbus.metrics import process_exited as metrics_process_exited
from mailbus.settings import Settings
from mailbus.stores import Store, open_store

log = logging.getLogger("mailbus.listener")


class Listener:
    """A running listener in this process: its asyncio server and shared session state."""

    def __init__(self, server: asyncio.Server, ctx: ListenerContext) -> None:
        self.server = server
        self.ctx = ctx

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(self.server.sockets)  # type: ignore[arg-type]

    @property
    def port(self) -> int:
        return int(self.server.sockets[0].getsockname()[1])

    @property
    def counters(self) -> dict[str, int]:
        return dict(self.ctx.counters)

    def reload_tls(self) -> bool:
        """New sessions use a freshly loaded certificate; on error keep the old one."""
        try:
            self.ctx.tls_context = tls.load(self.ctx.settings)
        except (OSError, ssl.SSLError) as exc:
            log_event(log, "listener.tls_reload_failed", level=logging.ERROR, error=repr(exc))
            return False
        log_event(log, "listener.tls_reloaded")
        return True

    async def drain(self, grace: float | None = None) -> None:
        """Stop accepting, shut idle sessions, wait for busy ones until `grace`, close the rest."""
        ctx = self.ctx
        deadline = time.monotonic() + (ctx.settings.shutdown_grace if grace is None else grace)
        ctx.draining = True
        self.server.close()
        ctx.lag.stop()
        ctx.backlog.stop()
        while ctx.sessions and time.monotonic() < deadline:
            for session in list(ctx.sessions):
                session.shut(only_idle=True)
            await asyncio.sleep(0.05)
        for session in list(ctx.sessions):
            session.shut(only_idle=False)
        pending = [task for task in ctx.persister.inflight if not task.done()]
        if pending:
            await asyncio.wait(pending, timeout=max(0.0, deadline - time.monotonic()))
        for session in list(ctx.sessions):  # persists that ran past the grace: no 250 for them
            if session.transport is not None:
                session.transport.close()
        await asyncio.sleep(0)


async def start_server(
    settings: Settings,
    *,
    store: Store | None = None,
    connection: redis.Redis | None = None,
    sock: socket.socket | None = None,
) -> Listener:
    """Listen on `sock`, or on settings.host:port (0 = any free port) with SO_REUSEPORT."""
    if not settings.hostname:  # else aiosmtpd calls the blocking getfqdn() per connection
        settings = settings.replace(hostname=socket.getfqdn())
    if connection is None:
        connection = redis_connection(
            settings.redis_url, fail_fast=True, timeout=settings.persist_timeout
        )
    if store is None:
        store = open_store(
            settings.store, connection, raw_ttl=settings.raw_ttl, timeout=settings.persist_timeout
        )
    ctx = ListenerContext.build(
        settings, Persister(settings, store, connection), tls.load(settings)
    )
    loop = asyncio.get_running_loop()

    def factory() -> Session:
        return Session(ctx)

    if sock is not None:
        server = await loop.create_server(factory, sock=sock, backlog=1024)
    else:
        server = await loop.create_server(
            factory, settings.host, settings.port, reuse_port=True, backlog=1024
        )
    ctx.lag.start()
    ctx.backlog.start()
    return Listener(server, ctx)


def serve(settings: Settings, *, processes: int = 1) -> int:
    """Run the listener until SIGTERM/SIGINT; return the process exit code."""
    if not logging.getLogger().handlers:
        logs.configure(settings.log_level)
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every command
    if not settings.domains:
        log_event(log, "listener.no_domains", level=logging.ERROR)
        return 2
    try:
        tls.load(settings)
    except (OSError, ssl.SSLError) as exc:
        log_event(log, "listener.tls_invalid", level=logging.ERROR, error=repr(exc))
        return 2
    recipients.from_settings(settings)  # a bad MAILBUS_RECIPIENT_CHECK stops us now, not per child
    warn_redis(settings)
    malloc.return_big_buffers()
    if processes <= 1:
        with depth.in_thread(settings):
            return run_process(settings)
    return supervise(settings, processes)


def warn_redis(settings: Settings) -> None:
    """Say so at start when Redis may evict or forget accepted mail (errors are ignored)."""
    client = redis_connection(settings.redis_url, fail_fast=True, timeout=2.0)
    try:
        config: dict[str, str] = {}
        for name in ("maxmemory-policy", "appendonly", "save"):
            for key, value in dict(client.config_get(name)).items():  # type: ignore[arg-type]
                config[_text(key)] = _text(value)
    except redis.RedisError:
        return
    finally:
        client.close()
    policy = config.get("maxmemory-policy", "noeviction")
    if policy != "noeviction":
        log_event(
            log,
            "listener.redis_may_evict",
            level=logging.WARNING,
            policy=policy,
            hint="Redis may evict queued jobs and raw messages under memory pressure: "
            "set maxmemory-policy noeviction",
        )
    if config.get("appendonly") == "no" and not config.get("save"):
        log_event(
            log,
            "listener.redis_not_persistent",
            level=logging.WARNING,
            hint="a Redis restart loses accepted mail that is not processed yet: set appendonly "
            "yes (or use MAILBUS_STORE=s3://... or file://..., from which reconcile recovers)",
        )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def run_process(settings: Settings) -> int:
    """One listener process: an event loop (uvloop if installed) until a stop signal."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(_main(settings))


async def _main(settings: Settings) -> int:
    loop = asyncio.get_running_loop()
    threads = settings.max_concurrent_persists  # persist bounds its own use of the pool
    loop.set_default_executor(ThreadPoolExecutor(threads, thread_name_prefix="persist"))
    try:
        listener = await start_server(settings)
    except OSError as exc:
        log_event(log, "listener.bind_failed", level=logging.ERROR, error=repr(exc))
        return 1
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, listener.reload_tls)
    log_event(log, "listener.ready", host=settings.host, port=listener.port, pid=os.getpid())
    with heartbeat.beating(listener.ctx):
        await stop.wait()
        log_event(log, "listener.draining", pid=os.getpid(), sessions=len(listener.ctx.sessions))
        await listener.drain(settings.shutdown_grace)
    log_event(log, "listener.stopped", pid=os.getpid(), counters=listener.counters)
    return 0


def _child(settings: Settings, run: Callable[[Settings], int]) -> None:
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    sys.exit(run(settings))


def supervise(
    settings: Settings, processes: int, *, run: Callable[[Settings], int] | None = None
) -> int:
    """Fork `processes` servers on one port (`run`, by default SMTP listeners); restart crashed
    ones; forward signals."""
    context = multiprocessing.get_context("fork")
    children: list[Any] = []
    stopping: list[float] = []

    def spawn() -> Any:
        child = context.Process(target=_child, args=(settings, run or run_process), daemon=False)
        child.start()
        return child

    def forward(signum: int, frame: object) -> None:
        if signum != signal.SIGHUP and not stopping:
            stopping.append(time.monotonic())
        for child in children:
            if child.is_alive() and child.pid:
                os.kill(child.pid, signal.SIGTERM if signum == signal.SIGINT else signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    children.extend(spawn() for _ in range(processes))
    restarts: list[float] = []
    publish_depth = depth.publisher(settings)
    while any(child.is_alive() for child in children) or not stopping:
        time.sleep(0.2)
        if stopping:
            if time.monotonic() - stopping[0] > settings.shutdown_grace + 5:
                for child in children:
                    if child.is_alive():
                        child.kill()
            continue
        publish_depth()
        for index, child in enumerate(children):
            if child.is_alive():
                continue
            restarts = [t for t in restarts if time.monotonic() - t < 60] + [time.monotonic()]
            log_event(log, "listener.child_died", level=logging.ERROR, code=child.exitcode)
            metrics_process_exited(child.pid)
            if len(restarts) > 5 * processes:
                forward(signal.SIGTERM, None)
                break
            children[index] = spawn()
    for child in children:
        child.join()
        metrics_process_exited(child.pid)
    failed = [c.exitcode for c in children if c.exitcode not in (0, -signal.SIGTERM)]
    return 1 if failed or len(restarts) > 5 * processes else 0
