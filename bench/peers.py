"""The baseline SMTP servers that mailbus is measured against, each its own subprocess.

`python -m bench.peers --port P` is the bare aiosmtpd server: `loop.create_server` with an
explicit `hostname=` (else aiosmtpd calls `socket.getfqdn()` per connection) and a handler that
does nothing and answers `250 OK`. It runs on uvloop when installed, like the mailbus listener,
and several copies can share a port (SO_REUSEPORT). Postfix's `smtp-sink` and Haraka
(`bench.haraka`) are built here as `Server`s too, or skipped with the reason.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.procs import Server, python_command, python_env

EXTRACTED = Path(__file__).resolve().parent / ".postfix"


class NullHandler:
    """Accepts every message and keeps nothing: the cost of aiosmtpd's protocol alone."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "250 OK"


async def serve_bare(host: str, port: int) -> None:
    from aiosmtpd.smtp import SMTP

    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(NullHandler(), hostname="bench", data_size_limit=33_554_432),
        host,
        port,
        reuse_port=True,
        backlog=1024,
    )
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def bare_servers(port: int, *, processes: int = 1, log: Path | None = None) -> list[Server]:
    """`processes` copies of the bare server on one port (the kernel spreads connections)."""
    name = "bare" if processes == 1 else f"bare-x{processes}"
    return [
        Server(name, python_command("bench.peers", "--port", str(port)), port=port, log=log)
        for _ in range(processes)
    ]


def smtp_sink_binary() -> str | None:
    found = shutil.which("smtp-sink")
    if found:
        return found
    for candidate in ("/usr/sbin/smtp-sink", str(EXTRACTED / "usr" / "sbin" / "smtp-sink")):
        if Path(candidate).exists():
            return candidate
    return None


def extract_smtp_sink(timeout: float = 120.0) -> str:
    """`apt-get download postfix` and unpack it under bench/.postfix: smtp-sink without
    installing Postfix (no daemon, no system configuration). Returns what happened."""
    EXTRACTED.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(["apt-get", "download", "postfix"], cwd=EXTRACTED,
                              capture_output=True, text=True, timeout=timeout)  # fmt: skip
    packages = sorted(EXTRACTED.glob("postfix_*.deb"))
    if download.returncode != 0 or not packages:
        return f"apt-get download postfix failed: {download.stderr.strip()[-300:]}"
    subprocess.run(["dpkg", "-x", str(packages[-1]), str(EXTRACTED)], check=True, timeout=timeout)
    return f"smtp-sink unpacked from {packages[-1].name} into {EXTRACTED}"


def smtp_sink(port: int, *, log: Path | None = None) -> Server | str:
    """Postfix's smtp-sink (a tight C loop that discards), or why it is skipped."""
    binary = smtp_sink_binary()
    if binary is None:
        return (
            "smtp-sink: not installed (apt-get install postfix, or `python -m bench "
            "--fetch-smtp-sink` to unpack it under bench/.postfix)"
        )
    user = ["-u", "nobody"] if os.geteuid() == 0 else []
    command = [binary, *user, "-m", "1000", f"127.0.0.1:{port}", "1024"]
    env = python_env(LD_LIBRARY_PATH=str(EXTRACTED / "usr" / "lib" / "postfix"))
    return Server("smtp-sink", command, port=port, env=env, log=log)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args(argv)
    if args.loop == "uvloop":
        try:
            import uvloop

            uvloop.run(serve_bare(args.host, args.port))
            return 0
        except ImportError:
            pass
    asyncio.run(serve_bare(args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
