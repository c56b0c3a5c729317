"""The MAILBUS_AUTH / DNS settings parse as documented and report bad values."""

from __future__ import annotations

import pytest

from mailbus.errors import ConfigError
from mailbus.settings import Settings


def test_defaults() -> None:
    settings = Settings.from_env({}, env_file=None)
    assert (settings.auth, settings.dns_servers) == (True, ())
    assert (settings.dns_timeout, settings.auth_timeout) == (3.0, 10.0)


def test_values() -> None:
    settings = Settings.from_env(
        {"MAILBUS_AUTH": "off", "MAILBUS_DNS_SERVERS": "127.0.0.1:5353, [::1]:53,192.0.2.1"},
        env_file=None,
    )
    assert settings.auth is False
    assert settings.dns_servers == ("127.0.0.1:5353", "[::1]:53", "192.0.2.1")


@pytest.mark.parametrize("servers", ["dns.example", "127.0.0.1:0", "127.0.0.1:x"])
def test_bad_servers_are_reported(servers: str) -> None:
    with pytest.raises(ConfigError, match="MAILBUS_DNS_SERVERS"):
        Settings.from_env({"MAILBUS_DNS_SERVERS": servers}, env_file=None)
