"""Listener fixtures: a listener in a background event loop, on a real Redis, and a raw client.

Hostile bytes must reach the server unchanged, so tests talk over plain sockets (smtplib fixes
line endings and dot-stuffs). Timeouts are short and set through Settings.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import pytest
import redis

from listener.server import Listener, start_server
from mailbus.logs import fields_of
from mailbus.redis_server import RedisServer
from mailbus.settings import Settings
from tests import waiting

HOST = "mx.test"
QUEUE_ERROR = "451 4.3.0 Error: queue file write error"


class Running:
    """A listener served by an event loop in a daemon thread."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.listener: Listener = self.loop.run_until_complete(start_server(settings, **kwargs))
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.port = self.listener.port

    def call(self, coro: Any, timeout: float = 30) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        """Drain, stop and close the loop: a loop left open leaks its self-pipe sockets."""
        if self.loop.is_running():
            self.call(self._shut_down())
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
        if not self.loop.is_running() and not self.loop.is_closed():
            self.loop.close()

    async def _shut_down(self) -> None:
        """Drain, then hang up what is left: a TLS close that still waits for the client's
        close_notify keeps its socket open past the drain (the process exit closes it in
        production; here the loop is closed next). Then no task is left pending."""
        await self.listener.drain(0.5)
        for session in list(self.listener.ctx.sessions):
            session.hang_up(ConnectionAbortedError("test listener stopped"))
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0.01)  # the transports' closes run on the next loop iterations

    @property
    def counters(self) -> dict[str, int]:
        return self.listener.counters


class Client:
    """A raw SMTP client: bytes out, reply lines in.

    Every client is remembered in `opened` and closed after its test (`close_clients`), so tests
    that end mid-conversation leave no socket to the garbage collector."""

    opened: ClassVar[list[Client]] = []

    def __init__(
        self, port: int, *, timeout: float = 10.0, greet: bool = True, source: str = "127.0.0.1"
    ) -> None:
        """`source` is the client's own loopback address: another one is another client IP."""
        self.sock = socket.create_connection(
            ("127.0.0.1", port), timeout=timeout, source_address=(source, 0)
        )
        Client.opened.append(self)
        self.buffer = b""
        if greet:
            assert self.reply().startswith("220 ")

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; partial {self.buffer!r}")
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\r\n", 1)
        return line

    def lines(self) -> list[str]:
        """One whole (possibly multi-line) reply."""
        out = [self._line().decode("utf-8", "replace")]
        while out[-1][3:4] == "-":
            out.append(self._line().decode("utf-8", "replace"))
        return out

    def reply(self) -> str:
        return self.lines()[-1]

    def cmd(self, line: str | bytes) -> str:
        self.send((line.encode() if isinstance(line, str) else line) + b"\r\n")
        return self.reply()

    def ehlo(self) -> list[str]:
        self.send(b"EHLO client.test\r\n")
        return self.lines()

    def start_data(self) -> None:
        """EHLO, MAIL, RCPT and DATA, each accepted: the client is in the middle of DATA."""
        self.ehlo()
        assert self.cmd("MAIL FROM:<a@b.test>") == "250 2.1.0 Ok"
        assert self.cmd("RCPT TO:<u@example.com>") == "250 2.1.5 Ok"
        assert self.cmd("DATA").startswith("354")

    def message(
        self, body: bytes, *, sender: str = "a@sender.test", to: str = "u@example.com"
    ) -> str:
        assert self.cmd(f"MAIL FROM:<{sender}>").startswith("250")
        assert self.cmd(f"RCPT TO:<{to}>").startswith("250")
        assert self.cmd("DATA").startswith("354")
        self.send(body)
        return self.reply()

    def is_closed(self, wait: float = 5.0) -> bool:
        self.sock.settimeout(wait)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buffer += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False

    def close(self) -> None:
        self.sock.close()


def stored(client: redis.Redis) -> dict[str, int]:
    """How many raw objects, queued jobs and status timelines Redis holds."""
    return {
        "raw": len(client.keys("mailbus:store:raw/*")),
        "jobs": int(client.llen("rq:queue:mailbus")),  # type: ignore[arg-type]
        "status": len(client.keys("mailbus:status:*")),
    }


def settings_for(redis_server: RedisServer, **changes: Any) -> Settings:
    base = Settings(
        redis_url=redis_server.url,
        domains=("example.com", "*.example.org"),
        hostname=HOST,
        host="127.0.0.1",
        port=0,
        timeout=3.0,
        persist_timeout=2.0,
        soft_error_limit=50,
        hard_error_limit=60,
        retries=0,
    )
    return base.replace(**changes)


@pytest.fixture(autouse=True)
def close_clients() -> Iterator[None]:
    yield
    while Client.opened:
        Client.opened.pop().close()


@pytest.fixture
def make_listener(
    redis_server: RedisServer, real_redis: redis.Redis
) -> Iterator[Callable[..., Running]]:
    running: list[Running] = []

    def make(*, store: Any = None, connection: Any = None, **changes: Any) -> Running:
        kwargs = {"store": store, "connection": connection}
        kwargs = {name: value for name, value in kwargs.items() if value is not None}
        server = Running(settings_for(redis_server, **changes), **kwargs)
        running.append(server)
        return server

    yield make
    for server in running:
        server.stop()
    if redis_server.process is None:
        redis_server.start()


@pytest.fixture
def listener(make_listener: Callable[..., Running]) -> Running:
    return make_listener()


def logged_id(caplog: pytest.LogCaptureFixture, client: Client, event: str) -> str:
    """The message id of the last `event` line the listener logged for `client`'s connection:
    the id its temporary-failure reply must name (`... (id=<it>)`)."""
    peer = "{}:{}".format(*client.sock.getsockname()[:2])
    ids: list[str] = []

    def found() -> bool:
        ids[:] = [fields_of(r)["id"] for r in caplog.records
                  if r.getMessage() == event and fields_of(r).get("peer") == peer]  # fmt: skip
        return bool(ids) and bool(ids[-1])

    assert wait_for(found), f"no {event} with an id logged for {peer}"
    return ids[-1]


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    """tests.waiting.wait_for, with the timeout second as these tests pass it; fails naming the
    condition's source line instead of returning False."""
    code = getattr(predicate, "__code__", None)
    where = f"line {code.co_firstlineno} of {code.co_filename}" if code else repr(predicate)
    return bool(waiting.wait_for(predicate, where, timeout, every=0.02))
