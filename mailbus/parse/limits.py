"""Parse budgets: the caps in `ParseLimits`, and the per-call `Budget` that spends them.

Hostile MIME (deep nesting, part fan-out, header bombs) must cost bounded time and memory, so every
loop in the parser asks the budget before doing more work. A cap that triggers is named once in
`limits_hit`, recorded as a defect, and parsing goes on with what it already has.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mailbus.message import Defect


@dataclass(frozen=True)
class ParseLimits:
    """Caps for one `parse` call; the defaults follow Haraka and Postfix where they have one."""

    max_parts: int = 1000
    max_depth: int = 50
    max_header_bytes: int = 1024 * 1024
    max_header_count: int = 10_000
    max_header_field_bytes: int = 64 * 1024
    max_params: int = 100
    max_addresses: int = 10_240
    max_seconds: float = 10.0
    max_tnef_bytes: int = 50 * 1024 * 1024


@dataclass
class Budget:
    """Mutable state of one parse: limits, deadline, part count, and what went wrong so far."""

    limits: ParseLimits
    deadline: float = 0.0
    parts: int = 0
    """How many parts the walk has made so far (the part cap is shared by all nesting levels)."""
    defects: list[Defect] = field(default_factory=list)
    limits_hit: list[str] = field(default_factory=list)
    charsets: tuple[str, ...] = ()
    """The codecs the message declares (parts, encoded words), once the walk has found them: the
    first guesses for 8-bit text that declares none."""
    header_codecs: tuple[str, ...] = ()
    """Codecs for raw 8-bit header and parameter text, ranked over all such text of the message
    together (a few bytes alone guess wrong)."""

    def __post_init__(self) -> None:
        self.deadline = time.monotonic() + self.limits.max_seconds

    def defect(self, part: str, kind: str, detail: str = "") -> None:
        """Record a defect; identical ones are kept once so a bomb cannot grow the list."""
        item = Defect(part, kind, detail[:200])
        if len(self.defects) < 1000 and item not in self.defects[-20:]:
            self.defects.append(item)

    def hit(self, name: str, part: str = "", detail: str = "") -> None:
        """Record that cap `name` triggered (once per parse)."""
        if name not in self.limits_hit:
            self.limits_hit.append(name)
            self.defect(part, f"{name}_limit", detail)

    def out_of_time(self) -> bool:
        """True once the deadline has passed; records the `time` limit the first time."""
        if time.monotonic() > self.deadline:
            self.hit("time")
            return True
        return False
