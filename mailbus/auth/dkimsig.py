"""DKIM (RFC 6376) by dkimpy, one verdict per signature, keys fetched through our resolver.

dkimpy answers True/False and logs the why; we need the RFC 8601 result, so the key lookup goes
through `KeyFetcher` (which remembers a temporary DNS failure and a revoked key) and dkimpy's
exceptions are sorted into `permerror` (malformed signature or key) and `fail` (expired, or a
signature that does not verify). At most `MAX_SIGNATURES` are evaluated; headers above
`MAX_SIGNATURE_BYTES` are `permerror` without any crypto, so hostile mail stays cheap.
"""

from __future__ import annotations

import logging
import re

import dkim
from dkim.canonicalization import CanonicalizationPolicy
from dkim.util import InvalidTagValueList, parse_tag_value

from mailbus.auth.resolver import OK, Budget, DnsTempError, Resolver, valid_name
from mailbus.auth.results import DkimResult

MAX_SIGNATURES = 10
MAX_SIGNATURE_BYTES = 16_384
QUIET = logging.getLogger("mailbus.auth.dkimpy")  # dkimpy logs every failure at ERROR level
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


class KeyFetcher:
    """dkimpy's `dnsfunc`: TXT by name through our resolver, noting what a bool cannot say."""

    def __init__(self, resolver: Resolver, budget: Budget) -> None:
        self.resolver = resolver
        self.budget = budget
        self.temporary = ""
        self.revoked = False
        self.missing = False

    def __call__(self, name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        self.temporary, self.revoked, self.missing = "", False, False
        if not valid_name(text.rstrip(".")):
            self.missing = True
            return None
        try:
            answer = self.resolver.query(text, "TXT", self.budget)
        except DnsTempError as exc:
            self.temporary = str(exc)
            raise dkim.DnsTimeoutError(str(exc)) from None
        if answer.status != OK or not answer.records:
            self.missing = True
            return None
        records = answer.texts()
        record = records[0]
        if re.search(rb"(^|;)\s*p\s*=\s*(;|$)", record):
            self.revoked = True
        return record


def check_dkim(
    raw: bytes, resolver: Resolver, budget: Budget, limits_hit: list[str]
) -> list[DkimResult]:
    """One result per DKIM-Signature, top first; [] when the message carries none."""
    try:
        verifier = dkim.DKIM(raw, logger=QUIET, minkey=1024)
    except Exception:  # unparseable header block: nothing can be verified
        return [DkimResult("permerror", reason="message headers cannot be parsed")]
    values = [v for n, v in verifier.headers if n.lower() == b"dkim-signature"]
    if len(values) > MAX_SIGNATURES:
        limits_hit.append(
            f"dkim: {len(values)} signatures, only the first {MAX_SIGNATURES} evaluated"
        )
    results = []
    for idx, value in enumerate(values[:MAX_SIGNATURES]):
        tags = _tags(value)
        if budget.spent():
            results.append(_result("temperror", tags, "authentication time budget spent"))
            continue
        if len(value) > MAX_SIGNATURE_BYTES:
            results.append(_result("permerror", tags, "signature header too large"))
            continue
        if b"l" in tags:
            length = tags[b"l"]
            if length.isdigit() and int(length) > _canonical_body_length(verifier, tags):
                results.append(_result("permerror", tags, "l= is longer than the body"))
                continue
        results.append(_verify_one(verifier, idx, tags, resolver, budget))
    return results


def _verify_one(
    verifier: dkim.DKIM, idx: int, tags: dict[bytes, bytes], resolver: Resolver, budget: Budget
) -> DkimResult:
    """One signature; `verifier` is reused (dkimpy resets its per-signature state each call)."""
    fetch = KeyFetcher(resolver, budget)
    try:
        ok = verifier.verify(idx=idx, dnsfunc=fetch)
    except dkim.ValidationError as exc:
        text = str(exc)
        if "x= value is past" in text:
            return _result("fail", tags, "signature expired")
        if "body hash mismatch" in text:
            return _result("fail", tags, "body hash did not verify")
        return _result("permerror", tags, printable(text))
    except Exception as exc:  # dkimpy raises many kinds on hostile input; all are permanent
        return _result("permerror", tags, printable(f"{type(exc).__name__}: {exc}"))
    if ok:
        return _result("pass", tags, "")
    if fetch.temporary:
        return _result("temperror", tags, printable(f"key lookup: {fetch.temporary}"))
    if fetch.revoked:
        return _result("fail", tags, "key revoked")
    if fetch.missing:
        return _result("permerror", tags, "no key published for selector")
    return _result("fail", tags, "signature did not verify")


def _canonical_body_length(verifier: dkim.DKIM, tags: dict[bytes, bytes]) -> int:
    try:
        policy = CanonicalizationPolicy.from_c_value(tags.get(b"c", b"simple/simple"))
        return len(policy.canonicalize_body(verifier.body))
    except Exception:
        return -1


def _tags(value: bytes) -> dict[bytes, bytes]:
    try:
        return parse_tag_value(value[:MAX_SIGNATURE_BYTES])  # type: ignore[no-any-return]
    except (InvalidTagValueList, ValueError, KeyError):
        return {}


def _result(result: str, tags: dict[bytes, bytes], reason: str) -> DkimResult:
    def text(tag: bytes) -> str:
        return tags.get(tag, b"").decode("utf-8", "replace")[:255]

    return DkimResult(result, text(b"d").lower(), text(b"s"), text(b"a").lower(), reason)


def printable(text: str, limit: int = 200) -> str:
    """Text from hostile input made safe for a reason field: printable, bounded."""
    if not text.isprintable():  # (the usual case skips the per-character pass: same text)
        text = "".join(c if c.isprintable() else " " for c in text)
    return text[:limit]
