"""The one way tests wait: poll for the event itself, never sleep-then-assert.

A wait's timeout only catches a hang, so it is generous (seconds, at least ten times what the
event normally takes); the failure names what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T],
    what: str = "the condition",
    timeout: float = 20.0,
    *,
    every: float = 0.05,
) -> T:
    """Poll `check` until it returns something truthy, and return that; fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)
