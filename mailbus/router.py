"""The decorator router: which of the user's handlers get a message, chosen by envelope recipient
and the route's conditions on the message (mailbus.conditions), in registration order up to the
first matching route with `stop=True`.

A route whose `to=` captures values runs once per distinct set of captures among the recipients
(`reply+41@…` and `reply+42@…` are two runs), each its own completion record (`Match.key`).
Routes are globs (`support@example.com`, `*@help.example.com`, `reply+{ticket}@example.com` with
`{name}` captured) or compiled regexes whose named groups become keyword arguments. Domains are
compared in their canonical form (mailbus.domains): a route for `info@bücher.example` takes mail
to `info@xn--bcher-kva.example` and the other way round; a regex also gets a recipient's Unicode
form when its A-label form does not match. Decorators return the function unchanged, so handlers
stay plain functions that tests call directly. A handler that cannot be called as
`handler(msg, **captures)` is refused when it is registered, so a worker fails at start
(importing the router), never at the first mail.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from mailbus.conditions import Conditions
from mailbus.domains import canonical_address, unicode_address
from mailbus.errors import HandlerLoadError
from mailbus.globs import compile_glob

Handler = TypeVar("Handler", bound=Callable[..., Any])
_ANY = re.compile("")


def handler_name(handler: Callable[..., Any]) -> str:
    """A stable name for a handler: the key of its completion record across retries."""
    return f"{handler.__module__}.{getattr(handler, '__qualname__', repr(handler))}"


def check_handler(handler: Callable[..., Any], captures: Iterable[str]) -> None:
    """Refuse a handler the dispatch could not call as `handler(msg, **captures)`, naming it."""
    if not callable(handler):
        raise HandlerLoadError(
            f"{handler!r} is not callable: a handler is a function of the message"
        )
    name = handler_name(handler)
    if inspect.isgeneratorfunction(handler) or inspect.isasyncgenfunction(handler):
        raise HandlerLoadError(
            f"handler {name} is a generator function, so its body would never run: "
            "make it a plain def or async def"
        )
    try:
        signature = inspect.signature(handler)
    except (TypeError, ValueError):  # some builtins have none: nothing to check
        return
    captures = list(captures)
    try:
        signature.bind(None, **dict.fromkeys(captures, ""))
    except TypeError as exc:
        shown = "".join(f", {capture}=..." for capture in captures)
        raise HandlerLoadError(
            f"handler {name} cannot be called as {name.rsplit('.', 1)[-1]}(msg{shown}), "
            f"which is how its route calls it: {exc}"
        ) from None


@dataclass(frozen=True)
class Route:
    """One registration: the recipient pattern (None: any recipient), the handler, the
    conditions on the message, and whether a match stops the routes after it."""

    pattern: re.Pattern[str] | None
    handler: Callable[..., Any]
    regex: bool = False  # the user's own regex (not a glob): also tried on the Unicode form
    conditions: Conditions = field(default_factory=Conditions)
    stop: bool = False
    glob: str | None = None  # `to=` as the user wrote it, when a glob

    @property
    def name(self) -> str:
        return handler_name(self.handler)

    def recipient_match(self, canonical: str) -> re.Match[str] | None:
        """The match of this route's `to=` on one canonical address (None: it does not match)."""
        if self.pattern is None:
            return _ANY.fullmatch("")
        found = self.pattern.fullmatch(canonical)
        if found is None and self.regex and (unicode := unicode_address(canonical)):
            found = self.pattern.fullmatch(unicode)
        return found

    def runs(self, forms: list[tuple[str, str]]) -> list[tuple[str | None, dict[str, str]]]:
        """(recipient, captures) for each distinct set of captures among the recipients, in
        recipient order; one run, for the first matching recipient, when nothing is captured."""
        runs: dict[tuple[tuple[str, str], ...], tuple[str | None, dict[str, str]]] = {}
        if self.pattern is None:
            return [(forms[0][0] if forms else None, {})]
        for recipient, canonical in forms:
            found = self.recipient_match(canonical)
            if found is None:
                continue
            kwargs = {k: v for k, v in found.groupdict().items() if v is not None}
            if not self.pattern.groupindex:
                return [(recipient, kwargs)]
            runs.setdefault(tuple(sorted(kwargs.items())), (recipient, kwargs))
        return list(runs.values())

    def describe(self) -> str:
        """`to=… sender=… stop=True`, as `mailbus routes` prints it."""
        to = f"/{self.pattern.pattern}/" if self.pattern is not None and self.regex else None
        shown = [f"to={to or repr(self.glob or '*')}", *self.conditions.shown]
        return " ".join([*shown, *(["stop=True"] if self.stop else [])])


@dataclass(frozen=True)
class Match:
    """One run of a handler for a message: the recipient that chose it and its captures.

    `error` is what the route's `when=` raised: the run fails like a raising handler."""

    handler: Callable[..., Any]
    recipient: str | None
    kwargs: dict[str, str]
    error: BaseException | None = field(default=None, compare=False)

    @property
    def name(self) -> str:
        return handler_name(self.handler)

    @property
    def key(self) -> str:
        """The run's name, the key of its completion record: the handler's name, with the
        captures when its route captured any (one record per recipient's capture set)."""
        if not self.kwargs:
            return self.name
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(self.kwargs.items()))
        return f"{self.name}({shown})"


class Router:
    """Collects routes; `match` picks the runs whose routes match a message, in order."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self.default_handler: Callable[..., Any] | None = None

    def route(
        self,
        *,
        to: str | re.Pattern[str] | None = None,
        sender: str | re.Pattern[str] | None = None,
        from_: str | re.Pattern[str] | None = None,
        subject: str | re.Pattern[str] | None = None,
        header: Mapping[str, str | re.Pattern[str]] | None = None,
        when: Callable[[Any], Any] | None = None,
        stop: bool = False,
    ) -> Callable[[Handler], Handler]:
        """Register a handler for mail to `to` (any recipient when None) that meets every
        condition (mailbus.conditions); with `stop`, no later route runs when this one matches.
        The same function under the same conditions twice is refused: it would run twice."""
        regex = isinstance(to, re.Pattern)
        pattern = to if isinstance(to, re.Pattern) else None if to is None else compile_glob(to)
        conditions = Conditions.build(
            sender=sender, from_=from_, subject=subject, header=header, when=when
        )

        def register(handler: Handler) -> Handler:
            check_handler(handler, pattern.groupindex if pattern is not None else ())
            route = Route(
                pattern, handler, regex, conditions, stop, to if isinstance(to, str) else None
            )
            for other in self.routes:
                if (other.handler, other.pattern, other.conditions) == (
                    handler, pattern, conditions
                ):  # fmt: skip
                    raise HandlerLoadError(
                        f"handler {route.name} is registered twice with {route.describe()}: "
                        "remove one of the decorators"
                    )
            self.routes.append(route)
            return handler

        return register

    def forward(
        self,
        *,
        to: str | re.Pattern[str],
        url: str,
        **options: Any,
    ) -> None:
        """Route matching mail to a signed JSON webhook instead of a function: a receiver that
        does not answer 2xx fails the route like a raising handler (retried, then dead-lettered).
        `options` are `mailbus.webhooks.forwarder`'s: secret_env, format, timeout, inline_max.
        """
        from mailbus.webhooks import forwarder

        self.route(to=to)(forwarder(url, **options))

    def default(self, handler: Handler) -> Handler:
        """Receives messages that no route takes (instead of the dead-letter registry)."""
        check_handler(handler, ())
        self.default_handler = handler
        return handler

    def match(self, recipients: Iterable[str], msg: Any = None) -> list[Match]:
        """The runs for a message, in registration order, up to the first matching route with
        `stop`; the default when none match. A route with conditions needs `msg` (the parsed
        message) to match; one function with the same captures runs once."""
        forms = [(recipient, canonical_address(recipient)) for recipient in recipients]
        matches: list[Match] = []
        planned: set[tuple[Callable[..., Any], tuple[tuple[str, str], ...]]] = set()
        for route in self.routes:
            runs = route.runs(forms)
            if not runs or (route.conditions and msg is None):
                continue
            error = None
            if route.conditions:
                try:
                    if not route.conditions.holds(msg):
                        continue
                except Exception as exc:  # the run fails (and is retried), never the worker
                    error = exc
            for recipient, kwargs in runs:
                run = (route.handler, tuple(sorted(kwargs.items())))
                if run not in planned:
                    planned.add(run)
                    matches.append(Match(route.handler, recipient, kwargs, error))
            if route.stop:
                break
        if not matches and self.default_handler is not None:
            matches.append(Match(self.default_handler, None, {}))
        return matches

    def accepts(self, address: str) -> bool:
        """Whether mail to `address` could be handled: the router has a default route, or the
        `to=` of some route matches it (its other conditions need the message, so they are not
        asked). The listener's recipient check in `router` mode."""
        if self.default_handler is not None:
            return True
        canonical = canonical_address(address)
        return any(route.recipient_match(canonical) for route in self.routes)


def load_router(path: str) -> Router:
    """Import `package.module:attribute` and check it is a Router; fail with the path named."""
    module_name, _, attribute = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise HandlerLoadError(
            f"MAILBUS_HANDLERS={path!r}: cannot import module {module_name!r}: "
            f"{type(exc).__name__}: {exc}"
        ) from exc
    router = getattr(module, attribute, None)
    if not isinstance(router, Router):
        found = "nothing" if router is None else type(router).__name__
        raise HandlerLoadError(
            f"MAILBUS_HANDLERS={path!r}: {module_name}.{attribute} is {found}, not a "
            "mailbus.Router; point it at the object made with Router()"
        )
    return router
