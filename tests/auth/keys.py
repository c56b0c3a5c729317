"""Fresh DKIM keys and signing helpers for the tests; the crypto is dkimpy's and cryptography's."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from unittest import mock

import dkim
import nacl.encoding
import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.auth.dnsserver import Zones


@dataclass(frozen=True)
class Key:
    algorithm: bytes  # rsa-sha256 or ed25519-sha256
    private: bytes  # what dkim.sign takes
    record: str  # the TXT record that publishes the public key


def rsa_key(bits: int = 2048) -> Key:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Key(b"rsa-sha256", private, "v=DKIM1; k=rsa; p=" + base64.b64encode(public).decode())


def ed25519_key() -> Key:
    signing = nacl.signing.SigningKey.generate()
    private = signing.encode(encoder=nacl.encoding.Base64Encoder)
    public = signing.verify_key.encode(encoder=nacl.encoding.Base64Encoder).decode()
    return Key(b"ed25519-sha256", private, f"v=DKIM1; k=ed25519; p={public}")


def publish(zones: Zones, key: Key, selector: str, domain: str) -> None:
    """The key record, split in 255-octet strings as DNS requires."""
    record = key.record
    zones.txt(
        f"{selector}._domainkey.{domain}", [record[i : i + 255] for i in range(0, len(record), 255)]
    )


def sign(raw: bytes, key: Key, selector: str, domain: str, **options: object) -> bytes:
    """`raw` with a DKIM-Signature prepended."""
    header = dkim.sign(raw, selector.encode(), domain.encode(), key.private,
                       signature_algorithm=key.algorithm, **options)  # fmt: skip
    return bytes(header) + raw


def sign_expired(raw: bytes, key: Key, selector: str, domain: str, *, ago: int) -> bytes:
    """A signature with t= and x= `ago` seconds in the past (dkimpy's sign() has no x= option)."""
    signer = dkim.DKIM(raw, signature_algorithm=key.algorithm)
    original = dkim.DKIM.gen_header

    def with_expiry(self: dkim.DKIM, fields: list, *args: object, **kw: object) -> bytes:
        now = int(fields[[f[0] for f in fields].index(b"t")][1])
        fields = [(b"t", str(now - ago - 3600).encode()) if f[0] == b"t" else f for f in fields]
        fields.insert(-3, (b"x", str(now - ago).encode()))
        return original(self, fields, *args, **kw)

    with mock.patch.object(dkim.DKIM, "gen_header", with_expiry):
        header = signer.sign(selector.encode(), domain.encode(), key.private)
    return bytes(header) + raw


def arc_seal(raw: bytes, key: Key, selector: str, domain: str, authserv_id: str, cv: str) -> bytes:
    """One more ARC set, as hop `authserv_id` would add it after its own checks said arc=`cv`."""
    raw = f"Authentication-Results: {authserv_id}; arc={cv}\r\n".encode() + raw
    signed = [b"from", b"subject", b"to"]
    headers = dkim.arc_sign(raw, selector.encode(), domain.encode(), key.private,
                            authserv_id.encode(), include_headers=signed)  # fmt: skip
    return b"".join(headers) + raw
