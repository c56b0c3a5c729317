"""The worker bench's ceiling: a plain loop doing GET + stdlib parse + walk, with no framework.

`python -m bench.plainloop --redis-url URL --shard I --shards P` takes every P-th stored raw
message (sorted keys, starting at I), GETs it, parses it with `email.message_from_bytes(raw,
policy=email.policy.default)` and walks every part, decoding each leaf's payload. It prints one
JSON line. A message the stdlib raises on is counted in `errors`, never fatal.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import sys
import time

import redis

from mailbus.stores.redis import NAMESPACE

RAW_PATTERN = NAMESPACE + "raw/*"


def raw_keys(client: redis.Redis) -> list[bytes]:
    return sorted(client.scan_iter(match=RAW_PATTERN, count=1000))


def parse_walk(raw: bytes) -> int:
    """Parse and walk one message; the number of decoded payload bytes (keeps the work live)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    total = 0
    for part in message.walk():
        if not part.is_multipart():
            payload = part.get_payload(decode=True)
            total += len(payload) if isinstance(payload, bytes) else 0
    return total


def run(url: str, shard: int = 0, shards: int = 1, limit: int | None = None) -> dict:
    client = redis.Redis.from_url(url)
    start = time.perf_counter()
    keys = raw_keys(client)[shard::shards][:limit]
    done = errors = decoded = 0
    for key in keys:
        raw = client.get(key)
        if raw is None:
            errors += 1
            continue
        try:
            decoded += parse_walk(bytes(raw))  # type: ignore[arg-type]
        except Exception:  # the stdlib raising on hostile input is part of what it costs
            errors += 1
        done += 1
    seconds = time.perf_counter() - start
    client.close()
    return {"messages": done, "errors": errors, "decoded_bytes": decoded, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.plainloop", description=__doc__)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--shards", type=int, default=1)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.redis_url, args.shard, args.shards)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
