"""SMTP behind a PROXY v2 balancer → `mailbus listen` → `mailbus worker` → a handler that reads
msg.auth, with the verdicts' DNS served by a real server on loopback. Nothing of ours is mocked."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.auth.conftest import message
from tests.auth.dnsserver import TestDnsServer, Zones
from tests.auth.keys import publish, rsa_key, sign
from tests.e2e.harness import Listener, handled, mailbus, mailbus_env
from tests.listener.conftest import Client
from tests.listener.test_proxy import v2

pytestmark = pytest.mark.e2e
CLIENT = "203.0.113.7"  # a public address, given by the PROXY header; the socket is loopback


def test_handler_sees_the_verdicts_for_the_proxied_client(
    tmp_path: Path, redis_server, dns: TestDnsServer, zones: Zones
) -> None:
    key = rsa_key()
    publish(zones, key, "sel", "sender.example")
    zones.txt("sender.example", f"v=spf1 ip4:{CLIENT} -all")
    zones.txt("_dmarc.sender.example", "v=DMARC1; p=reject")
    zones.add("7.113.0.203.in-addr.arpa", "PTR", "mail.sender.example")
    zones.add("mail.sender.example", "A", CLIENT)
    forged = b"Authentication-Results: mx.test; dkim=pass header.d=bank.example\r\n"
    raw = forged + sign(message(), key, "sel", "sender.example")
    env = mailbus_env(tmp_path, redis_server.url, "redis", MAILBUS_AUTH="on",
                      MAILBUS_DNS_SERVERS=dns.address, MAILBUS_PROXY_PROTOCOL="v2",
                      MAILBUS_HANDLERS="tests.auth.handlers_auth:router")  # fmt: skip

    with Listener(env) as listener:
        client = Client(listener.port, greet=False)
        client.send(v2(CLIENT))
        assert client.reply().startswith("220 ")
        client.ehlo()
        reply = client.message(raw + b".\r\n", sender="alice@sender.example",
                               to="support@example.com")  # fmt: skip
        forged_from = message(from_="CEO <ceo@bank.example>", subject="Wire the money")
        other = client.message(forged_from + b".\r\n", sender="ceo@bank.example",
                               to="support@example.com")  # fmt: skip
        client.close()
    assert reply.startswith("250 "), reply
    assert other.startswith("250 "), other
    worker = mailbus("worker", "--burst", env=env)
    assert worker.returncode == 0, worker.stdout + worker.stderr

    records = handled(env)
    trusted = [r["trusted"] for r in records if "trusted" in r]
    assert trusted == ["alice@sender.example"]  # when= let the genuine one through, only it
    record, unverified = sorted((r for r in records if "auth" in r), key=lambda r: r["id"])
    assert unverified["auth"]["dmarc"]["result"] != "pass"
    auth = record["auth"]
    assert auth["spf"] == {"result": "pass", "domain": "sender.example", "scope": "mailfrom",
                           "explanation": "sender SPF authorized"}  # fmt: skip
    assert [(d["result"], d["domain"], d["selector"]) for d in auth["dkim"]] == [
        ("pass", "sender.example", "sel")
    ]
    assert (auth["dmarc"]["result"], auth["dmarc"]["policy"]) == ("pass", "reject")
    assert auth["iprev"] == {"result": "pass", "hostname": "mail.sender.example"}
    assert auth["arc"]["result"] == "none"
    assert auth["header"] == (
        f"mx.test; iprev=pass policy.iprev={CLIENT} (mail.sender.example); "
        "spf=pass smtp.mailfrom=sender.example; "
        "dkim=pass header.d=sender.example header.s=sel header.a=rsa-sha256; "
        "dmarc=pass (p=reject) header.from=sender.example; arc=none"
    )
    assert "forged_authentication_results" in record["defects"]

    shown = mailbus("show", record["id"], env=env)
    assert "auth" in shown.stdout and "dmarc=pass" in shown.stdout.replace("'", ""), shown.stdout
