"""Issue 3 item 5: STARTTLS — upgrade, CVE-2024-34083 regression, misuse, TLS >= 1.2, reload.

Case ids (A01, B14, …) in the docstrings point into docs/threat-model.md.
"""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
import time
import warnings
from pathlib import Path

import pytest
import redis

from listener import tls
from mailbus.logs import fields_of
from tests.conftest import unavailable
from tests.listener.conftest import HOST, Client, Running, stored, wait_for


def make_cert(directory: Path, name: str) -> tuple[str, str]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={name}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        unavailable("the openssl command is needed to make test certificates")
    directory = tmp_path_factory.mktemp("tls")
    make_cert(directory, "first")
    make_cert(directory, "second")
    return directory


@pytest.fixture
def tls_listener(make_listener, certs: Path, tmp_path: Path) -> Running:  # type: ignore[no-untyped-def]
    cert, key = tmp_path / "live.crt", tmp_path / "live.key"
    cert.write_bytes((certs / "first.crt").read_bytes())
    key.write_bytes((certs / "first.key").read_bytes())
    return make_listener(tls_cert=str(cert), tls_key=str(key), tls_handshake_timeout=0.5)  # type: ignore[no-any-return]


def upgrade(client: Client, **options: object) -> None:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for name, value in options.items():
        setattr(context, name, value)
    assert client.buffer == b""
    client.sock = context.wrap_socket(client.sock, server_hostname=HOST)


def test_starttls_upgrade_and_message(tls_listener: Running, real_redis: redis.Redis) -> None:
    client = Client(tls_listener.port)
    assert client.ehlo()[-1] == "250 STARTTLS"
    assert client.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
    upgrade(client)
    assert client.cmd("MAIL FROM:<a@b.test>") == "503 5.5.1 Error: send HELO/EHLO first"
    assert not any("STARTTLS" in line for line in client.ehlo())  # RFC 3207 §4.2
    reply = client.message(b"secret\r\n.\r\n")
    assert reply.startswith("250 2.0.0")
    raw = real_redis.get("mailbus:store:raw/" + reply.rsplit(" ", 1)[1])
    assert isinstance(raw, bytes) and b"with ESMTPS id" in raw
    assert client.cmd("STARTTLS") == "554 5.5.1 Error: TLS already active"  # A24


def test_plaintext_pipelined_after_starttls_is_discarded(tls_listener: Running) -> None:
    """A25 / CVE-2024-34083: the injected MAIL must not survive the handshake."""
    client = Client(tls_listener.port)
    client.ehlo()
    client.send(b"STARTTLS\r\nMAIL FROM:<injected@example.com>\r\n")
    assert client.reply() == "220 2.0.0 Ready to start TLS"
    upgrade(client)
    assert client.cmd("RCPT TO:<b@example.com>") == "503 5.5.1 Error: send HELO/EHLO first"
    client.ehlo()
    assert client.cmd("RCPT TO:<b@example.com>") == "503 5.5.1 Error: need MAIL command"


def test_starttls_misuse(tls_listener: Running, listener: Running) -> None:
    """A24: arguments, and no certificate configured."""
    client = Client(tls_listener.port)
    client.ehlo()
    assert client.cmd("STARTTLS foo") == "501 5.5.4 Syntax: STARTTLS"
    plain = Client(listener.port)
    assert plain.ehlo()[-1] == "250 ENHANCEDSTATUSCODES"
    assert plain.cmd("STARTTLS") == "454 4.7.0 TLS not available due to local problem"


def test_old_tls_versions_are_refused(tls_listener: Running) -> None:
    """E08: TLS 1.2 is the floor."""
    client = Client(tls_listener.port)
    client.ehlo()
    client.cmd("STARTTLS")
    with warnings.catch_warnings(), pytest.raises((ssl.SSLError, ConnectionError)):
        warnings.simplefilter("ignore", DeprecationWarning)  # naming TLSv1_1 warns by itself
        upgrade(client, maximum_version=ssl.TLSVersion.TLSv1_1)
    assert Client(tls_listener.port).ehlo()[0].startswith("250")


def test_stalled_handshake_is_dropped(tls_listener: Running) -> None:
    """A26: no ClientHello after 220 → closed at MAILBUS_TLS_HANDSHAKE_TIMEOUT."""
    client = Client(tls_listener.port)
    client.ehlo()
    client.cmd("STARTTLS")
    started = time.monotonic()
    assert client.is_closed(5)
    assert time.monotonic() - started < 3
    limits = tls_listener.listener.ctx.limits
    assert wait_for(lambda: limits.total == 0 and not tls_listener.listener.ctx.sessions)


def test_certificate_reload(tls_listener: Running, certs: Path, real_redis: redis.Redis) -> None:
    """SIGHUP path: new sessions get the new certificate; a broken one keeps the old."""

    def served() -> bytes:
        client = Client(tls_listener.port)
        client.ehlo()
        client.cmd("STARTTLS")
        upgrade(client)
        return client.sock.getpeercert(binary_form=True) or b""  # type: ignore[attr-defined]

    first = served()
    settings = tls_listener.settings
    assert settings.tls_cert and settings.tls_key
    Path(settings.tls_cert).write_bytes((certs / "second.crt").read_bytes())
    Path(settings.tls_key).write_bytes((certs / "second.key").read_bytes())
    assert tls_listener.listener.reload_tls()
    second = served()
    assert second != first
    Path(settings.tls_cert).write_bytes(b"garbage")
    assert not tls_listener.listener.reload_tls()
    assert served() == second
    assert stored(real_redis)["raw"] == 0


def test_new_tls_sessions_per_client_are_rate_limited(
    make_listener, certs: Path, real_redis: redis.Redis
) -> None:  # type: ignore[no-untyped-def]
    """B12: past the per-client rate STARTTLS gets 454 4.7.0; plaintext delivery still works."""
    server: Running = make_listener(
        tls_cert=str(certs / "first.crt"),
        tls_key=str(certs / "first.key"),
        tls_session_rate_limit=2,
    )
    for _ in range(2):
        client = Client(server.port)
        client.ehlo()
        assert client.cmd("STARTTLS") == "220 2.0.0 Ready to start TLS"
        upgrade(client)
        client.close()
    client = Client(server.port)
    client.ehlo()
    assert client.cmd("STARTTLS") == "454 4.7.0 Error: too many new TLS sessions from 127.0.0.1"
    assert stored(real_redis)["raw"] == 0
    assert client.message(b"plain\r\n.\r\n").startswith("250 2.0.0 Ok: queued as")
    assert server.counters["tls_rate"] == 1


def tls_failures(caplog: pytest.LogCaptureFixture) -> list[dict[str, object]]:
    return [fields_of(r) for r in caplog.records if r.getMessage() == "session.tls_failed"]


def test_a_refused_handshake_logs_the_reason_and_what_the_client_offered(
    tls_listener: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 9 defect 7: a TLS 1.1-only client; the warning names the reason, the versions and
    cipher suites offered and the alert we sent, not just the exception class."""
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    client = Client(tls_listener.port)
    client.ehlo()
    client.cmd("STARTTLS")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # else OpenSSL 3 will not even offer TLS 1.1
    with warnings.catch_warnings(), pytest.raises((ssl.SSLError, ConnectionError)):
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.wrap_socket(client.sock, server_hostname=HOST)
    assert wait_for(lambda: tls_failures(caplog))
    (failure,) = tls_failures(caplog)
    (record,) = [r for r in caplog.records if r.getMessage() == "session.tls_failed"]
    assert record.levelno == logging.WARNING
    assert failure["peer"] == "127.0.0.1"
    assert failure["reason"] == "UNSUPPORTED_PROTOCOL"
    assert "unsupported protocol" in str(failure["error"])
    assert failure["client_versions"] == ["TLSv1.1"]
    assert failure["alert"] == "sent protocol_version"
    ciphers = failure["client_ciphers"]
    assert isinstance(ciphers, list) and "ECDHE-ECDSA-AES128-SHA" in ciphers
    assert str(failure["record"]).startswith("16")  # a TLS handshake record


def test_garbage_after_starttls_logs_what_arrived(
    tls_listener: Running, caplog: pytest.LogCaptureFixture
) -> None:
    """A client that is not speaking TLS after 220: no ClientHello, so the record header and
    OpenSSL's reason are what the log can say."""
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    client = Client(tls_listener.port)
    client.ehlo()
    client.cmd("STARTTLS")
    client.send(b"MAIL FROM:<a@b.test>\r\n")
    assert client.is_closed()
    assert wait_for(lambda: tls_failures(caplog))
    (failure,) = tls_failures(caplog)
    assert failure["reason"] == "WRONG_VERSION_NUMBER"
    assert failure["record"] == b"MAIL ".hex()
    assert "client_versions" not in failure


def test_a_stalled_handshake_logs_a_timeout(
    tls_listener: Running, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="mailbus.listener")
    client = Client(tls_listener.port)
    client.ehlo()
    client.cmd("STARTTLS")
    assert client.is_closed(5)
    assert wait_for(lambda: tls_failures(caplog))
    (failure,) = tls_failures(caplog)
    assert failure["reason"] == "timeout"
    assert set(failure) == {"peer", "reason", "error"}


def client_hello_bytes(**options: object) -> bytes:
    """The ClientHello handshake message Python's own client sends, from a memory BIO."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    for name, value in options.items():
        setattr(context, name, value)
    outgoing = ssl.MemoryBIO()
    client = context.wrap_bio(ssl.MemoryBIO(), outgoing, server_hostname=HOST)
    with pytest.raises(ssl.SSLWantReadError):
        client.do_handshake()
    return outgoing.read()[5:]  # without the record header


def test_client_hello_versions_and_ciphers() -> None:
    hello = client_hello_bytes()
    offered = tls.client_hello(hello)
    assert offered["client_versions"] == ["TLSv1.3", "TLSv1.2"]  # supported_versions extension
    assert offered["client_ciphers"][:1] == ["TLS_AES_256_GCM_SHA384"]
    assert "ECDHE-ECDSA-AES128-GCM-SHA256" in offered["client_ciphers"]
    only12 = tls.client_hello(client_hello_bytes(maximum_version=ssl.TLSVersion.TLSv1_2))
    assert only12["client_versions"] == ["TLSv1.2"]  # legacy_version, no extension
    for cut in range(len(hello)):  # truncated: what it holds, never an exception
        tls.client_hello(hello[:cut])
