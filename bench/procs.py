"""Subprocesses of the benchmark: start a server, wait for its port, measure it, stop it.

Each server runs in its own session (process group) so that stopping it also stops the children
it forked (`mailbus listen --processes 2`, Haraka's launcher). Only processes started here are
ever signalled, by their own process group id.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def python_env(**extra: str) -> dict[str, str]:
    """Our environment minus any MAILBUS_* the developer set, with the repo on PYTHONPATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILBUS_")}
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def wait_port(port: int, *, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def _proc_stats() -> dict[int, tuple[int, float]]:
    """(parent pid, CPU seconds with reaped children) of every process in /proc."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        stats[int(entry.name)] = (int(fields[1]), ticks / CLOCK_TICKS)
    return stats


def _tree(pid: int, stats: dict[int, tuple[int, float]]) -> list[int]:
    found, frontier = [], [pid]
    seen: set[int] = set()
    while frontier:
        current = frontier.pop()
        if current in seen or current not in stats:
            continue
        seen.add(current)
        found.append(current)
        frontier.extend(p for p, (ppid, _) in stats.items() if ppid == current)
    return found


def tree_cpu(pid: int) -> float:
    """CPU seconds (user + system, with reaped children) of `pid` and all its descendants."""
    stats = _proc_stats()
    return sum(stats[p][1] for p in _tree(pid, stats))


def tree_memory(pid: int) -> tuple[int, int]:
    """Resident bytes and open file descriptors of `pid` and all its descendants, summed: what a
    soak watches for leaks. A process that exits while being read counts as zero."""
    rss = fds = 0
    for p in _tree(pid, _proc_stats()):
        try:
            rss += int(Path(f"/proc/{p}/statm").read_text().split()[1]) * PAGE_SIZE
            fds += len(os.listdir(f"/proc/{p}/fd"))
        except OSError:
            continue
    return rss, fds


class Server:
    """One server under test: a command started in its own process group on a known port."""

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        port: int,
        env: Mapping[str, str] | None = None,
        log: Path | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.name, self.command, self.port = name, list(command), port
        self.env = dict(env) if env is not None else python_env()
        self.log, self.cwd = log, cwd
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> Server:
        """Start the command without waiting for its port (a worker pool listens on none)."""
        out = self.log.open("ab") if self.log else subprocess.DEVNULL
        try:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:  # the child keeps its own copy of the descriptor
            if not isinstance(out, int):
                out.close()
        return self

    def start(self, timeout: float = 30.0) -> Server:
        self.spawn()
        assert self.process is not None
        try:
            wait_port(self.port, process=self.process, timeout=timeout)
        except RuntimeError as exc:
            self.stop()
            tail = self.log.read_text()[-2000:] if self.log and self.log.exists() else ""
            raise RuntimeError(f"{self.name}: {exc}\n{tail}") from exc
        return self

    def check_alive(self) -> None:
        """Raise with the log's tail when the server has exited since it started."""
        if self.process is None or self.process.poll() is not None:
            code = None if self.process is None else self.process.returncode
            tail = self.log.read_text()[-1500:] if self.log and self.log.exists() else ""
            raise RuntimeError(f"{self.name} is not running (exit status {code})\n{tail}")

    def cpu(self) -> float:
        return tree_cpu(self.process.pid) if self.process else 0.0

    def stop(self, grace: float = 15.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        try:  # children that outlived their parent, still in the group we created
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def python_command(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
