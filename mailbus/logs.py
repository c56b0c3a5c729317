"""Logging as one JSON object per line on stdout, so every event can be found by message id.

Call `configure()` once at the entry point; then `log_event(logger, "message.queued", id=...)`
writes `{"ts": ..., "level": "info", "logger": ..., "event": "message.queued", "id": ...}`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_FIELDS = "mailbus_fields"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        line.update(getattr(record, _FIELDS, {}))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str = "info") -> None:
    """Route every logger (ours, RQ's, aiosmtpd's) through one JSON handler on stdout."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.Formatter.converter = time.gmtime


def log_event(
    logger: logging.Logger, event: str, *, level: int = logging.INFO, **fields: Any
) -> None:
    """Log `event` with structured fields (message id, peer, reply code...)."""
    exc_info = fields.pop("exc_info", None)
    logger.log(level, event, extra={_FIELDS: fields}, exc_info=exc_info)


def escape(value: Any, limit: int = 100) -> str:
    """Attacker-controlled text (HELO, addresses, command lines) for a log field: C-style escapes
    for anything unprintable, then cut to `limit` characters, as Postfix's postscreen logs it."""
    text = value if isinstance(value, str) else str(value)
    return text.encode("unicode_escape", "backslashreplace").decode("ascii")[:limit]


def fields_of(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields a record will be written with (for filters that add to them)."""
    return dict(getattr(record, _FIELDS, None) or {})


def add_fields(record: logging.LogRecord, **fields: Any) -> None:
    """Add fields to a record of any logger (RQ's, aiosmtpd's) before it is written."""
    setattr(record, _FIELDS, {**fields_of(record), **fields})
