"""mailbus: inbound e-mail as jobs for Python code.

What handler authors use is re-exported here; everything else is internal.
"""

from mailbus.envelope import Envelope
from mailbus.errors import (
    ConfigError,
    DeliveryError,
    HandlerLoadError,
    MailbusError,
    NoRouteError,
    StoreError,
)
from mailbus.router import Router

__all__ = [
    "ConfigError",
    "DeliveryError",
    "Envelope",
    "HandlerLoadError",
    "MailbusError",
    "NoRouteError",
    "Router",
    "StoreError",
]
