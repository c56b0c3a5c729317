"""aiosmtpd's SMTP protocol behind named methods: the one module that touches its private names.

`Session` runs its own command loop, timer and DATA reader on top of aiosmtpd's `SMTP` (pinned in
pyproject.toml), which has no public hooks for them. Every aiosmtpd private name it needs
(`_handle_client`, `_timeout_cb`, `_getaddr`, `_reader`, `_reset_timeout`, `_timeout_handle`,
`_set_rset_state`, `_set_post_data_state`, `_smtp_methods`, `_tls_protocol`,
`_original_transport`) is used here and nowhere else, each behind a method that says what it
does; so is asyncio's `StreamReader._buffer` (`buffered`). An aiosmtpd upgrade is checked
against this file and tests/listener/test_address_fast_path.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from typing import Any, cast

from aiosmtpd.smtp import SMTP, TLSSetupException

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
# `<dot-atom@domain>`, what almost every MAIL and RCPT carries.
_PLAIN_PATH = re.compile(rf"\s*<({_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*)>")


def buffered(reader: asyncio.StreamReader) -> bytearray:
    """The bytes `reader` holds that nobody has read yet: asyncio's private `_buffer`, the only
    way to see pipelined input without waiting for it. Every use of that name is this one."""
    buffer: bytearray = reader._buffer  # type: ignore[attr-defined]
    return buffer


class SmtpProtocol(SMTP):
    """aiosmtpd's protocol with its internals named; `Session` builds on these methods only."""

    def __dir__(self) -> list[str]:
        """Only the smtp_ commands a subclass serves: aiosmtpd's __init__ scans dir() of the
        protocol on every connection, which cost more than a whole 2 KB message's persist; a
        class's names never change, so they are listed once. An MX takes no AUTH, so neither
        smtp_AUTH nor the auth_ mechanisms are listed: AUTH is "command not recognized"."""
        return list(self.served)

    served: tuple[str, ...] = ()  # the smtp_ names of the class, listed once per subclass

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.served = tuple(n for n in dir(cls) if n.startswith("smtp_") and n != "smtp_AUTH")

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """aiosmtpd makes a new `session` for the TLS transport after STARTTLS; the peer and
        the PROXY header it carries are kept, they are the same client's."""
        if not self.upgraded:
            super().connection_made(transport)
            return
        assert self.session is not None
        peer, proxy_data = self.session.peer, self.session.proxy_data
        super().connection_made(transport)
        self.session.peer, self.session.proxy_data = peer, proxy_data

    def eof_received(self) -> bool | None:
        """Half-close: finish the replies (and any persist) instead of cancelling like aiosmtpd."""
        asyncio.StreamReaderProtocol.eof_received(self)
        return False if self.tls_active else True

    # -- aiosmtpd calls these private names; they lead to the session's own methods -------
    async def _handle_client(self) -> None:
        await self.serve()

    def _timeout_cb(self) -> None:
        self.on_timeout()

    async def serve(self) -> None:
        """The command loop, from the first byte to the close (the session's)."""
        raise NotImplementedError

    def on_timeout(self) -> None:
        """The session timer fired (the session's)."""
        raise NotImplementedError

    def _getaddr(self, arg: str) -> tuple[str | None, str | None]:
        """A plain `<user@example.com>` without the e-mail header parser: aiosmtpd's parse (and
        the class it defines on every call) was an eighth of a small message's CPU. Anything
        else (quoted, non-ASCII, literals, no brackets) goes to aiosmtpd's full parser."""
        plain = _PLAIN_PATH.match(arg) if "(" not in arg else None  # no comments to skip
        if plain is None:
            return super()._getaddr(arg)
        return plain.group(1), arg[plain.end() :].lstrip()

    # -- the input stream -----------------------------------------------------------------
    @property
    def stream(self) -> asyncio.StreamReader:
        reader: asyncio.StreamReader = self._reader
        return reader

    def pending(self) -> int:
        """Bytes the client sent that no command has read yet (pipelined input)."""
        return len(buffered(self._reader))

    def peek(self, size: int) -> bytes:
        """Up to `size` unread bytes, left in place."""
        return bytes(buffered(self._reader)[:size])

    def unread(self, data: bytes) -> None:
        """Put bytes read past the end of DATA back in front of the stream, for the next command."""
        buffered(self._reader)[0:0] = data

    # -- the one session timer ------------------------------------------------------------
    def arm(self, seconds: float | None = None) -> None:
        """(Re)start the session timer: `seconds`, or MAILBUS_TIMEOUT; when it fires, on_timeout."""
        self._reset_timeout(max(seconds, 0.001) if seconds is not None else None)

    def disarm(self) -> None:
        """Stop the timer while something with its own bound runs (TLS handshake, persist)."""
        assert self._timeout_handle is not None
        self._timeout_handle.cancel()

    # -- transaction state and commands ---------------------------------------------------
    def reset_transaction(self) -> None:
        """A fresh envelope, as after RSET or a new EHLO."""
        self._set_rset_state()

    def end_transaction(self) -> None:
        """A fresh envelope after DATA, whatever its outcome."""
        self._set_post_data_state()

    def command(self, verb: str) -> Any:
        """The bound `smtp_<VERB>` method aiosmtpd found for `verb`, or None."""
        return self._smtp_methods.get(verb)

    async def send_raw(self, line: str) -> None:
        """A reply written as is (greeting, EHLO lines, replies that must not be rewritten)."""
        await SMTP.push(self, line)

    # -- TLS ------------------------------------------------------------------------------
    @property
    def tls_active(self) -> bool:
        """STARTTLS was accepted on this connection (the handshake may still be running)."""
        return self._tls_protocol is not None

    @property
    def upgraded(self) -> bool:
        """connection_made is being called again, for the TLS transport after STARTTLS."""
        return self.transport is not None and self._original_transport is not None

    async def start_tls(self, timeout: float) -> None:
        """aiosmtpd's STARTTLS (220, then the handshake), within `timeout` seconds; a handshake
        that fails or takes longer raises TLSSetupException with the cause chained."""
        try:
            await asyncio.wait_for(SMTP.smtp_STARTTLS(self, None), timeout)
        except TimeoutError as exc:
            raise TLSSetupException("handshake timeout") from exc

    def tls_object(self) -> object:
        """asyncio's SSLObject of the handshake, where `tls.py`'s callback keeps what it saw."""
        return getattr(self._tls_protocol, "_sslobj", None)

    def write_and_close(
        self, reply: str | None, transport: asyncio.BaseTransport | None = None
    ) -> None:
        """Write `reply` without waiting, then close: refusals, timeouts and drain. A TLS layer
        already torn down loses the reply, not the close."""
        transport = transport or self.transport
        if transport is None:
            return
        if reply is not None and not transport.is_closing():
            with contextlib.suppress(AttributeError, RuntimeError):
                cast(asyncio.WriteTransport, transport).write(reply.encode() + b"\r\n")
        transport.close()

    def hang_up(self, error: Exception) -> None:
        """Close both transports (TLS and plain) now; a failed handshake never reaches
        connection_lost on its own, so it is called here."""
        for transport in (self.transport, self._original_transport):
            if transport is not None:
                transport.close()
        if self._tls_protocol is not None and self.session and self.session.ssl is None:
            self.connection_lost(error)
