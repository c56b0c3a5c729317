"""listener.recipients.RecipientCheck on its own: the answers, the per-address cache (its expiry,
its bound, 0 = off), the timeout, and loading from the settings."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from listener import recipients
from listener.recipients import RecipientCheck, from_settings
from mailbus.errors import ConfigError
from mailbus.settings import Settings

ENVELOPE = SimpleNamespace(mail_from="a@b.test", rcpt_tos=[], smtp_utf8=False)
SESSION = SimpleNamespace(host_name="client.test", peer=("192.0.2.1", 4242))


def ask(check: RecipientCheck, address: str) -> str | None:
    return asyncio.run(check.check(address, ENVELOPE, SESSION))


def test_answers_and_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: dict[str, Any] = {"yes@x.test": True, "no@x.test": False, "maybe@x.test": None}
    asked: list[str] = []

    def directory(address: str, envelope: Any) -> bool | None:
        asked.append(address)
        assert (envelope.peer, envelope.helo) == ("192.0.2.1", "client.test")
        return answers[address]

    now = [100.0]
    monkeypatch.setattr(recipients.time, "monotonic", lambda: now[0])
    check = RecipientCheck(directory, timeout=1, cache_ttl=60)
    assert ask(check, "yes@x.test") is None
    assert ask(check, "no@x.test") == (
        "550 5.1.1 <no@x.test>: Recipient address rejected: no such mailbox"
    )
    assert ask(check, "maybe@x.test").startswith("450 4.2.0")
    answers["yes@x.test"] = False
    assert ask(check, "yes@x.test") is None and ask(check, "maybe@x.test") is not None
    assert asked == ["yes@x.test", "no@x.test", "maybe@x.test", "maybe@x.test"]
    now[0] += 61
    assert ask(check, "yes@x.test").startswith("550 5.1.1")


def test_no_cache_and_bounded_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []

    def directory(address: str, envelope: Any) -> bool:
        asked.append(address)
        return True

    uncached = RecipientCheck(directory, timeout=1, cache_ttl=0)
    ask(uncached, "a@x.test"), ask(uncached, "a@x.test")
    assert asked == ["a@x.test", "a@x.test"] and uncached.cache == {}
    monkeypatch.setattr(recipients, "CACHE_MAX", 3)
    bounded = RecipientCheck(directory, timeout=1, cache_ttl=60)
    for n in range(10):
        ask(bounded, f"{n}@x.test")
    assert len(bounded.cache) == 3


def test_timeout_and_errors_of_an_async_check() -> None:
    async def slow(address: str, envelope: Any) -> bool:
        await asyncio.sleep(5)
        return True

    async def broken(address: str, envelope: Any) -> bool:
        raise OSError("ldap down")

    assert ask(RecipientCheck(slow, timeout=0.05, cache_ttl=60), "a@x.test").startswith(
        "451 4.4.3 <a@x.test>"
    )
    assert ask(RecipientCheck(broken, timeout=1, cache_ttl=60), "a@x.test").startswith(
        "450 4.2.0 <a@x.test>"
    )


def test_from_settings() -> None:
    assert from_settings(Settings()) is None
    routed = from_settings(
        Settings(recipient_check="router", handlers="tests.listener.checks:router")
    )
    assert routed is not None and routed.inline
    assert ask(routed, "support@example.com") is None
    assert from_settings(Settings(recipient_check="router", webhook_url="https://x.test")) is None
    with pytest.raises(ConfigError, match="MAILBUS_RECIPIENT_CHECK=router needs MAILBUS_HANDLERS"):
        Settings.from_env({"MAILBUS_RECIPIENT_CHECK": "router"}, env_file=None)
    with pytest.raises(ConfigError, match="MAILBUS_RECIPIENT_CHECK='nope' is invalid"):
        Settings.from_env({"MAILBUS_RECIPIENT_CHECK": "nope"}, env_file=None)
