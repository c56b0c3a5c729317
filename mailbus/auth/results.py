"""The typed verdicts handed to handlers as `msg.auth`, and their JSON round trip.

Frozen dataclasses so a handler cannot alter a verdict by accident; `to_dict`/`from_dict` let
the worker store the verdicts computed at a message's first attempt and reload them on every
retry or requeue, so a DNS change later never flips them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SpfResult:
    """RFC 7208 verdict for `domain`; `scope` is `mailfrom`, or `helo` for the null sender."""

    result: str = "none"
    domain: str = ""
    scope: str = "mailfrom"
    explanation: str = ""


@dataclass(frozen=True)
class DkimResult:
    """RFC 6376 verdict for one DKIM-Signature; `reason` says why it is not `pass`."""

    result: str = "none"
    domain: str = ""
    selector: str = ""
    algorithm: str = ""
    reason: str = ""


@dataclass(frozen=True)
class DmarcResult:
    """RFC 7489 verdict for the `From:` domain; `policy` is the one that applies (p=, sp=, np=)."""

    result: str = "none"
    domain: str = ""
    org_domain: str = ""
    policy: str = ""
    spf_aligned: bool = False
    dkim_aligned: bool = False


@dataclass(frozen=True)
class ArcResult:
    """RFC 8617 chain validation: `none` (no ARC sets), `pass` or `fail` with a `reason`."""

    result: str = "none"
    chain_length: int = 0
    reason: str = ""


@dataclass(frozen=True)
class IprevResult:
    """RFC 8601 §3 iprev: does the client IP's PTR name resolve back to it? `hostname` if so.

    `none` only in the empty `AuthResults()` (verdicts not computed, e.g. MAILBUS_AUTH=off)."""

    result: str = "none"
    hostname: str = ""


@dataclass(frozen=True)
class AuthResults:
    """Every verdict for one message, plus the `Authentication-Results` value we would add.

    `AuthResults()` (every result `none`, `header` empty) means nothing was computed.
    `ignored_headers` are incoming Authentication-Results values that claimed our authserv-id
    (RFC 8601 §5: ignored, reported as a defect); `limits_hit` names limits that cut work short.
    """

    spf: SpfResult = field(default_factory=SpfResult)
    dkim: list[DkimResult] = field(default_factory=list)
    dmarc: DmarcResult = field(default_factory=DmarcResult)
    arc: ArcResult = field(default_factory=ArcResult)
    iprev: IprevResult = field(default_factory=IprevResult)
    header: str = ""
    ignored_headers: list[str] = field(default_factory=list)
    limits_hit: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON primitives only, the shape `from_dict` reads back. Built field by field: the
        verdicts are flat, and `dataclasses.asdict` (deep copies) cost as much as a DNS check."""
        return {
            "spf": dict(vars(self.spf)),
            "dkim": [dict(vars(d)) for d in self.dkim],
            "dmarc": dict(vars(self.dmarc)),
            "arc": dict(vars(self.arc)),
            "iprev": dict(vars(self.iprev)),
            "header": self.header,
            "ignored_headers": list(self.ignored_headers),
            "limits_hit": list(self.limits_hit),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuthResults:
        """Rebuild the verdicts stored at the first attempt; unknown keys are ignored."""
        return cls(
            spf=_build(SpfResult, data.get("spf")),
            dkim=[_build(DkimResult, d) for d in data.get("dkim") or []],
            dmarc=_build(DmarcResult, data.get("dmarc")),
            arc=_build(ArcResult, data.get("arc")),
            iprev=_build(IprevResult, data.get("iprev")),
            header=str(data.get("header", "")),
            ignored_headers=list(data.get("ignored_headers") or []),
            limits_hit=list(data.get("limits_hit") or []),
        )


def _build(kind: Any, data: dict[str, Any] | None) -> Any:
    known = kind.__dataclass_fields__
    return kind(**{k: v for k, v in (data or {}).items() if k in known})
