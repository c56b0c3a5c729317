"""S3 object expiry that mailbus sets itself: a bucket lifecycle rule for the store's prefix.

S3 deletes objects by age only through the bucket's lifecycle configuration, so the worker
supervisor makes sure, at start, that some enabled rule expires everything under the store's
prefix within MAILBUS_RETENTION (rounded up to whole days, the rule's unit). A rule that already
does (Terraform's `expire-mail`, or one an operator wrote) is left alone, so mailbus and Terraform
never fight over the configuration; otherwise mailbus adds or updates its own rule, keeping every
other rule. Objects a dead letter still needs are renewed by the retention sweep
(mailbus.retention), which restarts their age.
"""

from __future__ import annotations

import math
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from mailbus.errors import StoreError
from mailbus.stores.s3 import S3Store

RULE_ID = "mailbus-retention"


def expiry_days(retention: int) -> int:
    """MAILBUS_RETENTION seconds as lifecycle days (at least one)."""
    return max(1, math.ceil(retention / 86_400))


def ensure_expiry(store: S3Store, retention: int) -> str:
    """Make the bucket expire the store's objects within `retention`; return what was done:
    "present" (a rule already covers it), "added" or "updated" (mailbus's own rule)."""
    days = expiry_days(retention)
    rules = _rules(store)
    if any(_covers(rule, store.prefix, days) for rule in rules):
        return "present"
    own = f"{RULE_ID}:{store.prefix}" if store.prefix else RULE_ID
    kept = [rule for rule in rules if rule.get("ID") != own]
    rule = {
        "ID": own,
        "Status": "Enabled",
        "Filter": {"Prefix": store.prefix},
        "Expiration": {"Days": days},
    }
    try:
        store.client.put_bucket_lifecycle_configuration(
            Bucket=store.bucket, LifecycleConfiguration={"Rules": [*kept, rule]}
        )
    except (BotoCoreError, ClientError) as exc:
        raise StoreError(f"s3 store: cannot set the bucket's expiry rule: {exc}") from exc
    return "updated" if len(kept) < len(rules) else "added"


def _rules(store: S3Store) -> list[dict[str, Any]]:
    try:
        answer = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchLifecycleConfiguration":
            return []
        raise StoreError(f"s3 store: cannot read the bucket's lifecycle rules: {exc}") from exc
    except BotoCoreError as exc:
        raise StoreError(f"s3 store: cannot read the bucket's lifecycle rules: {exc}") from exc
    return list(answer.get("Rules", []))


def _covers(rule: dict[str, Any], prefix: str, days: int) -> bool:
    """An enabled rule that expires every object under `prefix` within `days` (no tag or size
    filter that would leave some objects out)."""
    if rule.get("Status") != "Enabled":
        return False
    expires = rule.get("Expiration", {}).get("Days")
    if expires is None or expires > days:
        return False
    scope = rule.get("Filter", {"Prefix": rule.get("Prefix", "")})
    if set(scope) - {"Prefix"}:
        return False
    return prefix.startswith(scope.get("Prefix", ""))
