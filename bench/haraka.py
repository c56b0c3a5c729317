"""Haraka as a peer: npm install on first use, a config root per variant, started as a Server.

Two variants run in the same bench: `haraka-discard` (a queue plugin that keeps nothing) and
`haraka-redis` (a queue plugin in bench/haraka/plugins that does MULTI SET raw + RPUSH before
answering 250, against the same private Redis as mailbus). Both run as one Node process (`nodes`
unset), log at WARN, answer rDNS themselves and set `public_ip`, so no DNS or STUN traffic leaves
the machine. Haraka is installed into bench/.haraka/ (gitignored) with the pinned version.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from bench.procs import Server, python_env
from mailbus.redis_server import RedisServer, free_port

VERSION = "3.3.4"
HERE = Path(__file__).resolve().parent
PREFIX = HERE / ".haraka"
PLUGINS = HERE / "haraka" / "plugins"
MODULES = PREFIX / "node_modules"


def install(timeout: float = 300.0) -> Path | str:
    """Haraka's bin/haraka, installing the pinned version on first use; or why it cannot."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        return "haraka: node/npm not installed (apt-get install nodejs npm)"
    entry = MODULES / "Haraka" / "bin" / "haraka"
    installed = MODULES / "Haraka" / "package.json"
    if entry.exists() and f'"version": "{VERSION}"' in installed.read_text():
        return entry
    PREFIX.mkdir(exist_ok=True)
    print(f"installing Haraka {VERSION} into {PREFIX} ...", flush=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--omit=optional", f"Haraka@{VERSION}"],
        cwd=PREFIX, capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    if done.returncode != 0 or not entry.exists():
        return f"haraka: npm install Haraka@{VERSION} failed: {done.stderr.strip()[-300:]}"
    return entry


def config_root(work: Path, name: str, port: int, queue_plugin: str) -> Path:
    root = work / name
    # Haraka's own defaults first (connection.ini etc.), then our few overrides.
    shutil.copytree(MODULES / "Haraka" / "config", root / "config", dirs_exist_ok=True)
    shutil.copytree(PLUGINS, root / "plugins", dirs_exist_ok=True)
    config = root / "config"
    (config / "smtp.ini").write_text(f"listen=127.0.0.1:{port}\npublic_ip=127.0.0.1\n")
    (config / "log.ini").write_text("[main]\nlevel=warn\ntimestamps=false\nformat=default\n")
    (config / "me").write_text("bench\n")
    (config / "plugins").write_text(f"bench_accept\n{queue_plugin}\n")
    return root


def targets(work: Path, *, store: RedisServer) -> list[dict] | str:
    """Keyword arguments for listener_bench.Target, one per Haraka variant; or why skipped."""
    entry = install()
    if isinstance(entry, str):
        return entry
    node = shutil.which("node") or "node"
    found = []
    for name, plugin, redis in (
        ("haraka-discard", "bench_discard", None),
        ("haraka-redis", "bench_redis", store),
    ):
        port = free_port()
        root = config_root(work, name, port, plugin)
        env = python_env(BENCH_REDIS_URL=store.url, BENCH_REDIS_MODULE=str(MODULES / "redis"))
        command = [node, str(entry), "-c", str(root)]
        server = Server(name, command, port=port, env=env, log=work / f"{name}.log")
        found.append({"name": name, "servers": [server], "redis": redis,
                      "count_key": "haraka:queue" if redis else None})  # fmt: skip
    return found
