"""One command line before any handler sees it: read whole (or discarded whole), split, vetted.

These are the checks aiosmtpd's own loop lacks: bare-LF line endings (MAILBUS_BARE_LF), verbs
that are not letters, HTTP and other protocols on the SMTP port, the RFC 5321 line limits, and
pipelining that EHLO did not allow (RFC 2920). Which `smtp_<VERB>` runs, and what it answers, is
the session's business.
"""

from __future__ import annotations

import asyncio
import logging

from listener import replies
from mailbus.logs import escape, log_event

log = logging.getLogger("mailbus.listener")

ENDS_GROUP = frozenset({"EHLO", "HELO", "DATA", "VRFY", "EXPN", "NOOP"})  # RFC 2920 §3.1
NON_SMTP = frozenset({"GET", "POST", "HEAD", "PUT", "CONNECT", "OPTIONS", "USER"})
COMMAND_MAX, MAIL_MAX = 512, 600  # with CRLF; MAIL may carry SIZE/BODY/SMTPUTF8 after EHLO


async def read_line(stream: asyncio.StreamReader) -> bytes | None:
    """One command line with its ending; b"" when it was too long (discarded whole, so its
    tail is never parsed as a command), None at the end of input."""
    try:
        return await stream.readuntil(b"\n")
    except asyncio.IncompleteReadError:
        return None
    except asyncio.LimitOverrunError as overrun:
        consumed = overrun.consumed
    while True:
        await stream.read(consumed)
        try:
            await stream.readuntil(b"\n")
            return b""
        except asyncio.IncompleteReadError:
            return None
        except asyncio.LimitOverrunError as overrun:
            consumed = overrun.consumed


def split(raw: bytes) -> tuple[bytes, str, bytes, bool]:
    """(the line without its ending, VERB, argument bytes, whether it ended in CRLF)."""
    crlf = raw.endswith(b"\r\n")
    line = raw[:-2] if crlf else raw[:-1]
    verb_bytes, _, arg = line.partition(b" ")
    try:
        verb = verb_bytes.decode("ascii").upper()
    except UnicodeDecodeError:
        verb = ""
    return line, verb, arg, crlf


def refusal(
    line: bytes,
    verb: str,
    *,
    crlf: bool,
    reject_bare_lf: bool,
    extended: bool,
    pipelined: bool,
    peer: str,
) -> tuple[str, str] | None:
    """(reply, reason) refusing the line before its handler runs, or None. A reason means the
    session closes after the reply ("bare_lf", "non_smtp", "pipelining"); "" means it goes on.
    Another protocol and a broken pipeline are logged here, with `peer`."""
    if not crlf and reject_bare_lf:
        return replies.BARE_LF, "bare_lf"
    if not verb.isalpha() and not verb.endswith(":"):
        return replies.BAD_SYNTAX, ""
    if verb in NON_SMTP or verb.endswith(":"):
        log_event(log, "session.non_smtp", peer=peer, line=escape(line))
        return replies.NON_SMTP, "non_smtp"
    if len(line) + 2 > (MAIL_MAX if verb == "MAIL" and extended else COMMAND_MAX):
        return replies.COMMAND_TOO_LONG, ""
    if pipelined and verb not in ("QUIT", "STARTTLS") and (not extended or verb in ENDS_GROUP):
        log_event(log, "session.pipelining", peer=peer, verb=verb)
        return replies.SYNC_ERROR, "pipelining"
    return None
