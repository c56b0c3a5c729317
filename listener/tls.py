"""STARTTLS: the server-side SSL context, and what a failed handshake tells the log.

TLS 1.2 or newer, no renegotiation, no client certificates asked for (an MX must accept any
sender, RFC 3207 §4). `load` is called at start (a bad certificate stops the listener) and again
on SIGHUP (a bad certificate then keeps the old one and logs).

A failed handshake only helps an operator if the log says why and what the client offered.
Python's ssl module exposes neither the ClientHello nor the alerts, so the context's message
callback (CPython's `SSLContext._msg_callback` debugging hook) keeps them on the connection's
SSLObject: the versions and cipher suites the ClientHello offered, the first record header read
(a client that is not speaking TLS shows here) and the last alert. OpenSSL calls it for every
record, also after the handshake: measured, about 0.2 ms per MB of TLS traffic.
"""

from __future__ import annotations

import functools
import logging
import ssl
from typing import Any

from mailbus.logs import log_event
from mailbus.settings import Settings

log = logging.getLogger("mailbus.listener")
SEEN = "mailbus_seen"  # the SSLObject attribute holding what the callback saw
_HEADER, _ALERT, _HANDSHAKE, _CLIENT_HELLO = 0x100, 21, 22, 1
_SUPPORTED_VERSIONS = 43
_VERSIONS = {
    0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"
}  # fmt: skip
MAX_LISTED = 40  # cipher suites per log line; a ClientHello may carry thousands


def load(settings: Settings) -> ssl.SSLContext | None:
    """A fresh context, or None when no certificate is configured (STARTTLS not offered)."""
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    context._msg_callback = _observe  # type: ignore[attr-defined]
    return context


def handshake_failure(error: BaseException, sslobj: object) -> dict[str, Any]:
    """Log fields for a failed handshake: OpenSSL's reason and text, then what the client sent
    (`client_versions`, `client_ciphers`, `record`, `alert`: those that were seen)."""
    if isinstance(error, ssl.SSLError):
        fields = {"reason": error.reason or type(error).__name__, "error": str(error)[:200]}
    elif isinstance(error, TimeoutError):
        fields = {"reason": "timeout", "error": "no handshake within MAILBUS_TLS_HANDSHAKE_TIMEOUT"}
    else:
        fields = {"reason": type(error).__name__, "error": str(error)[:200]}
    return {**fields, **getattr(sslobj, SEEN, {})}


def _observe(
    conn: Any, direction: str, version: Any, kind: Any, msg_type: Any, data: bytes
) -> None:
    """The message callback. It must never raise: OpenSSL would fail the handshake with it."""
    try:
        if kind == _HEADER:
            if direction == "read" and not hasattr(conn, SEEN):
                setattr(conn, SEEN, {"record": data[:5].hex()})
        elif kind == _HANDSHAKE:
            if msg_type == _CLIENT_HELLO and direction == "read":
                _seen(conn).update(client_hello(data))
        elif kind == _ALERT:
            name = getattr(msg_type, "name", str(msg_type)).lower()
            _seen(conn)["alert"] = f"{'sent' if direction == 'write' else 'received'} {name}"
    except Exception as exc:  # a bug here must cost a log field, never the handshake
        log_event(log, "tls.observe_failed", level=logging.DEBUG, exc_info=exc)


def _seen(conn: Any) -> dict[str, Any]:
    seen: dict[str, Any] | None = getattr(conn, SEEN, None)
    if seen is None:
        seen = {}
        setattr(conn, SEEN, seen)
    return seen


def client_hello(message: bytes) -> dict[str, Any]:
    """The versions and cipher suites a ClientHello handshake message (with its 4-byte header)
    offers, RFC 8446 §4.1.2; a truncated message gives what it holds."""
    body = bytes(message[4:])
    versions = _pairs(body[0:2])  # legacy_version
    at = 35 + (body[34] if len(body) > 34 else 0)  # after random and session id
    count = int.from_bytes(body[at : at + 2], "big")
    suites = _pairs(body[at + 2 : at + 2 + count])
    at += 2 + count
    at += 1 + (body[at] if len(body) > at else 0)  # compression methods
    end = min(len(body), at + 2 + int.from_bytes(body[at : at + 2], "big"))
    at += 2
    while at + 4 <= end:
        kind, size = int.from_bytes(body[at : at + 2], "big"), body[at + 2] << 8 | body[at + 3]
        if kind == _SUPPORTED_VERSIONS and size and len(body) > at + 4:
            versions = _pairs(body[at + 5 : at + 5 + body[at + 4]])
        at += 4 + size
    names = _cipher_names()
    return {
        "client_versions": [_VERSIONS.get(v, f"0x{v:04x}") for v in versions],
        "client_ciphers": [names.get(s, f"0x{s:04x}") for s in suites[:MAX_LISTED]],
    }


def _pairs(data: bytes) -> list[int]:
    """Big-endian 16-bit numbers; an odd last byte (a truncated message) is dropped."""
    return [data[i] << 8 | data[i + 1] for i in range(0, len(data) - 1, 2)]


@functools.cache
def _cipher_names() -> dict[int, str]:
    """IANA cipher suite number to OpenSSL's name, for every suite this OpenSSL knows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    return {c["id"] & 0xFFFF: c["name"] for c in context.get_ciphers()}
