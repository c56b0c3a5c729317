"""The messages the benchmarks send and store: realistic text of a given size, and a multipart.

Text lines are at most 76 characters of plain words (no line starts with a dot, so nothing needs
dot-stuffing), built from a fixed seed so every run and every server gets the same bytes.
"""

from __future__ import annotations

import base64
import random
from email.message import EmailMessage

WORDS = (
    "the of and to in is that for it as was with be by on not he this are or his from at which "
    "but have an they you were her she there been one all we their has would when if so no will "
    "invoice order shipment customer support ticket account password reset attached please "
    "regards thanks meeting tomorrow report quarterly update delivery status printer office"
).split()

HEADERS = (
    "From: Load Generator <loadgen@example.org>\r\n"
    "To: bench@example.com\r\n"
    "Subject: benchmark message of {size} bytes\r\n"
    "Date: Sat, 28 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <bench-{size}@loadgen.example.org>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=us-ascii\r\n"
    "\r\n"
)


def text_lines(size: int, *, seed: int = 25) -> bytes:
    """`size` bytes of CRLF-terminated lines of words, each line at most 76 characters."""
    rng = random.Random(seed)
    out: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(WORDS).capitalize()
        while True:
            word = rng.choice(WORDS)
            if len(line) + 1 + len(word) > 76:
                break
            line += " " + word
        out.append(line + "\r\n")
        total += len(line) + 2
    body = "".join(out).encode("ascii")[:size]
    if size >= 2 and not body.endswith(b"\r\n"):
        body = body[:-2] + b"\r\n"
    return body


def smtp_message(size: int) -> bytes:
    """Headers (about 250 bytes) plus `size` bytes of payload text, CRLF line endings."""
    return HEADERS.format(size=size).encode("ascii") + text_lines(size)


def multipart_message(*, attachment_bytes: int = 28_000, text_bytes: int = 6_000) -> bytes:
    """About 50 KB: text/plain + text/html alternative and a base64 PDF-like attachment.

    The attachment starts with `%PDF-1.4` and a 12-digit serial (0 here); `multipart_copies`
    rewrites that serial so every copy's attachment, and so its sha256, is its own.
    """
    msg = EmailMessage()
    msg["From"] = "Ada Lovelace <ada@example.org>"
    msg["To"] = "Support <support@example.com>"
    msg["Subject"] = "Quarterly report, with the PDF attached"
    msg["Date"] = "Sat, 28 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = "<bench-multipart@example.org>"
    text = text_lines(text_bytes).decode("ascii").replace("\r\n", "\n")
    msg.set_content(text)
    paragraphs = "".join(f"<p>{line}</p>\n" for line in text.splitlines())
    msg.add_alternative(f"<html><body>\n{paragraphs}</body></html>\n", subtype="html")
    rng = random.Random(7)
    pdf = _serial_prefix(0) + bytes(rng.getrandbits(8) for _ in range(attachment_bytes))
    msg.add_attachment(pdf, maintype="application", subtype="pdf", filename="report.pdf")
    return bytes(msg).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _serial_prefix(serial: int) -> bytes:
    return b"%PDF-1.4\n" + b"%012d" % serial  # 21 bytes: exactly 28 base64 characters


def multipart_copies(count: int) -> list[bytes]:
    """`count` multipart messages that differ only in their attachment's serial."""
    template = multipart_message()
    marker = base64.b64encode(_serial_prefix(0))
    if template.count(marker) != 1:
        raise AssertionError("multipart template lost its attachment serial")
    return [template.replace(marker, base64.b64encode(_serial_prefix(i))) for i in range(count)]
