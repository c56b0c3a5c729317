"""Serving the console with uvicorn, after refusing an address that others can reach while no
MAILBUS_CONSOLE_TOKEN protects it."""

from __future__ import annotations

import ipaddress
import logging

import uvicorn

from console.app import create_app
from mailbus.errors import ConfigError
from mailbus.logs import log_event
from mailbus.settings import Settings

log = logging.getLogger("mailbus.console")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name that may resolve anywhere


def check_exposure(settings: Settings) -> None:
    if not settings.console_token and not is_loopback(settings.console_host):
        raise ConfigError(
            [
                f"MAILBUS_CONSOLE_HOST={settings.console_host} is not a loopback address and "
                "MAILBUS_CONSOLE_TOKEN is not set: the console shows every message to whoever "
                "reaches it. Set MAILBUS_CONSOLE_TOKEN to a long random secret, or listen on "
                "127.0.0.1"
            ]
        )


def serve(settings: Settings) -> int:
    check_exposure(settings)
    app = create_app(settings)
    log_event(log, "console.listening", host=settings.console_host, port=settings.console_port,
              readonly=settings.console_readonly, token=bool(settings.console_token))  # fmt: skip
    uvicorn.run(
        app,
        host=settings.console_host,
        port=settings.console_port,
        log_level="warning",
        access_log=False,
        server_header=False,
        proxy_headers=False,
    )
    return 0
