"""multipart/form-data read into bytes, bounded: Mailgun and SendGrid post the raw MIME as a
plain form field, and it must reach the store byte for byte (a text decoder would replace the
8-bit bytes of a message that is not UTF-8)."""

from __future__ import annotations

from python_multipart.multipart import MultipartParser, parse_options_header

from listener.http.providers import Refused

MAX_PARTS = 64  # providers send about twenty fields; more is not a provider


def parse_form(content_type: str, body: bytes) -> dict[str, bytes]:
    """Field name → bytes (the first of repeated names); Refused(400) when it is not a form."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise Refused(400, "expected multipart/form-data")
    fields: dict[str, bytes] = {}
    state: dict[str, bytes | bytearray] = {"name": b"", "header": b"", "value": bytearray()}
    headers: dict[bytes, bytes] = {}
    count = 0

    def on_part_begin() -> None:
        nonlocal count
        count += 1
        if count > MAX_PARTS:
            raise Refused(400, f"more than {MAX_PARTS} form parts")
        headers.clear()
        state["value"] = bytearray()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header"] = bytes(state["header"]) + data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        name = bytes(state["header"]).lower()
        headers[name] = headers.get(name, b"") + data[start:end]

    def on_header_end() -> None:
        state["header"] = b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        value = state["value"]
        assert isinstance(value, bytearray)
        value += data[start:end]

    def on_part_end() -> None:
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        if name and name not in fields:
            fields[name] = bytes(state["value"])

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        parser.write(body)
        parser.finalize()
    except Refused:
        raise
    except Exception as exc:  # the parser's own errors: malformed, not ours
        raise Refused(400, f"malformed multipart body: {type(exc).__name__}") from None
    return fields
