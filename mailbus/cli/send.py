"""`mailbus send`: inject an .eml file over SMTP and print every reply, like a tiny MTA client."""

from __future__ import annotations

import email.parser
import email.policy
import email.utils
import smtplib
import sys


def send_file(
    path: str, *, mail_from: str | None, to: list[str] | None, host: str, port: int
) -> int:
    raw = sys.stdin.buffer.read() if path == "-" else _read(path)
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(raw)
    sender = mail_from if mail_from is not None else _first_address(headers.get_all("From", []))
    recipients = to or [a for _, a in email.utils.getaddresses(headers.get_all("To", [])) if a]
    if not recipients:
        print("mailbus send: no recipients: pass --to or give the message a To: header",
              file=sys.stderr)  # fmt: skip
        return 2
    try:
        with smtplib.SMTP(host, port, timeout=60) as smtp:
            print(f"connected to {host}:{port}")
            code, reply = smtp.ehlo()
            _show("EHLO", code, reply)
            options = ["SMTPUTF8"] if _needs_utf8(sender, recipients) else []
            code, reply = smtp.mail(sender, options)
            _show(f"MAIL FROM:<{sender}>", code, reply)
            if code != 250:
                return 1
            accepted = 0
            for rcpt in recipients:
                code, reply = smtp.rcpt(rcpt)
                _show(f"RCPT TO:<{rcpt}>", code, reply)
                accepted += code in (250, 251)
            if not accepted:
                return 1
            code, reply = smtp.data(raw)
            _show("DATA", code, reply)
            return 0 if code == 250 else 1
    except (OSError, smtplib.SMTPException) as exc:
        print(f"mailbus send: cannot talk to {host}:{port}: {exc}", file=sys.stderr)
        return 1


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _first_address(values: list[str]) -> str:
    found = [a for _, a in email.utils.getaddresses(values) if a]
    return found[0] if found else "mailbus-send@localhost"


def _needs_utf8(sender: str, recipients: list[str]) -> bool:
    return not all(a.isascii() for a in [sender, *recipients])


def _show(command: str, code: int, reply: bytes) -> None:
    text = reply.decode("utf-8", "replace").replace("\n", "\n    ")
    print(f"> {command}\n< {code} {text}")
