"""The envelope's JSON form: the job data's bytes depend on its keys and their order."""

from __future__ import annotations

from dataclasses import asdict, fields

from mailbus.envelope import Envelope

ENVELOPE = Envelope(
    mail_from="a@b.org",
    rcpt_tos=("x@example.com", "y@example.com"),
    helo="mx.b.org",
    peer="192.0.2.1:4242",
    tls=True,
    received_at=1_700_000_000.25,
    mail_options=("BODY=8BITMIME",),
    notes=("bare_lf",),
)


def test_envelope_to_dict_is_asdict_with_lists() -> None:
    expected = {**asdict(ENVELOPE), "rcpt_tos": list(ENVELOPE.rcpt_tos)}
    expected["mail_options"] = list(ENVELOPE.mail_options)
    expected["notes"] = list(ENVELOPE.notes)
    assert ENVELOPE.to_dict() == expected
    assert list(ENVELOPE.to_dict()) == [f.name for f in fields(Envelope)]
    assert Envelope.from_dict(ENVELOPE.to_dict()) == ENVELOPE
