"""The bulk DATA reader: turns the byte stream after 354 into one message, or a size overflow.

aiosmtpd reads DATA line by line, refuses lines over 1001 bytes with a permanent 500 and holds
about 2.7x the message in memory. This reader takes whole socket reads, ends the message only at
<CRLF>.<CRLF> (so no smuggling variant such as <LF>.<LF> or <CR>.<CR> can split it), removes
one leading dot per line (RFC 5321 §4.5.2), accepts lines of any length, and appends straight
into the buffer that becomes the stored object (trace headers first), hashing as it goes: the
memory per message stays close to its size. Past the size limit it keeps reading to the end of
the message and discards, so the session can still answer 552 and continue.
"""

from __future__ import annotations

import hashlib

from mailbus.envelope import Envelope
from mailbus.trace import finish_digest

END = b"\r\n.\r\n"
# Sequences that end DATA in some broken MTA; seeing one is worth a log line (catalogue A31).
SMUGGLING = (b"\n.\n", b"\n.\r", b"\r.\r", b"\r.\n", b"\r\n\x00.", b"\r\n.\x00")


class DataReader:
    """Feed socket reads with `feed`; `buffer[start:]` is the message as received."""

    def __init__(self, prefix: bytes, limit: int) -> None:
        self.buffer = bytearray(prefix)
        self.start = len(prefix)
        self.limit = limit
        self.size = 0
        self.received = 0  # raw bytes on the wire, for rates and logs
        self.too_big = False
        self.dropped = False
        self._pending = b"\r\n"  # unprocessed raw tail; starts with a virtual CRLF
        self._virtual = 2  # bytes of that virtual CRLF still to strip from the output
        self._prev = b""  # last two raw bytes already processed, for dot-unstuffing
        self._hash = hashlib.sha256()

    @property
    def held(self) -> int:
        return len(self.buffer) - self.start

    def feed(self, chunk: bytes) -> int:
        """Take one read; return -1 while the message goes on, else the bytes of `chunk` used
        (what follows belongs to the next command)."""
        self.received += len(chunk)
        data = self._pending + chunk
        end = data.find(END)
        if end < 0:
            keep = min(len(data), 4)  # a terminator may straddle this read and the next
            self._process(data[: len(data) - keep])
            self._pending = data[len(data) - keep :]
            return -1
        self._process(data[: end + 2])
        self._pending = b""
        return end + 5 - (len(data) - len(chunk))

    def _process(self, raw: bytes) -> None:
        if not raw:
            return
        joined = self._prev + raw
        out = joined.replace(b"\r\n.", b"\r\n")[len(self._prev) :]
        self._prev = joined[-2:]
        if self._virtual:
            strip = min(self._virtual, len(out))
            out = out[strip:]
            self._virtual -= strip
        self.size += len(out)
        if self.size > self.limit and not self.too_big:
            self.too_big = True
            self.drop()
        if not self.dropped:
            self.buffer += out
            self._hash.update(out)

    def drop(self) -> None:
        """Stop keeping the message (too big, or no memory budget left); keep reading to its end."""
        self.dropped = True
        del self.buffer[self.start :]

    def digest(self, envelope: Envelope) -> str:
        """`mailbus.trace.delivery_digest(received, envelope)`, without a copy of the message."""
        return finish_digest(self._hash.copy(), envelope)

    def notes(self) -> list[str]:
        """Flags for the log and the policy: bare_lf, bare_cr, nul, smuggling_suspect."""
        buf, start = self.buffer, self.start
        crlf = buf.count(b"\r\n", start)
        found = []
        if buf.count(b"\n", start) != crlf:
            found.append("bare_lf")
        if buf.count(b"\r", start) != crlf:
            found.append("bare_cr")
        if buf.find(b"\x00", start) >= 0:
            found.append("nul")
        if found and any(buf.find(seq, start) >= 0 for seq in SMUGGLING):
            found.append("smuggling_suspect")
        return found
