"""swaks, the SMTP test tool that admins point at a new MX, talking straight to `mailbus listen`."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from tests.interop import messages
from tests.interop.conftest import MAX_MESSAGE_SIZE, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.interop]


def swaks_to(swaks: str, stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [swaks, "--server", f"127.0.0.1:{stack.port}", "--helo", "swaks.test",
         "--from", "ada@sender.test", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_swaks_delivers_over_required_starttls(swaks: str, stack: Stack) -> None:
    title = messages.subject("swaks")
    sent = swaks_to(
        swaks, stack, "--tls", "--to", "a@example.com,b@example.com", "--header",
        f"Subject: {title}", "--body", "Hello from swaks.",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "=== TLS started with cipher" in sent.stdout
    assert "250 2.0.0 Ok: queued as" in sent.stdout
    (record,) = stack.wait_for(title)
    assert record["tls"] is True
    assert record["rcpt_tos"] == ["a@example.com", "b@example.com"]
    assert record["text"].strip() == "Hello from swaks."


def test_swaks_5_mb_attachment_arrives_intact(swaks: str, stack: Stack, tmp_path: Path) -> None:
    title = messages.subject("swaks 5 MB")
    data = tmp_path / "data.bin"
    data.write_bytes(os.urandom(5 * 2**20))
    sent = swaks_to(
        swaks, stack, "--to", "support@example.com", "--header", f"Subject: {title}",
        "--attach-type", "application/octet-stream", "--attach", f"@{data}", "--silent", "2",
    )  # fmt: skip
    assert sent.returncode == 0, sent.stdout + sent.stderr
    (record,) = stack.wait_for(title, timeout=60)
    (attachment,) = record["attachments"]
    assert attachment["filename"] == "data.bin"
    assert attachment["sha256"] == hashlib.sha256(data.read_bytes()).hexdigest()


def test_swaks_oversize_message_gets_552_5_3_4(swaks: str, stack: Stack, tmp_path: Path) -> None:
    """swaks ignores the SIZE we advertise and sends it all: the reply to DATA refuses it."""
    title = messages.subject("swaks too big")
    data = tmp_path / "big.bin"
    data.write_bytes(os.urandom(MAX_MESSAGE_SIZE))
    sent = swaks_to(
        swaks, stack, "--to", "support@example.com", "--header", f"Subject: {title}",
        "--attach", f"@{data}", "--silent", "2",
    )  # fmt: skip
    assert sent.returncode != 0
    assert "<** 552 5.3.4 " in sent.stdout + sent.stderr
    after = messages.subject("after too big")  # one worker, FIFO: a queued oversize would be first
    sent = swaks_to(swaks, stack, "--to", "support@example.com", "--header", f"Subject: {after}")
    assert sent.returncode == 0, sent.stdout
    stack.wait_for(after)
    assert [r for r in stack.records() if r["subject"] == title] == []
