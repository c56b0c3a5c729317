"""The example handler module `mailbus dev` runs when MAILBUS_HANDLERS is not set.

It prints what a handler sees, so a first `mailbus send` shows the whole pipeline working. Copy it
as the start of your own handlers module.
"""

from __future__ import annotations

from mailbus import InboundMessage, Router

router = Router()


@router.default
def print_message(msg: InboundMessage) -> None:
    sender = msg.from_.email if msg.from_ else msg.envelope.mail_from
    lines = [
        f"── message {msg.id}",
        f"   subject:     {msg.subject}",
        f"   from:        {sender}",
        f"   recipients:  {', '.join(msg.envelope.rcpt_tos)}",
    ]
    lines += [
        f"   attachment:  {a.filename} ({a.content_type}, {a.size} bytes)" for a in msg.attachments
    ]
    first_line = next((line for line in (msg.text or "").splitlines() if line.strip()), "")
    if first_line:
        lines.append(f"   text:        {first_line[:80]}")
    print("\n".join(lines), flush=True)
