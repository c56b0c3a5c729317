"""The PROXY protocol header: who the real client is when a TCP load balancer connects for it.

PROXY protocol (HAProxy v1/v2) names the real client behind a TCP load balancer. With
MAILBUS_PROXY_PROTOCOL=v1|v2 every connection must start with that header (never guessed,
HAProxy spec §2), only from MAILBUS_PROXY_TRUSTED networks (checked by the session at accept).
The session reads it here before its greeting; the client address it carries replaces the
balancer's for logs, the trace header and per-IP limits. A v2 LOCAL header (the balancer's own
health check) keeps the balancer's address.
"""

from __future__ import annotations

import asyncio

from aiosmtpd.proxy_protocol import V2_CMD, ProxyData, get_proxy

TIMEOUT = 5.0  # seconds for the whole header; Postfix smtpd_upstream_proxy_timeout


async def read_header(stream: asyncio.StreamReader, version: int) -> tuple[ProxyData | None, str]:
    """The header `stream` starts with: (data, "") if it is a valid PROXY header of `version`,
    else (None, why not). The caller bounds the wait (`TIMEOUT`)."""
    data = await get_proxy(stream)
    if not data.valid or data.version != version:
        return None, str(data.error or f"PROXY v{data.version}, expected v{version}")
    return data, ""


def real_client(data: ProxyData) -> tuple[str, int] | None:
    """The address the balancer speaks for; None when it speaks for itself (v2 LOCAL)."""
    if data.command == V2_CMD.LOCAL or data.src_addr is None:
        return None
    return str(data.src_addr), int(data.src_port or 0)
