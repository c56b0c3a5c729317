"""A handler for the parse end-to-end tests: writes the whole parsed message as one JSON line.

The test compares that line with what `mailbus.testing.deliver` makes of the same bytes, so the
worker path and the test helper are checked field by field.
"""

from __future__ import annotations

import json
import os

from mailbus import InboundMessage, Router

router = Router()


@router.route(to="*@example.com")
def dump(msg: InboundMessage) -> None:
    with open(os.environ["E2E_OUTPUT"], "a", encoding="utf-8") as out:
        out.write(json.dumps(msg.to_dict()) + "\n")
