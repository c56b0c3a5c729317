"""A test certificate authority: the HTTPS certificate of the stand-in SNS host, and the key
and certificate that sign SNS messages the way AWS does (SignatureVersion 1 and 2)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),  # fmt: skip
}


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
    *, ca: bool = False, ip: str | None = None,
) -> x509.Certificate:  # fmt: skip
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ip:
        san = [x509.IPAddress(ipaddress.ip_address(ip)), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(item: Any) -> bytes:
    if isinstance(item, x509.Certificate):
        return item.public_bytes(serialization.Encoding.PEM)
    return item.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption())  # fmt: skip


@dataclass
class Pki:
    directory: Path

    def __post_init__(self) -> None:
        ca_key = _key()
        ca = _certificate("mailbus test CA", ca_key, None, ca=True)
        server_key = _key()
        server = _certificate("127.0.0.1", server_key, (ca.subject, ca_key), ip="127.0.0.1")
        self.signing_key = _key()
        signing = _certificate("sns.amazonaws.com", self.signing_key, (ca.subject, ca_key))
        self.ca_file = self.directory / "ca.pem"
        self.ca_file.write_bytes(_pem(ca))
        self.server_cert = self.directory / "server.pem"
        self.server_cert.write_bytes(_pem(server))
        self.server_key = self.directory / "server.key"
        self.server_key.write_bytes(_pem(server_key))
        self.signing_pem = _pem(signing)

    def sign(self, note: dict[str, Any], *, version: str = "2") -> dict[str, Any]:
        """`note` with SignatureVersion and Signature set as SNS sets them."""
        text = "".join(f"{name}\n{note[name]}\n" for name in SIGNED[note["Type"]] if name in note)
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()
        signature = self.signing_key.sign(text.encode(), padding.PKCS1v15(), algorithm)
        return {**note, "SignatureVersion": version,
                "Signature": base64.b64encode(signature).decode()}  # fmt: skip


def ses_notification(
    topic: str, cert_url: str, message: dict[str, Any], *, message_id: str = "sns-1"
) -> dict[str, Any]:
    return {
        "Type": "Notification",
        "MessageId": message_id,
        "TopicArn": topic,
        "Subject": "Amazon SES Email Receipt Notification",
        "Message": json.dumps(message),
        "Timestamp": "2026-12-02T06:00:00.000Z",
        "SigningCertURL": cert_url,
    }
