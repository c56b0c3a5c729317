"""Issue 3 item 5: PROXY protocol v1/v2 — required, trusted senders only, limits on the real IP.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import socket
import struct

import redis

from tests.listener.conftest import HOST, Client, Running

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def v1(src: str) -> bytes:
    return f"PROXY TCP4 {src} 10.0.0.1 40000 25\r\n".encode()


def v2(src: str | None) -> bytes:
    if src is None:  # LOCAL: a health check from the balancer itself
        return V2_SIGNATURE + b"\x20\x00" + struct.pack("!H", 0)
    body = socket.inet_aton(src) + socket.inet_aton("10.0.0.1") + struct.pack("!HH", 40000, 25)
    return V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", len(body)) + body


def proxied(port: int, header: bytes) -> Client:
    client = Client(port, greet=False)
    client.send(header)
    return client


def test_v1_peer_is_the_proxied_client(make_listener, real_redis: redis.Redis) -> None:  # type: ignore[no-untyped-def]
    server: Running = make_listener(proxy_protocol="v1")
    client = proxied(server.port, v1("203.0.113.7"))
    assert client.reply() == f"220 {HOST} ESMTP mailbus"
    client.ehlo()
    reply = client.message(b"hi\r\n.\r\n")
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes) and b"([203.0.113.7])" in raw


def test_limits_apply_to_the_proxied_ip(make_listener) -> None:  # type: ignore[no-untyped-def]
    """E06 / B05 behind a load balancer: every connection comes from the balancer's address."""
    server: Running = make_listener(proxy_protocol="v2", max_connections_per_ip=1)
    first = proxied(server.port, v2("203.0.113.7"))
    assert first.reply().startswith("220 ")
    again = proxied(server.port, v2("203.0.113.7"))
    assert again.reply() == f"421 4.7.0 {HOST} Error: too many connections from 203.0.113.7"
    other = proxied(server.port, v2("198.51.100.9"))
    assert other.reply().startswith("220 ")
    health = proxied(server.port, v2(None))
    assert health.reply().startswith("220 ")


def test_header_is_required_and_must_match(make_listener) -> None:  # type: ignore[no-untyped-def]
    """E06: never guessed; a plain client or the wrong version is closed without a banner."""
    server: Running = make_listener(proxy_protocol="v1")
    plain = proxied(server.port, b"EHLO direct.client\r\n")
    assert plain.is_closed() and plain.buffer == b""
    wrong = proxied(server.port, v2("203.0.113.7"))
    assert wrong.is_closed() and wrong.buffer == b""
    garbage = proxied(server.port, b"PROXY TCP4 999.1.1.1 x y z\r\n")
    assert garbage.is_closed() and garbage.buffer == b""
    assert server.counters["proxy_invalid"] == 3


def test_untrusted_proxy_sender_is_refused(make_listener) -> None:  # type: ignore[no-untyped-def]
    server: Running = make_listener(proxy_protocol="v1", proxy_trusted=("10.0.0.0/8",))
    client = proxied(server.port, v1("8.8.8.8"))
    assert client.reply() == f"421 4.7.0 {HOST} Error: PROXY not allowed from 127.0.0.1"
    assert client.is_closed()
