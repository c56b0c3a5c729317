"""STARTTLS: the server-side SSL context from MAILBUS_TLS_CERT / MAILBUS_TLS_KEY.

TLS 1.2 or newer, no renegotiation, no client certificates asked for (an MX must accept any
sender, RFC 3207 §4). `load` is called at start (a bad certificate stops the listener) and again
on SIGHUP (a bad certificate then keeps the old one and logs).
"""

from __future__ import annotations

import ssl

from mailbus.settings import Settings


def load(settings: Settings) -> ssl.SSLContext | None:
    """A fresh context, or None when no certificate is configured (STARTTLS not offered)."""
    if not (settings.tls_cert and settings.tls_key):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(settings.tls_cert, settings.tls_key)
    return context
