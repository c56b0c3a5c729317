"""`msg.security`: whether a message is signed or encrypted (S/MIME or PGP), and by whom.

Owns recognising RFC 8551 S/MIME (multipart/signed with a pkcs7-signature, application/pkcs7-mime
signed or enveloped data) and RFC 3156 PGP/MIME (multipart/signed with a pgp-signature,
multipart/encrypted) by content type, and reading the S/MIME signer's certificate with
`cryptography`'s PKCS #7 loader. Nothing is verified: a handler that trusts a signature must
check it itself. Parts inside a forwarded message do not count; an encrypted body is one
attachment marked `is_encrypted`.
"""

from __future__ import annotations

import warnings

from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from mailbus.message import Attachment, Security
from mailbus.parse.limits import Budget
from mailbus.parse.mime import Part

_SMIME_SIGNATURES = {"application/pkcs7-signature", "application/x-pkcs7-signature"}
_SMIME_MIME = {"application/pkcs7-mime", "application/x-pkcs7-mime"}
_PGP_CONTROL = "application/pgp-encrypted"


def is_pgp_control(parts: list[Part], part: Part) -> bool:
    """The `Version: 1` part of PGP/MIME encryption: protocol noise, not an attachment."""
    parent = parts[part.parent] if part.parent is not None else None
    return (
        part.content_type == _PGP_CONTROL
        and parent is not None
        and parent.content_type == "multipart/encrypted"
    )


def inspect(parts: list[Part], attachments: list[Attachment], budget: Budget) -> Security:
    """The message's Security, marking encrypted attachments on the way."""
    signed: str | None = None
    encrypted: str | None = None
    signer: bytes = b""
    for part in _outer(parts):
        protocol = part.params.get("protocol", "").strip().lower()
        if part.content_type == "multipart/signed":
            signed = signed or ("pgp" if "pgp" in protocol else "smime")
        elif part.content_type == "multipart/encrypted" and "pgp" in protocol:
            encrypted = encrypted or "pgp"
            _mark_children(parts, attachments, part)
        elif part.content_type in _SMIME_SIGNATURES and part.attachment is not None:
            signer = signer or attachments[part.attachment].read()
        elif part.content_type in _SMIME_MIME and part.attachment is not None:
            kind = part.params.get("smime-type", "").strip().lower()
            if kind == "signed-data":
                signed = signed or "smime"
                signer = signer or attachments[part.attachment].read()
            elif kind != "certs-only":
                encrypted = encrypted or "smime"
                attachments[part.attachment].is_encrypted = True
    subject, email = _signer(signer, budget) if signer else (None, None)
    return Security(signed, encrypted, subject, email)


def _outer(parts: list[Part]) -> list[Part]:
    """Parts of the message itself, not of a forwarded message inside it."""
    inside = [False] * len(parts)
    for i, part in enumerate(parts):
        if part.parent is not None:
            parent = parts[part.parent]
            inside[i] = inside[part.parent] or parent.kind == "message"
    return [part for i, part in enumerate(parts) if not inside[i]]


def _mark_children(parts: list[Part], attachments: list[Attachment], parent: Part) -> None:
    index = parts.index(parent)
    for part in parts:
        if part.parent == index and part.attachment is not None:
            attachments[part.attachment].is_encrypted = True


def _signer(data: bytes, budget: Budget) -> tuple[str | None, str | None]:
    """Subject and e-mail address of the signing certificate in a PKCS #7 blob."""
    try:
        with warnings.catch_warnings():  # BER (Outlook's) is read with a warning: not ours to show
            warnings.simplefilter("ignore", UserWarning)
            certs = pkcs7.load_der_pkcs7_certificates(data)
    except Exception:  # noqa: BLE001 - not DER: maybe PEM armour, else unreadable
        try:
            certs = pkcs7.load_pem_pkcs7_certificates(data)
        except Exception as exc:  # noqa: BLE001 - a bad blob is a defect, never a failure
            budget.defect("", "smime_unreadable", type(exc).__name__)
            return None, None
    if not certs:
        return None, None
    cert = next((c for c in certs if not _is_ca(c)), certs[0])
    return cert.subject.rfc4514_string(), _email(cert)


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _email(cert: x509.Certificate) -> str | None:
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        found = names.get_values_for_type(x509.RFC822Name)
        if found:
            return found[0]
    except x509.ExtensionNotFound:
        pass
    emails = cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    return str(emails[0].value) if emails else None
