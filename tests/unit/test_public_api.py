"""The public surface is small and pinned: changing it is a decision, not an accident."""

import mailbus


def test_exported_names() -> None:
    assert mailbus.__all__ == [
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
    for name in mailbus.__all__:
        assert getattr(mailbus, name).__module__.startswith("mailbus")
