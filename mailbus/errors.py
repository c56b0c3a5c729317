"""The one exception root of mailbus, so callers can catch everything we raise with one clause.

MailbusError
├── ConfigError          bad or missing configuration, reported all at once at start-up
├── HandlerLoadError     MAILBUS_HANDLERS does not name a Router, or a handler cannot take
│                        its route's arguments
├── StoreError           the raw/attachment store failed (down, denied, missing key)
│   └── NotFound         the key does not exist
├── DeliveryError        a message could not be delivered to handlers
│   ├── NoRouteError     no route matched and the router has no default
│   └── ParseFailure     the message could not be turned into an InboundMessage at all
└── WebhookError         a webhook receiver did not take a message (a handler failure: retried)
"""

from __future__ import annotations


class MailbusError(Exception):
    """Root of every exception mailbus raises on purpose."""


class ConfigError(MailbusError):
    """Configuration is missing or invalid; the message lists every problem found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration:\n  - " + "\n  - ".join(self.problems))


class HandlerLoadError(MailbusError):
    """MAILBUS_HANDLERS could not be imported or is not a Router, or a handler registered on it
    cannot be called as `handler(msg, **captures)`."""


class StoreError(MailbusError):
    """A store operation failed; the listener answers 451 and the worker retries."""


class NotFound(StoreError):
    """The requested key is not in the store."""


class DeliveryError(MailbusError):
    """A message cannot be delivered; these go to the dead-letter registry without retries."""


class NoRouteError(DeliveryError):
    """No route matched any envelope recipient and the router has no default route."""


class ParseFailure(DeliveryError):
    """The raw message could not be parsed at all (mailbus.parse itself never raises)."""


class WebhookError(MailbusError):
    """A webhook receiver answered non-2xx, timed out or could not be reached; raised in the
    forwarding handler, so the message is retried like any handler failure."""
