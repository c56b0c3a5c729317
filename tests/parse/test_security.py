"""`msg.security`: S/MIME and PGP signed or encrypted mail, and the S/MIME signer's certificate."""

from __future__ import annotations

import base64
import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs7
from cryptography.x509.oid import NameOID

from mailbus.message import Security
from mailbus.parse import parse

BODY = b"Content-Type: text/plain; charset=utf-8\r\n\r\nThe contract is attached.\r\n"


def _signature(email: str = "alice@example.com") -> bytes:
    """A detached S/MIME signature over BODY by a fresh self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Alice Example"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Ltd"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(BODY)
        .add_signer(cert, key, hashes.SHA256())
        .sign(Encoding.DER, [pkcs7.PKCS7Options.DetachedSignature])
    )


def _multipart(content_type: bytes, *parts: bytes, boundary: bytes = b"s") -> bytes:
    out = b"Subject: secure\r\nContent-Type: " + content_type + b'; boundary="' + boundary
    out += b'"\r\n\r\n'
    for part in parts:
        out += b"--" + boundary + b"\r\n" + part + b"\r\n"
    return out + b"--" + boundary + b"--\r\n"


def _smime_signed() -> bytes:
    signature = base64.encodebytes(_signature()).replace(b"\n", b"\r\n")
    return _multipart(
        b'multipart/signed; protocol="application/pkcs7-signature"; micalg=sha-256',
        BODY,
        b'Content-Type: application/pkcs7-signature; name="smime.p7s"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n" + signature,
    )


def test_smime_signed_gives_the_signer_and_keeps_the_body() -> None:
    msg = parse(_smime_signed())
    assert msg.security.signed == "smime" and msg.security.encrypted is None
    assert msg.security.signer_email == "alice@example.com"
    assert msg.security.signer_subject == "O=Example Ltd,CN=Alice Example"
    assert msg.text == "The contract is attached.\n"
    assert [a.filename for a in msg.attachments] == ["smime.p7s"]
    assert msg.to_dict()["security"]["signer_email"] == "alice@example.com"


def test_smime_encrypted_body_is_one_encrypted_attachment() -> None:
    raw = (
        b"Subject: secret\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data;"
        b' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
        + base64.encodebytes(b"\x30\x80 opaque enveloped data")
    )
    msg = parse(raw)
    assert msg.security == Security(encrypted="smime")
    [att] = msg.attachments
    assert att.is_encrypted and att.filename == "smime.p7m"


def test_pgp_signed_and_encrypted_are_recognised_by_content_type() -> None:
    signed = _multipart(
        b'multipart/signed; protocol="application/pgp-signature"; micalg=pgp-sha256',
        BODY,
        b"Content-Type: application/pgp-signature; name=signature.asc\r\n\r\n"
        b"-----BEGIN PGP SIGNATURE-----\r\n\r\niQ==\r\n-----END PGP SIGNATURE-----\r\n",
    )
    msg = parse(signed)
    assert msg.security == Security(signed="pgp")
    assert msg.text == "The contract is attached.\n"
    encrypted = _multipart(
        b'multipart/encrypted; protocol="application/pgp-encrypted"',
        b"Content-Type: application/pgp-encrypted\r\n\r\nVersion: 1\r\n",
        b'Content-Type: application/octet-stream; name="encrypted.asc"\r\n\r\n'
        b"-----BEGIN PGP MESSAGE-----\r\n\r\nhQ==\r\n-----END PGP MESSAGE-----\r\n",
    )
    msg = parse(encrypted)
    assert msg.security == Security(encrypted="pgp")
    [att] = msg.attachments
    assert att.is_encrypted and att.filename == "encrypted.asc"


def test_a_signed_message_forwarded_inside_does_not_make_the_outer_one_signed() -> None:
    raw = _multipart(
        b"multipart/mixed",
        b"Content-Type: text/plain\r\n\r\nsee attached\r\n",
        b"Content-Type: message/rfc822\r\n\r\n" + _smime_signed(),
        boundary=b"outer",
    )
    assert parse(raw).security == Security()


def test_unreadable_signature_is_a_defect_not_a_failure() -> None:
    raw = _multipart(
        b'multipart/signed; protocol="application/pkcs7-signature"',
        BODY,
        b"Content-Type: application/pkcs7-signature\r\n\r\nnot der at all\r\n",
    )
    msg = parse(raw)
    assert msg.security == Security(signed="smime")
    assert "smime_unreadable" in [d.kind for d in msg.defects]
