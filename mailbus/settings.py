"""The one frozen settings object, read once from the environment (and `.env`) at the entry point.

Every variable is declared once below, with its parser and what it means; `Settings.from_env`
collects *every* bad or missing variable and raises one `ConfigError` listing them all, so a user
fixes the configuration in one round instead of one restart per typo. Values come out typed:
enumerations as Literals, MAILBUS_STORE and MAILBUS_REDIS_WAIT parsed once into value objects
(`StoreLocation`, `RedisWait`, which still read as the text the user wrote).

Only three other places touch `os.environ`, each for a reason of its own:
- `mailbus.metrics.prepare` sets PROMETHEUS_MULTIPROC_DIR, prometheus_client's own variable, so
  the forked children of `--processes N` write their samples where `/metrics` sums them;
- `mailbus dev` (mailbus.cli.dev) hands its environment to the processes it starts, filling in
  development defaults for the MAILBUS_* variables the user left unset;
- a `Router.forward` route reads the secret named by its `secret_env` when it posts, so the
  secret never sits in the handlers' module and a rotated one needs no deploy.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal

from dotenv import dotenv_values

from mailbus import envvalues as values
from mailbus.errors import ConfigError


def _var(
    env: str, parse: Callable[[str], Any], default: Any, meaning: str, *, shown: str | None = None
) -> Any:
    """One variable; `shown` is the README's words for a default that is not a literal value."""
    return field(
        default=default, metadata={"env": env, "parse": parse, "meaning": meaning, "shown": shown}
    )


# What each role cannot run without, and the sentence that tells the user what to set.
REQUIRED = {
    "listen": {
        "domains": "MAILBUS_DOMAINS is not set: the listener refuses to accept mail for every "
        "domain. Set it to the domains you receive mail for, e.g. "
        "MAILBUS_DOMAINS=example.com,*.example.org",
    },
    "worker": {
        "handlers": "MAILBUS_HANDLERS is not set: the worker has no handlers to call. Set it to "
        "your router, e.g. MAILBUS_HANDLERS=myapp.mail:router (or MAILBUS_WEBHOOK_URL to POST "
        "every message to a URL)",
    },
}


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Typed configuration; build it with `Settings.from_env()` and pass it down explicitly."""

    redis_url: str = _var(
        "MAILBUS_REDIS_URL",
        values.redis_url,
        "redis://localhost:6379/0",
        "queue (and raw store when MAILBUS_STORE=redis)",
    )
    store: values.StoreLocation = _var(
        "MAILBUS_STORE",
        values.store,
        values.StoreLocation("redis"),
        "raw + attachment store: redis, s3://bucket/prefix, file:///abs/path",
    )
    host: str = _var("MAILBUS_HOST", values.text, "0.0.0.0", "listen address")
    port: int = _var("MAILBUS_PORT", values.port, 2525, "listen port")
    domains: tuple[str, ...] = _var(
        "MAILBUS_DOMAINS",
        values.domains,
        (),
        "accepted recipient domains, comma separated, *.example.com allowed",
        shown="— (`listen` refuses to start)",
    )
    handlers: str | None = _var(
        "MAILBUS_HANDLERS",
        values.handlers,
        None,
        "package.module:router, the user's router object",
        shown="— (`worker` refuses to start)",
    )
    queue: str = _var("MAILBUS_QUEUE", values.text, "mailbus", "RQ queue name")
    max_message_size: int = _var(
        "MAILBUS_MAX_MESSAGE_SIZE", values.positive_int, 26_214_400, "bytes; advertised with SIZE"
    )
    max_recipients: int = _var(
        "MAILBUS_MAX_RECIPIENTS", values.positive_int, 100, "per transaction; more gets 452 4.5.3"
    )
    recipient_overshoot_limit: int = _var(
        "MAILBUS_RECIPIENT_OVERSHOOT_LIMIT",
        values.non_negative_int,
        1000,
        "recipients over MAILBUS_MAX_RECIPIENTS one session may send (each gets 452 4.5.3) before"
        " each further one also counts as an error",
    )
    timeout: float = _var(
        "MAILBUS_TIMEOUT", values.positive_float, 300.0, "seconds a client may stay silent"
    )
    max_connections: int = _var(
        "MAILBUS_MAX_CONNECTIONS", values.positive_int, 1000, "over it: 421 4.7.0 and close"
    )
    max_connections_per_ip: int = _var(
        "MAILBUS_MAX_CONNECTIONS_PER_IP",
        values.positive_int,
        20,
        "per client IP (IPv6 per /64); over it: 421 4.7.0 and close",
    )
    tls_cert: str | None = _var(
        "MAILBUS_TLS_CERT",
        values.optional_text,
        None,
        "PEM certificate file; when set STARTTLS is offered",
    )
    tls_key: str | None = _var(
        "MAILBUS_TLS_KEY", values.optional_text, None, "PEM private key file"
    )
    metrics_port: int | None = _var(
        "MAILBUS_METRICS_PORT",
        values.optional_port,
        None,
        "when set, Prometheus /metrics, /healthz and /readyz on that port",
    )
    emf_interval: int = _var(
        "MAILBUS_EMF_INTERVAL",
        values.non_negative_int,
        60,
        "seconds between the queue-depth lines (CloudWatch embedded metrics) that one process of "
        "each listener and each worker supervisor prints, for autoscaling; 0 = off",
    )
    hostname: str = _var(
        "MAILBUS_HOSTNAME",
        values.text,
        "",
        "name in the greeting and Received: header",
        shown="this machine's FQDN",
    )
    recipient_check: str = _var(
        "MAILBUS_RECIPIENT_CHECK",
        values.recipient_check,
        "off",
        "check each RCPT: off, router (550 5.1.1 when no route's to= matches and there is no "
        "default route) or package.module:function, a check(address, envelope) returning "
        "True, False (550 5.1.1) or None (450 4.2.0)",
    )
    recipient_check_timeout: float = _var(
        "MAILBUS_RECIPIENT_CHECK_TIMEOUT",
        values.positive_float,
        2.0,
        "seconds a recipient check function may take; then 451 4.4.3",
    )
    recipient_check_cache: float = _var(
        "MAILBUS_RECIPIENT_CHECK_CACHE",
        values.non_negative_float,
        60.0,
        "seconds a recipient check's True/False is cached per address (0: not cached)",
    )
    persist_timeout: float = _var(
        "MAILBUS_PERSIST_TIMEOUT",
        values.positive_float,
        30.0,
        "seconds to store + enqueue a message before answering 451 4.3.0",
    )
    retries: int = _var(
        "MAILBUS_RETRIES", values.non_negative_int, 5, "times a failing handler is retried"
    )
    retry_backoff: tuple[int, ...] = _var(
        "MAILBUS_RETRY_BACKOFF",
        values.backoff,
        (10, 60, 300, 900, 3600),
        "seconds between retries, comma separated; the last repeats",
    )
    job_timeout: int = _var(
        "MAILBUS_JOB_TIMEOUT", values.positive_int, 300, "seconds one message may take in a worker"
    )
    burst_retry_wait: int = _var(
        "MAILBUS_BURST_RETRY_WAIT",
        values.non_negative_int,
        60,
        "seconds `worker --burst` waits for a scheduled retry to fall due; later ones stay "
        "scheduled for the next worker",
    )
    retention: int = _var(
        "MAILBUS_RETENTION",
        values.positive_int,
        30 * 86_400,
        "seconds (30 days) mailbus keeps a message: raw bytes, attachments, status records, the "
        "message index and dead letters, in every store; no other setting keeps them longer",
    )
    dedupe_window: int = _var(
        "MAILBUS_DEDUPE_WINDOW",
        values.positive_int,
        7 * 86_400,
        "seconds in which a sender's re-sent copy of a message reaches handlers only once; also "
        "how long status records live (at most MAILBUS_RETENTION)",
    )
    raw_ttl: int = _var(
        "MAILBUS_REDIS_RAW_TTL",
        values.positive_int,
        0,
        "seconds raw messages and attachments live in Redis with MAILBUS_STORE=redis (at most "
        "MAILBUS_RETENTION; lower it to bound Redis memory)",
        shown="as `MAILBUS_RETENTION`",
    )
    worker_memory_limit: int = _var(
        "MAILBUS_WORKER_MEMORY_LIMIT",
        values.non_negative_int,
        2048,
        "MiB of heap one worker process may use (RLIMIT_DATA); 0 turns the limit off",
    )
    poison_crashes: int = _var(
        "MAILBUS_POISON_CRASHES",
        values.positive_int,
        3,
        "worker deaths while processing one message before it is dead-lettered as poison",
    )
    reconcile_interval: int = _var(
        "MAILBUS_RECONCILE_INTERVAL",
        values.non_negative_int,
        300,
        "seconds between worker sweeps for stored messages without a job (s3/file); 0 = off",
    )
    reconcile_grace: int = _var(
        "MAILBUS_RECONCILE_GRACE",
        values.positive_int,
        600,
        "seconds a stored message must be old before a sweep may enqueue it",
    )
    bare_lf: Literal["accept", "reject"] = _var(
        "MAILBUS_BARE_LF",
        values.choice("accept", "reject"),
        "accept",
        "bare LF/CR in DATA or commands: accept (stored verbatim, flagged) or reject (550 5.5.2)",
    )
    min_data_rate: int = _var(
        "MAILBUS_MIN_DATA_RATE",
        values.positive_int,
        500,
        "bytes/s during DATA; each read extends the deadline by bytes/rate, up to MAILBUS_TIMEOUT",
    )
    soft_error_limit: int = _var(
        "MAILBUS_SOFT_ERROR_LIMIT",
        values.positive_int,
        10,
        "errors per session before replies slow down",
    )
    hard_error_limit: int = _var(
        "MAILBUS_HARD_ERROR_LIMIT",
        values.positive_int,
        20,
        "errors per session; then 421 4.7.0 and close",
    )
    junk_command_limit: int = _var(
        "MAILBUS_JUNK_COMMAND_LIMIT",
        values.positive_int,
        100,
        "NOOP/RSET/VRFY/HELP/EHLO per message before each one counts as an error",
    )
    max_inflight_bytes: int = _var(
        "MAILBUS_MAX_INFLIGHT_BYTES",
        values.positive_int,
        268_435_456,
        "DATA bytes one listener process holds at once; over it: 452 4.3.1",
    )
    proxy_protocol: Literal["off", "v1", "v2"] = _var(
        "MAILBUS_PROXY_PROTOCOL",
        values.choice("off", "v1", "v2"),
        "off",
        "require a PROXY protocol header (from a TCP load balancer) on every connection",
    )
    proxy_trusted: tuple[str, ...] = _var(
        "MAILBUS_PROXY_TRUSTED",
        values.networks,
        ("127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"),
        "networks allowed to send PROXY headers, comma separated",
    )
    shutdown_grace: float = _var(
        "MAILBUS_SHUTDOWN_GRACE",
        values.positive_float,
        20.0,
        "seconds the listener drains on SIGTERM before closing what is left",
    )
    redis_wait: values.RedisWait = _var(
        "MAILBUS_REDIS_WAIT",
        values.redis_wait,
        values.RedisWait(""),
        "before 250: N = WAIT for N replicas, aof = WAITAOF local fsync, aof+N = both",
    )
    allow_address_literals: bool = _var(
        "MAILBUS_ALLOW_ADDRESS_LITERALS",
        values.boolean,
        False,
        "accept recipients like user@[192.0.2.1]",
    )
    tls_handshake_timeout: float = _var(
        "MAILBUS_TLS_HANDSHAKE_TIMEOUT",
        values.positive_float,
        30.0,
        "seconds for a STARTTLS handshake",
    )
    greet_wait: float = _var(
        "MAILBUS_GREET_WAIT",
        values.non_negative_float,
        0.0,
        "seconds to hold the greeting behind a 220- teaser, to catch clients that talk first "
        "(0 = off)",
    )
    greet_action: Literal["drop", "enforce", "ignore"] = _var(
        "MAILBUS_GREET_ACTION",
        values.choice("drop", "enforce", "ignore"),
        "drop",
        "what a client that talked before the greeting gets: drop (521 5.5.1 and close), "
        "enforce (550 5.5.1 on every RCPT) or ignore (logged only)",
    )
    connection_rate_limit: int = _var(
        "MAILBUS_CONNECTION_RATE_LIMIT",
        values.non_negative_int,
        600,
        "new connections per minute per client IP (IPv6 per /64) and process; over it: 421 4.7.0"
        " (0 = off)",
    )
    message_rate_limit: int = _var(
        "MAILBUS_MESSAGE_RATE_LIMIT",
        values.non_negative_int,
        1000,
        "MAIL commands per minute per client IP and process; over it: 450 4.7.1 (0 = off)",
    )
    recipient_rate_limit: int = _var(
        "MAILBUS_RECIPIENT_RATE_LIMIT",
        values.non_negative_int,
        5000,
        "RCPT commands per minute per client IP and process; over it: 450 4.7.1 (0 = off)",
    )
    tls_session_rate_limit: int = _var(
        "MAILBUS_TLS_SESSION_RATE_LIMIT",
        values.non_negative_int,
        300,
        "STARTTLS handshakes per minute per client IP and process; over it: 454 4.7.0 (0 = off)",
    )
    limit_exempt: tuple[str, ...] = _var(
        "MAILBUS_LIMIT_EXEMPT",
        values.networks,
        (),
        "client networks exempt from the per-IP connection count and rate limits, comma separated",
    )
    max_loop_lag: float = _var(
        "MAILBUS_MAX_LOOP_LAG",
        values.non_negative_float,
        0.5,
        "seconds of event-loop lag above which new connections get 421 4.3.2 (0 = off)",
    )
    queue_high_watermark: int = _var(
        "MAILBUS_QUEUE_HIGH_WATERMARK",
        values.non_negative_int,
        100_000,
        "queued jobs above which MAIL gets 452 4.3.1, until below 90 % of it (0 = off)",
    )
    redis_memory_high_watermark: float = _var(
        "MAILBUS_REDIS_MEMORY_HIGH_WATERMARK",
        values.fraction,
        0.8,
        "share of Redis maxmemory in use above which MAIL gets 452 4.3.1, until below 90 % of "
        "it, so Redis never fills up mid-DATA (0 = off; no effect without maxmemory)",
    )
    max_concurrent_persists: int = _var(
        "MAILBUS_MAX_CONCURRENT_PERSISTS",
        values.positive_int,
        64,
        "stores + enqueues one listener process runs at once; waiting counts against"
        " MAILBUS_PERSIST_TIMEOUT",
    )
    ingress_port: int = _var(
        "MAILBUS_INGRESS_PORT", values.port, 8026, "port of `mailbus ingress` (provider webhooks)"
    )
    ses_topics: tuple[str, ...] = _var(
        "MAILBUS_SES_TOPICS",
        values.topic_arns,
        (),
        "SNS topic ARNs whose SES notifications /ingress/ses accepts and whose subscriptions it "
        "confirms, comma separated (none: the endpoint is off)",
    )
    sns_cert_endpoint: str | None = _var(
        "MAILBUS_SNS_CERT_ENDPOINT",
        values.https_origin,
        None,
        "https origin to fetch SNS signing certificates and confirmations from instead of the "
        "SNS host named in the message (that host is still checked); for private endpoints",
    )
    mailgun_signing_key: str | None = _var(
        "MAILBUS_MAILGUN_SIGNING_KEY",
        values.optional_text,
        None,
        "Mailgun webhook signing key that /ingress/mailgun verifies (none: the endpoint is off)",
    )
    postmark_auth: str | None = _var(
        "MAILBUS_POSTMARK_AUTH",
        values.credentials,
        None,
        "user:password that Postmark sends to /ingress/postmark (none: the endpoint is off)",
    )
    sendgrid_auth: str | None = _var(
        "MAILBUS_SENDGRID_AUTH",
        values.credentials,
        None,
        "user:password that SendGrid sends to /ingress/sendgrid (none: the endpoint is off)",
    )
    webhook_url: str | None = _var(
        "MAILBUS_WEBHOOK_URL",
        values.optional_text,
        None,
        "POST every message to this URL as signed JSON (a catch-all route beside the handlers)",
    )
    webhook_secret: str | None = _var(
        "MAILBUS_WEBHOOK_SECRET",
        values.optional_text,
        None,
        "key of the catch-all webhook's Mailbus-Signature (HMAC-SHA256)",
    )
    webhook_timeout: float = _var(
        "MAILBUS_WEBHOOK_TIMEOUT",
        values.positive_float,
        10.0,
        "seconds a webhook receiver has to answer; past it the route fails and is retried",
    )
    webhook_inline_max: int = _var(
        "MAILBUS_WEBHOOK_INLINE_MAX",
        values.non_negative_int,
        1_000_000,
        "bytes of attachments a webhook carries inline (base64), in total; the rest by storage key",
    )
    console_host: str = _var(
        "MAILBUS_CONSOLE_HOST",
        values.text,
        "127.0.0.1",
        "web console address; beyond loopback it needs MAILBUS_CONSOLE_TOKEN to start",
    )
    console_port: int = _var("MAILBUS_CONSOLE_PORT", values.port, 8025, "web console port")
    console_token: str | None = _var(
        "MAILBUS_CONSOLE_TOKEN",
        values.optional_text,
        None,
        "secret for the web console: a bearer token, or typed once into its login form",
    )
    console_readonly: bool = _var(
        "MAILBUS_CONSOLE_READONLY",
        values.boolean,
        False,
        "the web console shows everything but cannot requeue",
    )
    auth: bool = _var(
        "MAILBUS_AUTH",
        values.boolean,
        True,
        "on: workers compute SPF, DKIM, DMARC, ARC and iprev verdicts (msg.auth) before dispatch",
    )
    dns_servers: tuple[str, ...] = _var(
        "MAILBUS_DNS_SERVERS",
        values.dns_servers,
        (),
        "DNS servers for the verdicts, comma separated host[:port] (default: the system's)",
    )
    dns_timeout: float = _var(
        "MAILBUS_DNS_TIMEOUT", values.positive_float, 3.0, "seconds one DNS query may take"
    )
    auth_timeout: float = _var(
        "MAILBUS_AUTH_TIMEOUT",
        values.positive_float,
        10.0,
        "seconds of DNS one message's verdicts may take; checks left after it are temperror",
    )
    log_level: Literal["debug", "info", "warning", "error"] = _var(
        "MAILBUS_LOG_LEVEL",
        values.choice("debug", "info", "warning", "error"),
        "info",
        "minimum level of the JSON log lines",
    )

    def __post_init__(self) -> None:
        """Settings built in code (tests, `replace`) get the same parsed values as from_env, and
        MAILBUS_RETENTION bounds every other lifetime: the Redis raw TTL defaults to it (0 stands
        for "not set") and neither it nor the dedupe window may exceed it."""
        for name, parse in (("store", values.StoreLocation), ("redis_wait", values.RedisWait)):
            value = getattr(self, name)
            if type(value) is str:
                object.__setattr__(self, name, parse(value))
        raw_ttl = min(self.raw_ttl or self.retention, self.retention)
        object.__setattr__(self, "raw_ttl", raw_ttl)
        object.__setattr__(self, "dedupe_window", min(self.dedupe_window, self.retention))

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        env_file: str | os.PathLike[str] | None = ".env",
        role: str | None = None,
    ) -> Settings:
        """Read every variable, then raise one ConfigError naming every problem found."""
        source: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            source.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
        source.update(os.environ if environ is None else environ)

        values: dict[str, Any] = {}
        problems: list[str] = []
        invalid: set[str] = set()
        for f in fields(cls):
            name = f.metadata["env"]
            raw = source.get(name)
            if raw is None or raw.strip() == "":
                continue
            try:
                values[f.name] = f.metadata["parse"](raw)
            except ValueError as exc:
                invalid.add(f.name)
                problems.append(f"{name}={raw!r} is invalid: {exc}")
        for attr, message in REQUIRED.get(role or "", {}).items():
            if not values.get(attr) and attr not in invalid and not _satisfied(attr, values):
                problems.append(message)
        settings = cls(**values)
        problems.extend(settings._cross_checks())
        if problems:
            raise ConfigError(problems)
        if not settings.hostname:
            settings = replace(settings, hostname=socket.getfqdn())
        return settings

    def _cross_checks(self) -> list[str]:
        problems = []
        if bool(self.tls_cert) != bool(self.tls_key):
            problems.append(
                "MAILBUS_TLS_CERT and MAILBUS_TLS_KEY must be set together to offer STARTTLS"
            )
        if self.recipient_check == "router" and not self.handlers and not self.webhook_url:
            problems.append("MAILBUS_RECIPIENT_CHECK=router needs MAILBUS_HANDLERS, the router "
                            "whose routes say which addresses exist")  # fmt: skip
        return problems

    def replace(self, **changes: Any) -> Settings:
        """A copy with CLI flags applied (flags override the environment)."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _satisfied(attr: str, values: dict[str, Any]) -> bool:
    """A worker needs handlers, or the catch-all webhook instead."""
    return attr == "handlers" and bool(values.get("webhook_url"))


def variables() -> list[tuple[str, str, str]]:
    """(variable, default as the README shows it, meaning) for every setting, in declaration
    order: the rows of the README's configuration table."""
    rows = []
    for f in fields(Settings):
        default = f.default
        shown = f.metadata["shown"] or ("—" if default in (None, "", ()) else f"`{_text(default)}`")
        rows.append((f.metadata["env"], shown, f.metadata["meaning"]))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(map(_text, value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown_table() -> str:
    """The README's configuration table (`mailbus config --markdown`), generated so it cannot
    drift from the declarations above."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {shown} | {meaning} |" for name, shown, meaning in variables()]
    return "\n".join(lines)
