"""`mailbus dev`: the whole pipeline on a laptop with one command and nothing to install.

It starts a private Redis-compatible server (a real engine, see `mailbus.redis_server`), then a
listener, the workers and the web console (on 127.0.0.1:8025) as child processes exactly as
production runs them, with a file store under `./.mailbus/`. With `--reload` the workers restart
when a `.py` file of the handlers' package changes (a worker that fails to import them waits for
the next change). Ctrl-C stops the children gracefully, then the server.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from mailbus.cli.reload import Watcher, handler_sources
from mailbus.redis_server import RedisServer
from mailbus.settings import Settings

DEFAULT_DOMAINS = "example.com,*.example.com,localhost"
EXAMPLE_HANDLERS = "mailbus.examples:router"


def run_dev(
    *, port: int, workers: int, directory: str, console_port: int = 8025, reload: bool = False
) -> int:
    base = Settings.from_env()
    root = Path(directory).resolve()
    server = RedisServer(root / "redis").start()
    env = {
        **os.environ,
        "MAILBUS_REDIS_URL": server.url,
        "MAILBUS_STORE": f"file://{root / 'store'}",
        "MAILBUS_HOST": "127.0.0.1",
        "MAILBUS_PORT": str(port),
        "MAILBUS_DOMAINS": ",".join(base.domains) or DEFAULT_DOMAINS,
        "MAILBUS_HANDLERS": base.handlers or EXAMPLE_HANDLERS,
        "MAILBUS_RETRY_BACKOFF": os.environ.get("MAILBUS_RETRY_BACKOFF", "2,10,30"),
        "MAILBUS_LOG_LEVEL": os.environ.get("MAILBUS_LOG_LEVEL", "warning"),
        "MAILBUS_EMF_INTERVAL": os.environ.get("MAILBUS_EMF_INTERVAL", "0"),
        "MAILBUS_CONSOLE_HOST": "127.0.0.1",
        "MAILBUS_CONSOLE_PORT": str(console_port),
    }
    print(
        f"mailbus dev: SMTP on 127.0.0.1:{port} for {env['MAILBUS_DOMAINS']}\n"
        f"  redis    {server.url} ({Path(server.binary).name}, data in {server.directory})\n"
        f"  store    {root / 'store'}\n"
        f"  handlers {env['MAILBUS_HANDLERS']}\n"
        f"  console  http://127.0.0.1:{console_port}\n"
        f"Try: mailbus send message.eml --to someone@example.com   (Ctrl-C stops everything)",
        flush=True,
    )
    command = [sys.executable, "-m", "mailbus"]
    watcher = _watcher(env["MAILBUS_HANDLERS"]) if reload else None

    def start_workers() -> subprocess.Popen[bytes]:
        return subprocess.Popen([*command, "worker", "--processes", str(workers)], env=env)

    children = [
        subprocess.Popen([*command, "listen"], env=env),
        start_workers(),
        subprocess.Popen([*command, "console"], env=env),
    ]
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        while children[0].poll() is None and children[2].poll() is None:
            if children[1].poll() is not None and watcher is None:
                break
            time.sleep(0.2)
            if watcher is not None and (changed := watcher.changed()) is not None:
                _stop([children[1]])
                print(f"mailbus dev: {changed} changed; restarting the workers", flush=True)
                children[1] = start_workers()
        print("mailbus dev: a process exited; stopping the others", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nmailbus dev: stopping", flush=True)
        return 0
    finally:
        _stop(children)
        server.stop()


def _watcher(handlers: str) -> Watcher:
    """Watch the handlers' package; a worker that exits (a syntax error) waits for the fix."""
    paths = handler_sources(handlers)
    if paths:
        shown = ", ".join(str(path) for path in paths)
        print(f"  reload   when a .py file changes in {shown}", flush=True)
    else:
        print(f"mailbus dev: cannot find the package of {handlers}: nothing to watch",
              file=sys.stderr)  # fmt: skip
    return Watcher(paths)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _stop(children: list[subprocess.Popen[bytes]], grace: float = 25.0) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
