"""A stand-in for `mailbus listen` while `listener.server` does not exist yet: the same work.

It does what the real listener must do per message (trace headers, raw bytes and the RQ job in
one MULTI/EXEC from a thread, `250` only after EXEC), with aiosmtpd and none of the front-door
policy. The bench uses it only when `listener.server` cannot be imported, and labels its rows
`(proto)` so its figures are never mistaken for the listener's.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from typing import Any

from mailbus.connections import redis_connection
from mailbus.envelope import Envelope
from mailbus.ids import new_message_id
from mailbus.queue import enqueue_message, message_queue
from mailbus.settings import Settings
from mailbus.stores import RedisStore, raw_key
from mailbus.trace import delivery_digest, trace_headers


class PersistHandler:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.connection = redis_connection(settings.redis_url, fail_fast=True)
        self.store = RedisStore(self.connection, raw_ttl=settings.raw_ttl)
        self.queue = message_queue(self.connection, settings)

    def _persist(self, message_id: str, envelope: Envelope, received: bytes) -> None:
        data = trace_headers(envelope, message_id, self.settings.hostname) + received
        key = raw_key(message_id)
        with self.connection.pipeline(transaction=True) as pipe:
            pipe.multi()
            self.store.put_raw(key, data, pipeline=pipe)
            enqueue_message(
                self.queue,
                self.settings,
                message_id=message_id,
                raw_key=key,
                envelope=envelope,
                digest=delivery_digest(received, envelope),
                pipeline=pipe,
            )
            pipe.execute()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message_id = new_message_id()
        env = Envelope(
            mail_from=envelope.mail_from or "",
            rcpt_tos=tuple(envelope.rcpt_tos),
            helo=session.host_name or "",
            peer=f"{session.peer[0]}:{session.peer[1]}",
            received_at=time.time(),
        )
        loop = asyncio.get_running_loop()
        try:
            await asyncio.shield(
                loop.run_in_executor(
                    None, self._persist, message_id, env, envelope.original_content
                )
            )
        except Exception:
            return f"451 4.3.0 Temporary failure, try again later ({message_id})"
        return f"250 2.0.0 Ok: queued as {message_id}"


async def serve(settings: Settings) -> None:
    from aiosmtpd.smtp import SMTP

    handler = PersistHandler(settings)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname=settings.hostname, decode_data=False),
        settings.host,
        settings.port,
        reuse_port=True,
        backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main() -> int:
    settings = Settings.from_env(role="listen")
    try:
        import uvloop

        uvloop.run(serve(settings))
    except ImportError:
        asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
