"""Parsers that turn one environment variable's text into a typed value.

Each raises ValueError with a message that says what is expected; `Settings.from_env` prefixes it
with the variable's name and collects every such problem into one ConfigError.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Literal
from urllib.parse import urlsplit


def whole_number(value: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ValueError("must be a whole number") from None


def number_of(value: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise ValueError("must be a number") from None


def text(value: str) -> str:
    return value.strip()


def optional_text(value: str) -> str | None:
    return value.strip() or None


def positive_int(value: str) -> int:
    number = whole_number(value)
    if number <= 0:
        raise ValueError("must be a positive integer")
    return number


def non_negative_int(value: str) -> int:
    number = whole_number(value)
    if number < 0:
        raise ValueError("must be zero or a positive integer")
    return number


def optional_port(value: str) -> int | None:
    return port(value) if value.strip() else None


def port(value: str) -> int:
    number = whole_number(value)
    if not 0 <= number <= 65535:
        raise ValueError("must be a TCP port between 0 and 65535")
    return number


def positive_float(value: str) -> float:
    number = number_of(value)
    if number <= 0:
        raise ValueError("must be a positive number of seconds")
    return number


def domains(value: str) -> tuple[str, ...]:
    domains = tuple(d.strip().lower().rstrip(".") for d in value.split(",") if d.strip())
    for domain in domains:
        bare = domain.removeprefix("*.")
        if not bare or "*" in bare or "@" in domain or " " in domain:
            raise ValueError(f"{domain!r} is not a domain or a '*.domain' wildcard")
    return domains


def backoff(value: str) -> tuple[int, ...]:
    steps = tuple(non_negative_int(step) for step in value.split(",") if step.strip())
    if not steps:
        raise ValueError("must list at least one delay in seconds, e.g. 10,60,300")
    return steps


class StoreLocation(str):
    """MAILBUS_STORE parsed once: still the text the user wrote (it prints, compares and goes into
    logs as such), with its parts read off: `kind` (redis, s3, file), `bucket` and `prefix` for
    S3, `path` for a directory."""

    kind: Literal["redis", "s3", "file"]
    bucket: str
    prefix: str
    path: str

    def __new__(cls, value: str) -> StoreLocation:
        text = value.strip()
        location = super().__new__(cls, text)
        parts = urlsplit(text)
        location.bucket = location.prefix = location.path = ""
        if text == "redis":
            location.kind = "redis"
        elif parts.scheme == "s3" and parts.netloc:
            location.kind, location.bucket = "s3", parts.netloc
            location.prefix = parts.path.strip("/")
        elif parts.scheme == "file" and parts.path.startswith("/") and not parts.netloc:
            location.kind, location.path = "file", parts.path
        else:
            raise ValueError("must be 'redis', 's3://bucket/prefix' or 'file:///absolute/path'")
        return location


def store(value: str) -> StoreLocation:
    return StoreLocation(value)


def redis_url(value: str) -> str:
    value = value.strip()
    if urlsplit(value).scheme not in ("redis", "rediss", "unix"):
        raise ValueError("must be a redis://, rediss:// or unix:// URL")
    return value


def handlers(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    module, sep, attr = value.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise ValueError("must look like 'package.module:router'")
    return value


def recipient_check(value: str) -> str:
    value = value.strip()
    if value.lower() in ("off", "router"):
        return value.lower()
    module, sep, attr = value.partition(":")
    if not sep or not module or not attr.isidentifier():
        raise ValueError("must be off, router or 'package.module:function'")
    return value


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        value = value.strip().lower()
        if value not in allowed:
            raise ValueError("must be one of " + ", ".join(allowed))
        return value

    return parse


def non_negative_float(value: str) -> float:
    number = number_of(value)
    if number < 0:
        raise ValueError("must be zero or a positive number of seconds")
    return number


def fraction(value: str) -> float:
    number = number_of(value)
    if not 0 <= number <= 1:
        raise ValueError("must be a fraction between 0 and 1 (0.8 = 80 %)")
    return number


def boolean(value: str) -> bool:
    value = value.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def networks(value: str) -> tuple[str, ...]:
    nets = tuple(n.strip() for n in value.split(",") if n.strip())
    for net in nets:
        ipaddress.ip_network(net, strict=False)
    return nets


def dns_servers(value: str) -> tuple[str, ...]:
    """`host[:port]` list (IPv6 bare or as `[addr]:port`); '' = the system's resolvers."""
    servers = tuple(s.strip() for s in value.split(",") if s.strip())
    for server in servers:
        host, port = server, "53"
        if server.startswith("["):
            host, _, rest = server[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif server.count(":") == 1:
            host, _, port = server.partition(":")
        ipaddress.ip_address(host)
        if not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server!r}: the port must be 1-65535")
    return servers


class RedisWait(str):
    """MAILBUS_REDIS_WAIT parsed once: '' (off), 'N' (WAIT for N replicas), 'aof' or 'aof+N'
    (WAITAOF: the local AOF fsync, plus N replicas). False when off."""

    aof: bool
    replicas: int

    def __new__(cls, value: str) -> RedisWait:
        text = value.strip().lower()
        text = "" if text in ("0", "off") else text
        count = text.removeprefix("aof").removeprefix("+")
        aof = text.startswith("aof")
        if not (text == "" or text.isdigit() or (aof and (not count or count.isdigit()))):
            raise ValueError("must be N (replicas), 'aof' or 'aof+N'")
        wait = super().__new__(cls, text)
        wait.aof, wait.replicas = aof, int(count or 0)
        return wait


def redis_wait(value: str) -> RedisWait:
    return RedisWait(value)


def topic_arns(value: str) -> tuple[str, ...]:
    arns = tuple(a.strip() for a in value.split(",") if a.strip())
    for arn in arns:
        if not arn.startswith("arn:") or arn.count(":") < 5:
            raise ValueError(f"{arn!r} is not an SNS topic ARN (arn:aws:sns:REGION:ACCOUNT:NAME)")
    return arns


def credentials(value: str) -> str | None:
    """'user:password' for HTTP basic auth."""
    value = value.strip()
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise ValueError("must be user:password")
    return value


def https_origin(value: str) -> str | None:
    value = value.strip().rstrip("/")
    if not value:
        return None
    parts = urlsplit(value)
    if parts.scheme != "https" or not parts.netloc or parts.path:
        raise ValueError("must be an https:// origin such as https://127.0.0.1:8443")
    return value
