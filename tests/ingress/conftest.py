"""Fixtures of the ingress tests: the test PKI, an HTTPS server standing in for the SNS host
(it serves the signing certificate and takes subscription confirmations), and `mailbus ingress`
as a subprocess."""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import MailbusProcess
from tests.ingress.pki import Pki

CERT_PATH = "/SimpleNotificationService-0123456789abcdef.pem"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


class SnsHost:
    """What the stand-in SNS host was asked for, and its https origin."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.requests: list[str] = []


@pytest.fixture(scope="session")
def sns_host(pki: Pki) -> Iterator[SnsHost]:
    host = SnsHost("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            host.requests.append(self.path)
            body = pki.signing_pem if self.path == CERT_PATH else b"<ConfirmSubscriptionResponse/>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    host.origin = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield host
    server.shutdown()
    server.server_close()


class IngressProcess(MailbusProcess):
    """`mailbus ingress` on MAILBUS_INGRESS_PORT, logging beside E2E_OUTPUT."""

    def __init__(self, env: dict[str, str]) -> None:
        port = int(env["MAILBUS_INGRESS_PORT"])
        self.url = f"http://127.0.0.1:{port}"
        log = Path(env["E2E_OUTPUT"]).with_suffix(".ingress.log")
        super().__init__(env, log, "ingress", port=port)
