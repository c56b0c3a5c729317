"""Before the first command: the PROXY header, the greeting and the early-talker check.

PROXY protocol (HAProxy v1/v2) names the real client behind a TCP load balancer. With
MAILBUS_PROXY_PROTOCOL=v1|v2 every connection must start with that header (never guessed,
HAProxy spec §2), only from MAILBUS_PROXY_TRUSTED networks (checked at accept). The client
address it carries replaces the balancer's for logs, the trace header and per-IP limits. A v2
LOCAL header (the balancer's own health check) keeps the balancer's address.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from aiosmtpd.proxy_protocol import V2_CMD, get_proxy

from listener import replies
from listener.commands import safe
from mailbus.logs import log_event

if TYPE_CHECKING:
    from listener.session import Session

log = logging.getLogger("mailbus.listener")
PROXY_TIMEOUT = 5.0  # Postfix smtpd_upstream_proxy_timeout


async def greet(session: Session) -> bool:
    """PROXY header if configured, then the 220 (after MAILBUS_GREET_WAIT; a client that talks
    before it gets MAILBUS_GREET_ACTION, catalogue A10); False when the session is over."""
    settings = session.ctx.settings
    if settings.proxy_protocol != "off" and not await read_header(session):
        return False
    banner = f"220 {session.hostname} ESMTP mailbus"
    if settings.greet_wait > 0:
        await session._send_raw(banner.replace("220 ", "220-", 1))
        await asyncio.sleep(settings.greet_wait)
        early = bytes(session._reader._buffer[:100])  # type: ignore[attr-defined]
        if early:
            action = settings.greet_action
            log_event(log, "session.pregreet", peer=session.peer_ip, first=safe(early),
                      action=action)  # fmt: skip
            session.count("pregreet")
            if action == "drop":
                await session.close_with(replies.PREGREET, "pregreet")
                return False
            session.pregreeted = action == "enforce"
    await session._send_raw(banner)
    return True


async def read_header(session: Session) -> bool:
    """PROXY header first (required, never guessed); limits then apply to the real client."""
    assert session.session is not None
    session.arm(min(PROXY_TIMEOUT, session.ctx.settings.timeout))
    data = await get_proxy(session._reader)
    wanted = int(session.ctx.settings.proxy_protocol[1])
    if not data.valid or data.version != wanted:
        session.count("proxy_invalid")
        log_event(log, "session.proxy_invalid", peer=session.peer_ip, error=data.error)
        session.close_reason = "proxy_invalid"
        assert session.transport is not None
        session.transport.close()
        return False
    session.session.proxy_data = data
    if data.command != V2_CMD.LOCAL and data.src_addr is not None:
        session.peer_ip, session.peer_port = str(data.src_addr), int(data.src_port or 0)
        session.session.peer = (session.peer_ip, session.peer_port)  # type: ignore[assignment]
    reason = session.admit_client()
    if reason:
        reply = replies.too_many_connections(session.hostname, session.peer_ip)
        await session.close_with(reply, reason)
        return False
    session.arm()
    return True
