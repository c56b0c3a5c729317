"""The listener's Prometheus metrics: connections, sessions, messages, rejections, bytes, persist.

Defined once per process; with MAILBUS_METRICS_PORT set the CLI has switched prometheus_client to
multiprocess mode first, so `--processes N` children add up in one `/metrics`. Gauges use
`livesum`: a dead child's connections and bytes drop out of the sum.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CONNECTIONS = Gauge(
    "mailbus_listener_connections_active", "SMTP connections open now", multiprocess_mode="livesum"
)
SESSIONS = Counter(
    "mailbus_listener_sessions", "SMTP sessions ended, by how they ended", ["outcome"]
)
MESSAGES = Counter(
    "mailbus_listener_messages",
    "DATA phases completed: accepted (250), rejected (5xx/452) or failed (451)",
    ["outcome"],
)
REJECTIONS = Counter(
    "mailbus_listener_rejections", "Refused connections, commands and messages", ["reason"]
)
BYTES = Counter("mailbus_listener_bytes", "DATA bytes received")
PERSIST_SECONDS = Histogram(
    "mailbus_listener_persist_seconds",
    "Time to store the raw message and enqueue its job",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
INFLIGHT_BYTES = Gauge(
    "mailbus_listener_inflight_bytes",
    "DATA bytes held in memory by sessions now",
    multiprocess_mode="livesum",
)
INGRESS_REQUESTS = Counter(
    "mailbus_ingress_requests",
    "Provider webhook requests to `mailbus ingress`, by provider and HTTP status",
    ["provider", "status"],
)
