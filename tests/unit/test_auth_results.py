"""AuthResults.to_dict: the JSON shape kept in the ledger and read back by every retry."""

from __future__ import annotations

import json
from dataclasses import asdict

from mailbus.auth import ArcResult, AuthResults, DkimResult, DmarcResult, IprevResult, SpfResult


def test_to_dict_is_the_dataclass_shape_and_round_trips() -> None:
    results = AuthResults(
        spf=SpfResult("pass", "example.org", "mailfrom", "matched ip4"),
        dkim=[DkimResult("pass", "example.org", "s1", "rsa-sha256"), DkimResult("fail")],
        dmarc=DmarcResult("pass", "example.org", "example.org", "reject", True, False),
        arc=ArcResult("fail", 2, "seal did not verify"),
        iprev=IprevResult("pass", "mx.example.org"),
        header="mx; spf=pass",
        ignored_headers=["mx; dkim=pass"],
        limits_hit=["dkim: 11 signatures"],
    )
    data = results.to_dict()
    assert data == asdict(results)
    assert AuthResults.from_dict(json.loads(json.dumps(data))) == results
    assert (
        data["dkim"][0] is not data["dkim"][1]
        and data["ignored_headers"] is not results.ignored_headers
    )
