"""The reply map: every reply the listener sends, with its RFC 3463 enhanced status code.

We advertise ENHANCEDSTATUSCODES, so every reply after the greeting and EHLO must carry one
(clients such as libESMTP reject replies without). Our own replies are the constants below
(Postfix wording); `enhance` rewrites aiosmtpd's built-in replies, which mostly lack a code,
so nothing leaves the server without one. A temporary failure once a message has an id (DATA
answered with 354) ends with ` (id=<message id>)` (`with_id`).
"""

from __future__ import annotations

import re

OK = "250 2.0.0 Ok"
SENDER_OK = "250 2.1.0 Ok"
RECIPIENT_OK = "250 2.1.5 Ok"
BYE = "221 2.0.0 Bye"
NON_SMTP = "221 2.7.0 Error: I can break rules, too. Goodbye."
START_DATA = "354 End data with <CR><LF>.<CR><LF>"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"
TOO_BUSY = "421 4.3.2 Too busy; please try again later"
QUEUE_ERROR = "451 4.3.0 Error: queue file write error"  # sent as queue_error(id)
NO_STORAGE = "452 4.3.1 Insufficient system storage"
TOO_MANY_RECIPIENTS = "452 4.5.3 Error: too many recipients"
# MAILBUS_RECIPIENT_CHECK (listener.recipients): the address is unknown, the check failed or
# gave no answer (the sender retries), the check took too long.
NO_MAILBOX = "550 5.1.1 <{address}>: Recipient address rejected: no such mailbox"
TRY_LATER = "450 4.2.0 <{address}>: Recipient address rejected: try again later"
TIMED_OUT = "451 4.4.3 <{address}>: Recipient address rejected: check timed out, try again later"
TLS_UNAVAILABLE = "454 4.7.0 TLS not available due to local problem"
BAD_SYNTAX = "500 5.5.2 Error: bad syntax"
COMMAND_TOO_LONG = "500 5.5.2 Error: command too long"
UNKNOWN_COMMAND = "500 5.5.2 Error: command not recognized"
BAD_UTF8 = "500 5.5.2 Error: bad UTF-8 syntax"
BAD_SENDER = "501 5.1.7 Bad sender address syntax"
BAD_RECIPIENT = "501 5.1.3 Bad recipient address syntax"
SYNTAX_DATA = "501 5.5.4 Syntax: DATA"
SYNTAX_STARTTLS = "501 5.5.4 Syntax: STARTTLS"
SYNTAX_HELO = "501 5.5.4 Syntax: {verb} hostname"
NOT_IMPLEMENTED = "502 5.5.1 Error: command not implemented"
NEED_HELO = "503 5.5.1 Error: send HELO/EHLO first"
NEED_RCPT = "503 5.5.1 Error: need RCPT command"
PREGREET = "521 5.5.1 Protocol error"
PREGREET_ENFORCED = "550 5.5.1 Protocol error"
BARE_LF = "550 5.5.2 Error: bare <LF> received"
RELAY_DENIED = "550 5.7.1 <{address}>: Relay access denied"
TOO_BIG = "552 5.3.4 Message size exceeds fixed limit"
NEED_SMTPUTF8 = "553 5.6.7 Must declare SMTPUTF8 to send unicode address"
SYNC_ERROR = "554 5.5.0 Error: SMTP protocol synchronization"
NO_VALID_RECIPIENTS = "554 5.5.1 Error: no valid recipients"
TLS_ACTIVE = "554 5.5.1 Error: TLS already active"


def ehlo(host: str, *, size: int, starttls: bool) -> str:
    """The EHLO reply, one write: exactly the extensions we honour (no AUTH on an MX)."""
    lines = [host, f"SIZE {size}", "8BITMIME", "PIPELINING", "SMTPUTF8", "ENHANCEDSTATUSCODES"]
    lines += ["STARTTLS"] if starttls else []
    last = len(lines) - 1
    return "\r\n".join(("250 " if i == last else "250-") + line for i, line in enumerate(lines))


def queued(message_id: str) -> str:
    return f"250 2.0.0 Ok: queued as {message_id}"


def queue_error(message_id: str) -> str:
    return with_id(QUEUE_ERROR, message_id)


def with_id(reply: str, message_id: str | None) -> str:
    """A temporary failure names the message it refuses, as Haraka does: the sender's bounce or
    retry log then leads an operator to our log lines for that id (and so to the session)."""
    return f"{reply} (id={message_id})" if message_id else reply


def timeout(host: str) -> str:
    return f"421 4.4.2 {host} Error: timeout exceeded"


def too_many_errors(host: str) -> str:
    return f"421 4.7.0 {host} Error: too many errors"


def too_many_connections(host: str, ip: str) -> str:
    return f"421 4.7.0 {host} Error: too many connections from {ip}"


def too_much_mail(ip: str) -> str:
    return f"450 4.7.1 Error: too much mail from {ip}"


def too_many_recipients_from(ip: str) -> str:
    return f"450 4.7.1 Error: too many recipients from {ip}"


def too_many_tls_sessions(ip: str) -> str:
    return f"454 4.7.0 Error: too many new TLS sessions from {ip}"


def proxy_refused(host: str, ip: str) -> str:
    return f"421 4.7.0 {host} Error: PROXY not allowed from {ip}"


def internal_error(host: str) -> str:
    return f"421 4.3.0 {host} Error: internal error"


# aiosmtpd's built-in replies that we word differently (prefix match on the text).
_REWRITES = {
    "250 OK": OK,
    "221 Bye": BYE,
    "503 Error: send HELO first": NEED_HELO,
    "503 Error: send EHLO first": NEED_HELO,
    "552 Error: message size exceeds fixed maximum": TOO_BIG,
    "500 Error: command": UNKNOWN_COMMAND,
    "500 Command line too long": COMMAND_TOO_LONG,
    "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
}
# Default enhanced code per basic code, for replies that carry none.
_DEFAULTS = {
    "2": "2.0.0",
    "421": "4.3.0",
    "451": "4.3.0",
    "452": "4.3.1",
    "454": "4.7.0",
    "4": "4.0.0",
    "500": "5.5.2",
    "501": "5.5.4",
    "502": "5.5.1",
    "503": "5.5.1",
    "504": "5.5.4",
    "530": "5.7.0",
    "552": "5.3.4",
    "553": "5.1.3",
    "555": "5.5.4",
    "5": "5.0.0",
}
_HAS_CODE = re.compile(r"^\d{3}[ -][245]\.\d{1,3}\.\d{1,3}(?: |$)")


def enhance(reply: str) -> str:
    """`reply` with an enhanced status code; 1xx/3xx replies (354, 334) have none by design."""
    if _HAS_CODE.match(reply) or reply[:1] not in ("2", "4", "5"):
        return reply
    for prefix, ours in _REWRITES.items():
        if reply.startswith(prefix):
            return ours
    code, text = reply[:3], reply[4:]
    enhanced = _DEFAULTS.get(code) or _DEFAULTS[code[0]]
    return f"{code}{reply[3:4] or ' '}{enhanced} {text}".rstrip()
