"""mailbus.auth.fields reads From and Authentication-Results exactly as email.parser does.

The verdicts must not change with the faster reader: every case here, hostile ones included, is
compared with `BytesHeaderParser(policy=compat32)`, which the pipeline used before.
"""

from __future__ import annotations

from email.parser import BytesHeaderParser
from email.policy import compat32

import pytest

from mailbus.auth.fields import header_values

NAMES = ("from", "authentication-results")
HEADS = [
    b"From: a@example.org\r\nTo: b@example.net\r\n",
    b"from: a@example.org\r\nFROM: c@example.com\r\n",
    b"From: A\r\n <a@example.org>,\r\n\tB <b@example.net>\r\nSubject: x\r\n",
    b"From a@example.org Mon Jan  1 00:00:00 2024\r\nFrom: b@example.net\r\n",
    b"Subject: x\r\nFrom b@example.org misplaced\r\n  continuation\r\nFrom: c@example.com\r\n",
    b"Subject: x\r\nFrom: a@example.org\r\nFrom not a header\r\n",
    b" leading continuation\r\nFrom: a@example.org\r\n",
    b": no name\r\n continued\r\nFrom: a@example.org\r\n",
    b"X: 1\r\ngarbage line\r\nFrom: hidden@example.org\r\n",
    b"From : spaced@example.org\r\nFrom:tight@example.org\r\n",
    b"From: a@example.org\rTo: bare-cr\rFrom: b@example.net\r",
    b"From: a@example.org\nAuthentication-Results: mx.test; spf=pass\n",
    b"From: =?utf-8?q?Caf=C3=A9?= <a@example.org>\r\n",
    "From: Zoë <zoe@exämple.org>\r\n".encode(),
    b"From: \xff\xfe <raw@example.org>\r\n",
    b"Authentication-Results: mx.test;\r\n spf=pass (comment\r\n  folded) smtp.mailfrom=x\r\n"
    b"authentication-results: other; dkim=pass\r\nFrom: a@example.org\r\n",
    b"From: a@example.org\r\n\r\nFrom: body@example.org\r\n",
    b"",
    b"From:\r\n",
    b"From: a@example.org\r\nX-Long: " + b"y" * 5000 + b"\r\n",
]


@pytest.mark.parametrize("head", HEADS)
def test_same_values_as_the_stdlib_parser(head: bytes) -> None:
    head = head + b"\r\n\r\n"
    message = BytesHeaderParser(policy=compat32).parsebytes(head)
    expected = {name: [str(v) for v in message.get_all(name) or []] for name in NAMES}
    assert header_values(head, NAMES) == expected
