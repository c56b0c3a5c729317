"""Running real `mailbus` processes for end-to-end tests, and speaking SMTP to them."""

from __future__ import annotations

import json
import smtplib
import socket
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from mailbus.redis_server import free_port
from tests.conftest import ROOT, stop_process, subprocess_env

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201a5f6b6c40000000049454e44ae426082"
)


def multipart_message(subject: str = "Printer on fire", *, message_id: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@example.org>"
    msg["To"] = "support@example.com"
    msg["Subject"] = subject
    if message_id is not None:
        msg["Message-ID"] = message_id
    msg.set_content("The printer is on fire.\n")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="fire.png")
    return bytes(msg)


def mailbus_env(tmp_path: Path, redis_url: str, store: str, **extra: str) -> dict[str, str]:
    """Settings for a listener and workers sharing `redis_url` and `store`; `extra` overrides."""
    defaults = dict(
        MAILBUS_REDIS_URL=redis_url,
        MAILBUS_STORE=store,
        MAILBUS_DOMAINS="example.com",
        MAILBUS_HANDLERS="tests.e2e.handlers_record:router",
        MAILBUS_HOST="127.0.0.1",
        MAILBUS_PORT=str(free_port()),
        MAILBUS_HOSTNAME="mx.test",
        MAILBUS_RETRY_BACKOFF="0",
        MAILBUS_PERSIST_TIMEOUT="3",
        E2E_OUTPUT=str(tmp_path / "handled.jsonl"),
        PYTHONPATH=str(ROOT),
    )
    return subprocess_env(**{**defaults, **extra})


def mailbus(*args: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mailbus", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class MailbusProcess:
    """A `mailbus` subcommand as a subprocess, its output in `log`; with `port`, ready once that
    port accepts connections (it fails with the log when the process exits or 30 s pass)."""

    def __init__(self, env: dict[str, str], log: Path, *args: str, port: int | None = None):
        self.env, self.log, self.port = env, log, port
        with log.open("wb") as out:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mailbus", *args],
                env=env,
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while port is not None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mailbus {args[0]} did not listen on {port}: {log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)

    def stop(self) -> None:
        stop_process(self.process)

    def __enter__(self) -> MailbusProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Listener(MailbusProcess):
    """`mailbus listen` on MAILBUS_PORT, logging beside E2E_OUTPUT."""

    port: int

    def __init__(self, env: dict[str, str], *args: str) -> None:
        log = Path(env["E2E_OUTPUT"]).with_suffix(".listener.log")
        super().__init__(env, log, "listen", *args, port=int(env["MAILBUS_PORT"]))


def send(
    port: int,
    raw: bytes,
    to: tuple[str, ...] = ("support@example.com",),
    mail_from: str = "ada@example.org",
) -> tuple[int, str]:
    """One SMTP transaction; returns the reply to the end of DATA (or the first refusal)."""
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
        smtp.ehlo("client.test")
        code, reply = smtp.mail(mail_from)
        if code != 250:
            return code, reply.decode()
        for rcpt in to:
            code, reply = smtp.rcpt(rcpt)
            if code not in (250, 251):
                return code, reply.decode()
        code, reply = smtp.data(raw)
        return code, reply.decode()


def queued_id(reply: str) -> str:
    assert reply.startswith("2.0.0 Ok: queued as "), reply
    return reply.rsplit(" ", 1)[1]


def handled(env: dict[str, str]) -> list[dict]:
    path = Path(env["E2E_OUTPUT"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
