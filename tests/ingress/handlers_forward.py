"""Routes of the webhook tests: all mail for hook@ goes to the receiver the test started."""

from __future__ import annotations

import os

from mailbus import Router

router = Router()
router.forward(to="hook@example.com", url=os.environ["WEBHOOK_URL"], secret_env="WEBHOOK_SECRET")
