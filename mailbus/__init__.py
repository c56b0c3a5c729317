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
from mailbus.message import Address, Attachment, InboundMessage
from mailbus.parse import ParseLimits, parse
from mailbus.router import Router

__all__ = [
    "Address",
    "Attachment",
    "ConfigError",
    "DeliveryError",
    "Envelope",
    "HandlerLoadError",
    "InboundMessage",
    "MailbusError",
    "NoRouteError",
    "ParseLimits",
    "Router",
    "StoreError",
    "parse",
]
