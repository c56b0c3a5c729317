"""mailbus.malloc: large freed buffers go back to the OS instead of staying resident."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import ROOT

# One large block freed raises glibc's mmap threshold; later 1 MB blocks (a message read in
# chunks) then come from the heap, and a small live block above them pins them there.
SCRIPT = """
import sys
from mailbus import malloc
if sys.argv[1] == "on":
    assert malloc.return_big_buffers()
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 >> 20
start = rss()
first = bytes(30 << 20)
del first
keep = []
for _ in range(2):
    parts = [bytes(1 << 20) for _ in range(28)]
    keep.append(bytes(100))
    joined = b"".join(parts)
    del parts, joined
print(rss() - start)
"""


def growth_mib(mode: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    return int(out.strip())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc; glibc's mallopt")
def test_freed_message_buffers_leave_the_process() -> None:
    # Without it this scenario keeps ~56 MiB resident on glibc.
    assert growth_mib("on") < 10
