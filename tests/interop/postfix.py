"""A private Postfix instance on loopback that relays everything it is given to mailbus.

It is the machine's own Postfix binaries with a configuration directory of our own (queue, data
and log in a temporary directory, its smtpd on a free loopback port), started with `postfix -c DIR
start` and stopped the same way and then by its master's pid: the system's Postfix is never used.
Its SMTP client speaks to mailbus as Postfix does to any MX: STARTTLS when offered (`may`),
pipelining, BODY=8BITMIME and SMTPUTF8 when the message needs them, SIZE, and at most
`smtp_destination_recipient_limit` (50) recipients per delivery. The `bulk` transport sends up to
1000 recipients in one transaction; mail for bulk.example.com takes it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import smtplib
import subprocess
import tempfile
import time
from pathlib import Path

from mailbus.redis_server import free_port

MASTER_CF = """\
{smtpd} inet n - n - - smtpd
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
smtp      unix  - - n -     - smtp
relay     unix  - - n -     - smtp
bulk      unix  - - n -     - smtp
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {root}/queue
data_directory = {root}/data
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.test
mydomain = relay.test
myorigin = relay.test
mydestination =
alias_maps =
alias_database =
local_transport = error:no local delivery here
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
message_size_limit = 40000000
relayhost = [127.0.0.1]:{relay_port}
transport_maps = inline:{{bulk.example.com=bulk:[127.0.0.1]:{relay_port}}}
bulk_destination_recipient_limit = 1000
smtp_tls_security_level = may
smtp_tls_loglevel = 1
smtputf8_enable = yes
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
"""

QUEUED = re.compile(r"queued as ([0-9A-F]+)")


def available() -> bool:
    return os.access("/usr/sbin/postfix", os.X_OK)


class Postfix:
    """One private instance; `submit` hands it a message over SMTP and returns the queue id."""

    def __init__(self, relay_port: int) -> None:
        # Postfix's daemons run as the `postfix` user and must reach the queue: a directory in
        # /tmp (world-traversable), not in pytest's private tmp tree or a private TMPDIR.
        self.root = Path(tempfile.mkdtemp(prefix="mailbus-postfix-", dir="/tmp"))
        self.root.chmod(0o755)
        self.config = self.root / "conf"
        self.config.mkdir()
        (self.root / "queue").mkdir()
        self.port = free_port()
        (self.config / "main.cf").write_text(MAIN_CF.format(root=self.root, relay_port=relay_port))
        (self.config / "master.cf").write_text(MASTER_CF.format(smtpd=f"127.0.0.1:{self.port}"))
        self.maillog = self.root / "maillog"

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A Postfix command on this instance (`-c` is accepted by root for any directory)."""
        binary, *rest = args
        return subprocess.run(
            [f"/usr/sbin/{binary}", "-c", str(self.config), *rest],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def start(self) -> Postfix:
        started = self.command("postfix", "start")
        deadline = time.monotonic() + 20
        while started.returncode == 0 and time.monotonic() < deadline:
            try:
                with smtplib.SMTP("127.0.0.1", self.port, timeout=5) as smtp:
                    smtp.noop()
                return self
            except OSError:
                time.sleep(0.1)
        log = self.log()
        self.stop()
        raise RuntimeError(f"postfix did not start on {self.port}: {started.stderr}{log}")

    def master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self) -> None:
        """`postfix stop`, then SIGKILL to the master if it lingers; the directory goes too."""
        pid = self.master_pid()
        self.command("postfix", "stop")
        deadline = time.monotonic() + 10
        while pid is not None and _running(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is not None and _running(pid):
            os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)

    def submit(
        self, raw: bytes, mail_from: str, to: list[str], options: tuple[str, ...] = ()
    ) -> str:
        """Hand a message to Postfix's smtpd, as a mail client would; returns its queue id."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=60) as smtp:
            smtp.ehlo("client.test")
            code, reply = smtp.mail(mail_from, list(options))
            assert code == 250, reply
            for rcpt in to:
                code, reply = smtp.rcpt(rcpt)
                assert code == 250, reply
            code, reply = smtp.data(raw)
            assert code == 250, reply
        found = QUEUED.search(reply.decode())
        assert found, reply
        return found.group(1)

    def flush(self) -> None:
        """Retry every deferred message now (`postqueue -f`)."""
        self.command("postqueue", "-f")

    def delete(self, queue_id: str) -> None:
        self.command("postsuper", "-d", queue_id)

    def log(self) -> str:
        return self.maillog.read_text(errors="replace") if self.maillog.exists() else ""

    def wait_for_log(self, pattern: str, timeout: float = 30.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.log())
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} in the Postfix log after {timeout} s:\n{self.log()}")

    def __enter__(self) -> Postfix:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _running(pid: int) -> bool:
    """Alive and not a zombie (the daemonised master may have no parent that reaps it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
