"""Delivering one parsed message to the user's handlers: the pure part shared by the worker's job
and by `mailbus.testing`.

`plan` picks the matches (raising NoRouteError when no route and no default takes the message);
`dispatch` calls each handler as `handler(msg, **match.kwargs)`, awaited to completion on the
process's loop when it is `async def` (mailbus.aio); a run whose route's `when=` raised fails
with that exception without calling the handler. Semantics on failure: every
handler that is not already done runs, each success is reported at once, and only then is the
first failure re-raised unchanged (each one was reported to `on_failure`), so a retry runs only
the handlers that failed and one broken handler never starves its siblings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mailbus import aio
from mailbus.errors import NoRouteError
from mailbus.router import Match, Router


@dataclass
class Outcome:
    """What one dispatch did: handlers run, handlers skipped as already done, failures."""

    ran: list[Match] = field(default_factory=list)
    skipped: list[Match] = field(default_factory=list)
    failed: list[tuple[Match, BaseException]] = field(default_factory=list)


def plan(router: Router, recipients: Iterable[str], msg: Any = None) -> list[Match]:
    """The runs for these envelope recipients and this parsed message (the routes' conditions
    are tried on it); NoRouteError names the recipients when none match."""
    recipients = list(recipients)
    matches = router.match(recipients, msg)
    if not matches:
        shown = ", ".join(recipients) or "(no envelope recipients)"
        raise NoRouteError(f"no route matches {shown} and the router has no default route")
    return matches


def dispatch(
    matches: Iterable[Match],
    msg: Any,
    *,
    done: Callable[[Match], bool] | None = None,
    on_success: Callable[[Match], None] | None = None,
    on_failure: Callable[[Match, BaseException], None] | None = None,
    fatal: tuple[type[BaseException], ...] = (),
) -> Outcome:
    """Call every not-yet-done handler; record successes; then re-raise the first failure.

    `done(match)` says a handler already succeeded for this message (a retry or a duplicate
    delivery) so it is skipped; `on_success` is called right after each handler returns, before
    the next one runs, so a crash later in the job does not forget it. Exceptions of the `fatal`
    types (the job's time limit, MemoryError) go to `on_failure` too, then stop the dispatch at
    once: siblings do not run.
    """
    outcome = Outcome()
    for match in matches:
        if done is not None and done(match):
            outcome.skipped.append(match)
            continue
        try:
            if match.error is not None:  # its route's when= raised: this run fails
                raise match.error
            aio.call(match.handler, msg, match.kwargs, fatal=fatal)
        except fatal as exc:  # reported like any failure, but the job ends here
            outcome.failed.append((match, exc))
            if on_failure is not None:
                on_failure(match, exc)
            raise
        except Exception as exc:  # handler errors propagate below, after the siblings ran
            outcome.failed.append((match, exc))
            if on_failure is not None:
                on_failure(match, exc)
            continue
        outcome.ran.append(match)
        if on_success is not None:
            on_success(match)
    if outcome.failed:
        raise outcome.failed[0][1]
    return outcome
