"""The interop stack: a private Redis, `mailbus listen` with STARTTLS, a running `mailbus worker`,
and a private Postfix relaying to the listener; one of each for the whole package.

The outside tools (swaks, Postfix, openssl) are required in CI (`CI` set): there a missing tool
fails the tests instead of skipping them. Locally they are skipped with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mailbus.redis_server import RedisServer, server_binary
from tests.conftest import ROOT, stop_process
from tests.e2e.harness import Listener, mailbus_env
from tests.interop import postfix
from tests.listener.test_tls import make_cert

MAX_MESSAGE_SIZE = 10 * 2**20
DOMAINS = "example.com,bulk.example.com"


def need(tool: str, found: bool, reason: str = "is not installed (.ci/run installs it)") -> None:
    """Skip locally when `tool` is missing; in CI, where these tests must run, fail instead."""
    if found:
        return
    reason = f"{tool} {reason}"
    if os.environ.get("CI"):
        pytest.fail(f"interop tests must run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def is_root() -> bool:
    return os.geteuid() == 0


class Stack:
    """mailbus as deployed, on loopback: what the handler recorded is read from `out`."""

    def __init__(self, root: Path) -> None:
        need("redis-server", server_binary() is not None)
        need("openssl", shutil.which("openssl") is not None)
        cert, key = make_cert(root, "mx.test")
        self.redis = RedisServer(root / "redis").start()
        self.env = mailbus_env(
            root,
            self.redis.url,
            "redis",
            MAILBUS_HANDLERS="tests.interop.handlers:router",
            MAILBUS_DOMAINS=DOMAINS,
            MAILBUS_MAX_MESSAGE_SIZE=str(MAX_MESSAGE_SIZE),
            MAILBUS_TLS_CERT=cert,
            MAILBUS_TLS_KEY=key,
        )
        self.out = Path(self.env["E2E_OUTPUT"])
        try:
            self.listener = Listener(self.env)
        except RuntimeError:
            self.redis.stop()
            raise
        self.port = self.listener.port
        self.worker_log = root / "worker.log"
        with self.worker_log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.worker = subprocess.Popen(
                [sys.executable, "-m", "mailbus", "worker", "--processes", "1"],
                env=self.env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip

    def records(self) -> list[dict]:
        if not self.out.exists():
            return []
        return [json.loads(line) for line in self.out.read_text().splitlines() if line.strip()]

    def wait_for(
        self, subject: str, count: int = 1, timeout: float = 30.0, *, settle: float = 0.0
    ) -> list[dict]:
        """The records of messages titled `subject` once there are `count` of them; with
        `settle`, keep watching that long afterwards so a duplicate would show up too."""
        return self.wait_until(lambda rs: len(rs) >= count, subject, timeout, settle=settle)

    def wait_until(
        self,
        done: Callable[[list[dict]], bool],
        which: str | Callable[[dict], bool],
        timeout: float = 30.0,
        *,
        settle: float = 0.0,
    ) -> list[dict]:
        """The records `which` selects (a subject or a predicate) once `done` says so."""
        match = which if callable(which) else (lambda r: r["subject"] == which)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done([r for r in self.records() if match(r)]):
                time.sleep(settle)
                return [r for r in self.records() if match(r)]
            if self.worker.poll() is not None:
                raise AssertionError(f"the worker exited:\n{self.worker_log.read_text()}")
            time.sleep(0.1)
        found = [r for r in self.records() if match(r)]
        raise AssertionError(f"{which!r}: {len(found)} record(s) after {timeout} s: {found}")

    def stop(self) -> None:
        stop_process(self.worker)
        self.listener.stop()
        self.redis.stop()


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    running = Stack(tmp_path_factory.mktemp("interop"))
    yield running
    running.stop()


@pytest.fixture(scope="package")
def relay(stack: Stack) -> Iterator[postfix.Postfix]:
    """A private Postfix whose relayhost is the stack's listener."""
    need("postfix", postfix.available())
    need("postfix", is_root(), "starts an instance from a directory of its own only for root")
    with postfix.Postfix(stack.port) as running:
        yield running


@pytest.fixture(scope="session")
def swaks() -> str:
    found = shutil.which("swaks")
    need("swaks", found is not None)
    assert found is not None
    return found
