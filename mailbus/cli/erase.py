"""`mailbus erase`: print what erasing an address or one message removes, then remove it."""

from __future__ import annotations

import sys

from mailbus.connections import redis_connection
from mailbus.erase import erase, find
from mailbus.settings import Settings
from mailbus.stores import open_store


def erase_now(
    settings: Settings, *, address: str | None, message_id: str | None, dry_run: bool
) -> int:
    connection = redis_connection(settings.redis_url)
    store = open_store(settings.store, connection, raw_ttl=settings.raw_ttl)

    def progress(count: int) -> None:
        print(f"mailbus erase: read {count} stored message(s)…", file=sys.stderr, flush=True)

    if address is not None:
        ids = find(connection, store, settings, address, progress=progress)
    else:
        ids = [message_id] if message_id else []
    erased, attachments = erase(connection, store, ids, dry_run=dry_run, progress=progress)
    verb = "would erase" if dry_run else "erased"
    found = [entry for entry in erased if entry.keys or entry.records]
    for entry in found:
        print(f"{verb} {entry.message_id}: {' '.join([*entry.keys, *entry.records])}")
    for key in attachments:
        print(f"{verb} {key}")
    print(f"{verb} {len(found)} message(s) and {len(attachments)} attachment(s)"
          + (" (dry run: nothing removed)" if dry_run else ""))  # fmt: skip
    if message_id and not found:
        print(f"mailbus erase: no message {message_id} is stored", file=sys.stderr)
        return 1
    return 0
